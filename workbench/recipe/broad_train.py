"""CTC training with an auxiliary frame-level phoneme loss, over a growing broad data folder.

The model is a plain ``Wav2Vec2ForCTC`` (the wav2vec2-base-960h vocabulary); next to it, and
never exported, a linear head reads one transformer layer's output and is trained to give
every 20 ms frame its Kokoro phoneme (:mod:`.frames`).  Loss = CTC + ``aux_weight`` x frame
cross-entropy (frames of espeak-ng speech, which has no spans, are ignored by the second)
+ ``silence_weight`` x blank on the CTC head where Kokoro says nothing is spoken
(:func:`.frames.silence_loss`).

Batches are drawn per step, not per epoch: source by ``weights``, then a run of neighbours in
length order from a seeded position, so a step's batch follows from (seed, step, rows loaded).
The manifests are re-read every ``reload_every`` steps, so training starts on the first block
of data and takes in new blocks as the generator writes them.  Every ``save_every`` steps the
whole state goes to ``<run>/broad/checkpoint.pt`` (atomically); every ``eval_every`` steps the
model is decoded greedily on the held-out sets, and the best one (lowest CER on the development
set ``datasets/kokoro-dev``, :data:`SELECT_ON`) is exported to ``<run>/broad/best/w2v2-tiny-ctc``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .build import VOCAB, save_model
from .frames import IGNORE, N_CLASSES, batch_with_targets, silence_loss
from .train import _save_checkpoint, _text_to_labels, load_checkpoint

SOURCES = ("kokoro", "splice", "espeak")
HELD_OUT = ("kokoro-eval", "kokoro-prose", "kokoro-dev")  # scored at every evaluation
#: The sets whose mean CER picks the exported best step: the development set, never a reported one
#: (runs 1-3, before it existed, picked on the mean of kokoro-eval and kokoro-prose).
SELECT_ON = ("kokoro-dev",)


@dataclass
class BroadConfig:
    steps: int = 6000
    batch_size: int = 8
    max_batch_seconds: float = 32.0
    lr: float = 5e-4
    warmup: int = 150
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    seed: int = 0
    aux_weight: float = 0.5
    #: steps over which the auxiliary loss's weight ramps up from 0 (a fresh phoneme head on a trained
    #: model: AdamW still trains the head at full speed, while its random gradients barely reach the model)
    aux_ramp: int = 0
    aux_layer: int = -1  # hidden_states index the phoneme head reads (-1: the last layer, as lm_head)
    silence_weight: float = 0.0  # x frames.silence_loss: blank on the CTC head where nothing is spoken
    weights: dict = field(default_factory=lambda: {"kokoro": 0.45, "splice": 0.3, "espeak": 0.25})
    speed_perturb: float = 0.05
    pad_augment: float = 0.3
    concat_augment: float = 0.1
    freeze_feature_encoder: bool = False
    save_every: int = 100
    log_every: int = 25
    eval_every: int = 250
    reload_every: int = 100
    max_minutes: float | None = None
    #: True: ``max_minutes`` is the run's length, not a pause: the learning rate decays over that time
    #: (or ``steps``, whichever ends first) and the run ends with an evaluation (:mod:`.device_train`)
    time_budget: bool = False
    threads: int | None = 2
    # SpecAugment (None: the checkpoint's own config); read by the model at every training step
    mask_time_prob: float | None = None
    mask_feature_prob: float | None = None
    mask_feature_length: int | None = None
    # dropout (None: the checkpoint's): hidden, attention and feature-projection dropout of the transformer
    dropout: float | None = None
    #: insert a new transformer layer after each of these layer indices, keeping the function
    #: (:func:`.build.deepen`): more capacity for a model that underfits, from where it stands
    deepen: tuple[int, ...] = ()


def _schedule(step: int, cfg: BroadConfig, minutes: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak at ``cfg.steps`` (or, with
    ``cfg.time_budget``, at ``cfg.max_minutes`` of training if that comes first)."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    if cfg.time_budget and cfg.max_minutes:
        progress = max(progress, min(1.0, minutes / cfg.max_minutes))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _normalise(audio: np.ndarray) -> np.ndarray:
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


class RowStore:
    """The rows of ``<data>/<source>/manifest.jsonl`` with audio loaded, growing on ``reload()``."""

    def __init__(self, data_dir: Path, sources=SOURCES, *, limit: int | None = None) -> None:
        self.dir, self.sources, self.limit = Path(data_dir), sources, limit
        self.rows: dict[str, list[dict]] = {s: [] for s in sources}
        self._ids: set[str] = set()
        self.order: dict[str, list[int]] = {}
        self.reload()

    def reload(self, *, threads: int = 4) -> int:
        """Load rows added since the last call (audio decoded on ``threads`` threads); returns how many."""
        from concurrent.futures import ThreadPoolExecutor

        import soundfile as sf

        def read(path: Path) -> np.ndarray:
            audio, sr = sf.read(str(path), dtype="float32")
            if sr != 16_000:
                raise ValueError(f"{path}: {sr} Hz; the recipe expects 16 kHz")
            return audio

        added = 0
        for source in self.sources:
            manifest = self.dir / source / "manifest.jsonl"
            if not manifest.exists():
                continue
            new: list[dict] = []
            for line in manifest.read_text(encoding="utf-8").splitlines():
                if self.limit and len(self.rows[source]) + len(new) >= self.limit:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a torn last line while the generator writes
                if row["id"] not in self._ids:
                    new.append(row)
                    self._ids.add(row["id"])
            with ThreadPoolExecutor(max(1, threads)) as pool:  # libsndfile decodes outside the GIL
                audios = pool.map(read, [manifest.parent / r["audio_filepath"] for r in new])
                for row, audio in zip(new, audios):
                    self.rows[source].append(self.prepare({"id": row["id"], "array": _normalise(audio),
                                                           "labels": _text_to_labels(row["text"]),
                                                           "phones": row.get("phones"), "words": row.get("words"),
                                                           "voice": row.get("voice")}))
            added += len(new)
        self.order = {s: sorted(range(len(r)), key=lambda i, r=r: self.length(r[i])) for s, r in self.rows.items()}
        return added

    def prepare(self, row: dict) -> dict:
        """What is kept of a loaded row (all of it here; subclasses may encode the audio)."""
        return row

    def length(self, row: dict) -> int:
        """A row's length for the length-ordered batches (samples here)."""
        return len(row["array"])

    def seconds(self, row: dict) -> float:
        """A row's duration."""
        return len(row["array"]) / 16_000

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def hours(self) -> float:
        return sum(self.seconds(x) for r in self.rows.values() for x in r) / 3600

    def available(self, cfg: BroadConfig) -> list[str]:
        """Sources a batch can be drawn from: rows loaded and a weight above 0."""
        return [s for s in self.sources if self.rows[s] and cfg.weights.get(s, 0) > 0]

    def batch(self, rng: np.random.Generator, cfg: BroadConfig) -> list[dict]:
        """One batch: a source by weight, then length-order neighbours from a random start."""
        have = self.available(cfg)
        if not have:
            raise RuntimeError(f"no training rows under {self.dir}; make data first (workbench.recipe.broad)")
        p = np.array([cfg.weights[s] for s in have], dtype=float)
        source = have[int(rng.choice(len(have), p=p / p.sum()))]
        return self.neighbours(source, rng, cfg)

    def neighbours(self, source: str, rng: np.random.Generator, cfg: BroadConfig) -> list[dict]:
        """Rows of ``source`` next to each other in length order, from a random start, up to the batch limits."""
        order, rows = self.order[source], self.rows[source]
        pos = int(rng.integers(0, len(order)))
        out: list[dict] = []
        for i in order[pos:] + order[:pos][::-1]:
            width = max([self.seconds(rows[i])] + [self.seconds(r) for r in out])
            if out and (len(out) >= cfg.batch_size or width * (len(out) + 1) > cfg.max_batch_seconds):
                break
            out.append(rows[i])
        return out


def held_out_sets(names=HELD_OUT) -> dict[str, list[dict]]:
    """The committed held-out sets (``datasets/<name>``) that exist, audio loaded."""
    import soundfile as sf

    root = Path(__file__).resolve().parents[2] / "datasets"
    out = {}
    for name in names:
        manifest = root / name / "manifest.jsonl"
        if not manifest.exists():
            continue
        rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        for r in rows:
            r["array"] = _normalise(sf.read(str(manifest.parent / r["audio_filepath"]), dtype="float32")[0])
        out[name] = rows
    return out


def _reference(text: str) -> str:
    return " ".join("".join(c if c.isalpha() or c == "'" else " " for c in text.upper()).split())


def _audio_logits(model, row: dict):
    import torch

    return model(torch.from_numpy(row["array"])[None].to(model.device)).logits[0]


def greedy_scores(model, sets: dict[str, list[dict]], *, logits=_audio_logits) -> dict[str, dict]:
    """Greedy WER and CER per held-out set (one utterance at a time, no padding).

    ``logits(model, row)`` gives one row's [frames, tokens] output (default: the model on its audio).
    """
    import jiwer
    import torch

    inverse = {v: k for k, v in VOCAB.items()}
    was_training = model.training
    model.eval()
    out = {}
    with torch.no_grad():
        for name, rows in sets.items():
            refs, hyps = [], []
            for r in rows:
                ids = logits(model, r).argmax(-1).tolist()
                chars = [inverse[i] for k, i in enumerate(ids) if i != 0 and (k == 0 or i != ids[k - 1])]
                hyps.append(" ".join("".join(c for c in chars if len(c) == 1).replace("|", " ").split()))
                refs.append(_reference(r["text"]))
            hyps = [h or "_" for h in hyps]
            out[name] = {"wer": round(jiwer.wer(refs, hyps), 4), "cer": round(jiwer.cer(refs, hyps), 4)}
    model.train(was_training)
    return out


def training_sample(data_dir: Path, *, per_source: int = 40, seed: int = 0, sources=SOURCES) -> dict[str, list[dict]]:
    """``per_source`` seeded random rows of each source's training manifest, audio loaded, as
    held-out-style sets: :func:`greedy_scores` on them tells underfitting (high CER on speech the
    model trained on) from a generalisation gap (low here, high on the held-out sets)."""
    import soundfile as sf

    out = {}
    for source in sources:
        manifest = Path(data_dir) / source / "manifest.jsonl"
        if not manifest.exists():
            continue
        rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        pick = np.random.default_rng(seed).choice(len(rows), min(per_source, len(rows)), replace=False)
        out[source] = [{**rows[i], "array": _normalise(sf.read(str(manifest.parent / rows[i]["audio_filepath"]),
                                                                dtype="float32")[0])} for i in sorted(pick)]
    return out

class BroadTrainer:
    """Resumable CTC + auxiliary phoneme-frame training (see the module docstring)."""

    def __init__(self, data_dir: Path, run_dir: Path, cfg: BroadConfig, *, init_from: Path | None = None,
                 row_limit: int | None = None, held_out: dict | None = None) -> None:
        import torch

        self.cfg, self.dir = cfg, Path(run_dir) / "broad"
        self.dir.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = self._make_model(init_from)
        self.store = self._make_store(Path(data_dir), row_limit)
        if cfg.freeze_feature_encoder:
            self.model.freeze_feature_encoder()
        self.aux = torch.nn.Linear(self.model.config.hidden_size, N_CLASSES)
        params = [p for p in self.model.parameters() if p.requires_grad] + list(self.aux.parameters())
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98), eps=1e-6)
        self.step, self.elapsed, self.log, self.best = 0, 0.0, [], None
        self._start = time.time()
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _schedule(s, cfg, self.minutes()))
        self.held_out = held_out_sets() if held_out is None else held_out
        ckpt = self.dir / "checkpoint.pt"
        if ckpt.exists():
            state = load_checkpoint(ckpt)
            self.model.load_state_dict(state["model"])
            self.aux.load_state_dict(state["aux"])
            self.opt.load_state_dict(state["opt"])
            self.sched.load_state_dict(state["sched"])
            self.step, self.elapsed, self.log, self.best = state["step"], state["elapsed"], state["log"], state["best"]

    def _make_store(self, data_dir: Path, row_limit: int | None) -> RowStore:
        return RowStore(data_dir, limit=row_limit)

    def _make_model(self, init_from: Path | None):
        import torch
        from transformers import Wav2Vec2ForCTC

        from .build import new_model

        if init_from is None:
            model = new_model("ctc", seed=self.cfg.seed)
        else:
            torch.manual_seed(self.cfg.seed)
            model = Wav2Vec2ForCTC.from_pretrained(str(init_from), ctc_loss_reduction="mean", ctc_zero_infinity=True,
                                                   dtype=torch.float32)  # trains in fp32 whatever the file stores
            if model.config.vocab_size != len(VOCAB):
                raise ValueError(f"{init_from} has {model.config.vocab_size} output tokens; the recipe needs the "
                                 f"{len(VOCAB)}-token wav2vec2-base-960h vocabulary")
        if self.cfg.deepen:
            from .build import deepen

            model = deepen(model, tuple(self.cfg.deepen))
        for key in ("mask_time_prob", "mask_feature_prob", "mask_feature_length"):
            if getattr(self.cfg, key) is not None:
                setattr(model.config, key, getattr(self.cfg, key))
        if model.config.mask_time_prob > 0 and not hasattr(model.wav2vec2, "masked_spec_embed"):
            raise ValueError(f"{init_from or 'the new model'} was built without time masking (mask_time_prob 0), so "
                             "it has no masked-frame embedding to train with; leave mask_time_prob unset or start "
                             "from a checkpoint saved with mask_time_prob > 0")
        if self.cfg.dropout is not None:  # modules read their rates when built: rebuild, keep the weights
            if not 0.0 <= self.cfg.dropout < 1.0:
                raise ValueError(f"dropout={self.cfg.dropout} must be in [0, 1)")
            for key in ("hidden_dropout", "attention_dropout", "feat_proj_dropout"):
                setattr(model.config, key, float(self.cfg.dropout))
            rebuilt = Wav2Vec2ForCTC(model.config)
            missing, unexpected = rebuilt.load_state_dict(model.state_dict(), strict=False)
            if missing or set(unexpected) - {"wav2vec2.masked_spec_embed"}:  # unused once masking is off
                raise RuntimeError(f"rebuilding with dropout {self.cfg.dropout} lost weights: {missing + unexpected}")
            model = rebuilt
        return model

    def loss(self, rows: list[dict]):
        """CTC loss + ``aux_weight`` x frame cross-entropy for one batch; returns (loss, log fields)."""
        rng = np.random.default_rng([self.cfg.seed, self.step, 1])
        return self.batch_loss(*batch_with_targets(rows, self.cfg, rng))

    def batch_loss(self, x, labels: list[list[int]], targets):
        """:meth:`loss` of a collated batch (padded audio, CTC label lists, frame targets), on the
        model's device and under :meth:`autocast`; the losses themselves in float32."""
        import torch

        dev = self.model.device
        y = torch.full((len(labels), max(len(l) for l in labels)), -100, dtype=torch.long)
        for k, l in enumerate(labels):
            y[k, : len(l)] = torch.tensor(l)
        x, y, targets = x.to(dev, non_blocking=True), y.to(dev), targets.to(dev)
        with self.autocast():
            out = self.model(x, labels=y, output_hidden_states=True)
            logits = self.aux(out.hidden_states[self.cfg.aux_layer])
        n = min(logits.shape[1], targets.shape[1])
        aux = torch.nn.functional.cross_entropy(logits[:, :n].float().reshape(-1, logits.shape[-1]),
                                                targets[:, :n].reshape(-1), ignore_index=IGNORE)
        if not torch.isfinite(aux):  # a batch of espeak rows only: nothing to classify
            aux = logits.sum() * 0.0
        return self._total(out.loss.float(), aux, out.logits.float(), targets)

    def autocast(self):
        """The mixed-precision context of the forward pass (none here; bfloat16 on CUDA in
        :class:`.device_train.DeviceTrainer`)."""
        import contextlib

        return contextlib.nullcontext()

    def _total(self, ctc, aux, ctc_logits, targets):
        """CTC + ``aux_weight`` x aux (+ ``silence_weight`` x :func:`.frames.silence_loss`), and the log fields."""
        fields = {"ctc": round(float(ctc.detach()), 4), "aux": round(float(aux.detach()), 4)}
        ramp = min(1.0, self.step / self.cfg.aux_ramp) if self.cfg.aux_ramp else 1.0
        total = ctc + self.cfg.aux_weight * ramp * aux
        if self.cfg.silence_weight:
            sil = silence_loss(ctc_logits, targets, self.model.config.pad_token_id, VOCAB["|"])
            total = total + self.cfg.silence_weight * sil
            fields["sil"] = round(float(sil.detach()), 4)
        return total, fields

    def save(self) -> None:
        _save_checkpoint(self.dir / "checkpoint.pt", {
            "model": self.model.state_dict(), "aux": self.aux.state_dict(), "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(), "step": self.step, "elapsed": self.elapsed, "log": self.log,
            "best": self.best, "config": asdict(self.cfg)})
        (self.dir / "log.json").write_text(json.dumps(self.log, indent=1))

    def export(self, folder: Path) -> Path:
        """The plain ``Wav2Vec2ForCTC`` (no auxiliary head) in Hugging Face format, with the log."""
        self.model.eval()
        save_model(self.model, Path(folder), kind="ctc")
        (Path(folder) / "training_log.json").write_text(json.dumps(self.log, indent=1))
        self.model.train()
        return Path(folder)

    def held_out_scores(self) -> dict[str, dict]:
        """Greedy WER/CER per held-out set (subclasses may score from cached features)."""
        return greedy_scores(self.model, self.held_out)

    def evaluate(self) -> dict:
        """Held-out greedy scores; exports the model when its selection CER (mean over :data:`SELECT_ON`,
        or over every set when none of those exists) is the best so far."""
        scores = self.held_out_scores()
        entry = {"step": self.step, "minutes": round(self.minutes(), 2), "eval": scores, "rows": len(self.store),
                 "hours": round(self.store.hours(), 3)}
        if scores:
            chosen = [k for k in SELECT_ON if k in scores] or sorted(scores)
            mean_cer = float(np.mean([scores[k]["cer"] for k in chosen]))
            entry["mean_cer"], entry["selected_on"] = round(mean_cer, 4), chosen
        self.log.append(entry)  # before the export, so the exported log has this evaluation
        if scores and (self.best is None or mean_cer < self.best["mean_cer"]):
            self.best = {"step": self.step, "mean_cer": round(mean_cer, 4), **scores}
            self.export(self.dir / "best" / "w2v2-tiny-ctc")
        print(json.dumps(entry), flush=True)
        return scores

    def minutes(self) -> float:
        """Training wall time so far (this process and the runs it resumes)."""
        return (self.elapsed + time.time() - self._start) / 60

    def run(self) -> bool:
        """Train to ``cfg.steps`` (True) or until ``max_minutes`` (False; resume later)."""
        import torch

        cfg = self.cfg
        self._start = time.time()
        if self.step == 0 and self.held_out:
            self.evaluate()  # the starting point, as the first row of the experiment table
        self.model.train()
        batches = self.batches()
        while self.step < cfg.steps:
            rows = next(batches)
            loss, extra = self.loss(rows)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for g in self.opt.param_groups for p in g["params"]]
            grad = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            if math.isfinite(grad):
                self.opt.step()
            self.sched.step()
            self.step += 1
            minutes = self.minutes()
            out_of_time = bool(cfg.time_budget and cfg.max_minutes and minutes >= cfg.max_minutes)
            if self.step % cfg.log_every == 0 or self.step == 1:
                entry = {"step": self.step, "loss": round(float(loss.detach()), 4), **extra, "grad": round(grad, 3),
                         "lr": self.sched.get_last_lr()[0], "minutes": round(minutes, 2), "batch": len(rows)}
                self.log.append(entry)
                print(json.dumps(entry), flush=True)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps or out_of_time:
                self.evaluate()
            if self.step % cfg.save_every == 0 or self.step == cfg.steps or out_of_time or (
                    cfg.max_minutes and minutes > cfg.max_minutes):
                self.elapsed += time.time() - self._start
                self._start = time.time()
                self.save()
                if out_of_time:
                    return True
                if cfg.max_minutes and minutes > cfg.max_minutes:
                    return False
        return True

    def batches(self):
        """The training batches from the current step on (rows; the manifests re-read every
        ``reload_every`` steps, so a growing data folder is taken in)."""
        cfg, step = self.cfg, self.step
        while True:
            if step and step % cfg.reload_every == 0:
                self.store.reload()
            yield self.store.batch(np.random.default_rng([cfg.seed, step]), cfg)
            step += 1


def export_checkpoint(run_dir: Path, folder: Path, *, which: str = "best") -> Path:
    """Write the ``best`` (lowest mean held-out CER) or ``last`` saved model of a broad run as a plain
    ``Wav2Vec2ForCTC`` folder, with the run's whole log as ``training_log.json``.

    Reads only files (works while the run goes on): ``best`` is the folder the run exported,
    ``last`` the weights in ``checkpoint.pt``.
    """
    import shutil

    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    broad = Path(run_dir) / "broad"
    best = broad / "best" / "w2v2-tiny-ctc"
    if not (broad / "checkpoint.pt").exists() or not best.exists():
        raise FileNotFoundError(f"{broad} has no checkpoint yet; start the run first (python -m "
                                "workbench.recipe.broad_run broad ...)")
    folder = Path(folder)
    if which == "best":
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(best, folder)
    elif which == "last":
        state = load_checkpoint(broad / "checkpoint.pt")
        model = Wav2Vec2ForCTC(Wav2Vec2Config.from_pretrained(str(best)))
        model.load_state_dict(state["model"])
        save_model(model.eval(), folder, kind="ctc")
    else:
        raise ValueError(f"which={which!r}; choose best or last")
    (folder / "training_log.json").write_text((broad / "log.json").read_text())
    return folder
