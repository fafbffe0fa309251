"""The two training stages: self-supervised pretraining, then CTC fine-tuning.

Both are seeded and resumable: every ``save_every`` steps the model, optimiser, scheduler
and RNG states go to ``<run>/<stage>/checkpoint.pt`` (written atomically), and a restarted
run continues from there with the same batches it would have seen.

1. ``pretrain``: ``Wav2Vec2ForPreTraining`` (conv feature encoder with 320x downsampling,
   a few transformer layers, product quantizer 2 groups x 320 entries) trained with the
   model's own contrastive + diversity loss, masks from ``_compute_mask_indices`` and
   negatives from ``_sample_negative_indices``, Gumbel temperature annealed 2.0 -> 0.5.
2. ``finetune``: ``Wav2Vec2ForCTC`` initialised from that encoder with the exact
   wav2vec2-base-960h character vocabulary; CTC loss; feature encoder trained too (it saw
   only minutes of pretraining).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .build import VOCAB, new_model, save_model


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 8
    max_batch_seconds: float = 32.0
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    seed: int = 0
    save_every: int = 200
    log_every: int = 25
    max_minutes: float | None = None  # stop (and save) after this much wall time; resume later
    threads: int | None = None
    speed_perturb: float = 0.0  # CTC: resample each clip by a random factor in 1 +- this
    pad_augment: float = 0.0  # CTC: share of batches given extra zero padding (robust to batched inference)
    concat_augment: float = 0.0  # CTC: share of batches whose clips are joined in pairs (robust to long audio)
    dropout: float | None = None  # CTC: set every dropout of the model to this (None: the config's own)


def _text_to_labels(text: str) -> list[int]:
    """The base-960h alphabet: upper case, apostrophe, '|' between words; other chars dropped."""
    clean = "".join(c if (c.isalpha() and c.upper() in VOCAB) or c == "'" else " " for c in text.upper())
    return [VOCAB["|" if c == " " else c] for c in "|".join(clean.split()).replace("|", " ").replace(" ", "|")]


def load_manifest(manifest: Path, *, limit: int | None = None) -> list[dict]:
    """Rows of a training manifest with the audio loaded (16 kHz float32, normalised)."""
    import soundfile as sf

    rows = []
    for line in Path(manifest).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        audio, sr = sf.read(str(Path(manifest).parent / row["audio_filepath"]), dtype="float32")
        if sr != 16_000:
            raise ValueError(f"{row['audio_filepath']}: {sr} Hz; the recipe expects 16 kHz")
        row["array"] = ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)
        row["labels"] = _text_to_labels(row["text"])
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    return rows


def _batches(rows: list[dict], cfg: TrainConfig, rng: random.Random) -> list[list[int]]:
    """Length-sorted batches (bounded by count and padded seconds), in seeded random order."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["array"]))
    batches, cur = [], []
    for i in order:
        width = len(rows[i]["array"]) / 16_000
        if cur and (len(cur) >= cfg.batch_size or width * (len(cur) + 1) > cfg.max_batch_seconds):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def _pad(rows: list[dict], idx: list[int]):
    import torch

    width = max(len(rows[i]["array"]) for i in idx)
    x = torch.zeros(len(idx), width)
    for k, i in enumerate(idx):
        a = rows[i]["array"]
        x[k, : len(a)] = torch.from_numpy(a)
    return x


def _schedule(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def load_checkpoint(path: Path) -> dict:
    """A resume checkpoint written by :func:`_save_checkpoint` (the recipe's own file: it holds the
    optimizer and scheduler state, which ``weights_only`` cannot load).  The one place the package
    unpickles; model weights everywhere else load from safetensors or ``weights_only=True``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)  # our own file (see above)


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


class _Loop:
    """Shared resumable loop: subclasses give the model and one step's loss."""

    stage = "stage"

    def __init__(self, rows: list[dict], run_dir: Path, cfg: TrainConfig) -> None:
        import torch

        self.rows, self.cfg = rows, cfg
        self.dir = Path(run_dir) / self.stage
        self.dir.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = self.make_model()
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=cfg.lr,
                                    weight_decay=cfg.weight_decay, betas=(0.9, 0.98), eps=1e-6)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _schedule(s, cfg))
        self.step = 0
        self.elapsed = 0.0
        self.log: list[dict] = []
        ckpt = self.dir / "checkpoint.pt"
        if ckpt.exists():
            state = load_checkpoint(ckpt)
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
            self.sched.load_state_dict(state["sched"])
            self.step, self.elapsed, self.log = state["step"], state["elapsed"], state["log"]
            torch.set_rng_state(state["torch_rng"])

    def make_model(self):
        raise NotImplementedError

    def loss(self, idx: list[int]):
        raise NotImplementedError

    def save(self) -> None:
        import torch

        _save_checkpoint(self.dir / "checkpoint.pt", {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
            "step": self.step, "elapsed": self.elapsed, "log": self.log, "torch_rng": torch.get_rng_state(),
            "config": asdict(self.cfg)})
        (self.dir / "log.json").write_text(json.dumps(self.log, indent=1))

    def run(self) -> bool:
        """Train until ``cfg.steps`` (True) or the time limit (False; resume later)."""
        import torch

        cfg = self.cfg
        epoch_batches: list[list[int]] = []
        # deterministic batch order from (seed, epoch); skip what a resumed run already did
        per_epoch = len(_batches(self.rows, cfg, random.Random(0)))
        start = time.time()
        self.model.train()
        while self.step < cfg.steps:
            epoch, offset = divmod(self.step, per_epoch)
            if offset == 0 or not epoch_batches:
                epoch_batches = _batches(self.rows, cfg, random.Random(cfg.seed * 1000 + epoch))
            idx = epoch_batches[offset]
            self.before_step()
            loss, extra = self.loss(idx)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
            if math.isfinite(grad):
                self.opt.step()
            self.sched.step()
            self.step += 1
            if self.step % cfg.log_every == 0 or self.step == 1:
                entry = {"step": self.step, "loss": round(float(loss.detach()), 4), "grad": round(grad, 3),
                         "lr": self.sched.get_last_lr()[0], "minutes": round((self.elapsed + time.time() - start) / 60, 2),
                         **extra}
                self.log.append(entry)
                print(json.dumps(entry), flush=True)
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self.elapsed += time.time() - start
                start = time.time()
                self.save()
            if cfg.max_minutes and (self.elapsed + time.time() - start) / 60 > cfg.max_minutes:
                self.elapsed += time.time() - start
                self.save()
                return False
        self.elapsed += time.time() - start
        self.save()
        return True

    def before_step(self) -> None:
        pass


def _fast_quantizer_forward(self, hidden_states, mask_time_indices=None):
    """``Wav2Vec2GumbelVectorQuantizer.forward`` with the codevector lookup as one einsum.

    Identical maths (Gumbel hard samples, soft-distribution perplexity, sum of selected
    codevectors); the library version multiplies a dense [frames, 640, d] tensor, which
    dominates a CPU training step.  Used for training only; saved models are unchanged.
    """
    import torch

    b, t, _ = hidden_states.shape
    logits = self.weight_proj(hidden_states).view(b * t * self.num_groups, -1)
    if self.training:
        probs = torch.nn.functional.gumbel_softmax(logits.float(), tau=self.temperature, hard=True).type_as(logits)
        soft = torch.softmax(logits.view(b * t, self.num_groups, -1).float(), dim=-1)
        perplexity = self._compute_perplexity(soft, mask_time_indices)
    else:
        idx = logits.argmax(dim=-1)
        probs = logits.new_zeros(logits.shape).scatter_(-1, idx.view(-1, 1), 1.0)
        perplexity = self._compute_perplexity(probs.view(b * t, self.num_groups, -1), mask_time_indices)
    probs = probs.view(b * t, self.num_groups, self.num_vars)
    book = self.codevectors.view(self.num_groups, self.num_vars, -1)
    return torch.einsum("ngv,gvd->ngd", probs, book).reshape(b, t, -1), perplexity


class Pretrainer(_Loop):
    stage = "pretrain"
    crop_seconds = 2.0

    def make_model(self):
        import types

        model = new_model("pretraining", seed=self.cfg.seed)
        model.quantizer.forward = types.MethodType(_fast_quantizer_forward, model.quantizer)
        return model

    def before_step(self) -> None:
        frac = min(1.0, self.step / max(1, self.cfg.steps))
        self.model.set_gumbel_temperature(max(0.5, 2.0 * (0.25 ** frac)))

    def loss(self, idx):
        import torch
        from transformers.models.wav2vec2.modeling_wav2vec2 import (_compute_mask_indices,
                                                                    _sample_negative_indices)

        rng = np.random.default_rng(self.cfg.seed * 1_000_003 + self.step)
        crop = int(self.crop_seconds * 16_000)
        crops = []
        for i in idx:  # random crops of at most 4 s: contrastive cost grows with frames x negatives
            a = self.rows[i]["array"]
            start = int(rng.integers(0, max(1, len(a) - crop + 1)))
            crops.append({"array": a[start:start + crop]})
        x = _pad(crops, list(range(len(crops))))
        cfg = self.model.config
        frames = int(self.model._get_feat_extract_output_lengths(x.shape[1]))
        mask = _compute_mask_indices((len(idx), frames), mask_prob=0.65, mask_length=10, min_masks=2)
        negatives = _sample_negative_indices((len(idx), frames), cfg.num_negatives, mask_time_indices=mask)
        out = self.model(x, mask_time_indices=torch.from_numpy(mask), sampled_negative_indices=torch.from_numpy(negatives))
        return out.loss, {"contrastive": round(float(out.contrastive_loss.detach()), 4),
                          "diversity": round(float(out.diversity_loss.detach()), 4),
                          "perplexity": round(float(out.codevector_perplexity.detach()), 2)}

    def export(self, folder: Path) -> Path:
        self.model.eval()
        return save_model(self.model, folder, kind="pretraining")


def ctc_batch(all_rows: list[dict], idx: list[int], cfg: TrainConfig, rng: np.random.Generator):
    """One CTC batch (padded audio tensor, label lists) with the configured augmentations.

    Speed perturbation resamples each clip by a factor in 1 +- ``speed_perturb``;
    ``concat_augment`` joins the clips in pairs with a 0.1-0.6 s pause (labels joined by the
    word delimiter); ``pad_augment`` adds 5-50% extra zeros after the longest clip.
    """
    import torch

    rows = {i: all_rows[i] for i in idx}
    if cfg.speed_perturb:
        for i in idx:  # tempo/pitch perturbation by linear-interpolation resampling
            a = all_rows[i]["array"]
            factor = 1.0 + rng.uniform(-cfg.speed_perturb, cfg.speed_perturb)
            rows[i] = {"array": np.interp(np.arange(0, len(a) - 1, factor), np.arange(len(a)), a).astype(np.float32)}
    labels = {i: all_rows[i]["labels"] for i in idx}
    if cfg.concat_augment and len(idx) > 1 and rng.random() < cfg.concat_augment:
        # long-form inputs, as chunked inference sees them
        pause = np.zeros(int(rng.uniform(0.1, 0.6) * 16_000), dtype=np.float32)
        joined = {}
        for a, b in zip(idx[::2], idx[1::2]):
            joined[a] = {"array": np.concatenate([rows[a]["array"], pause, rows[b]["array"]])}
            labels[a] = labels[a] + [VOCAB["|"]] + labels[b]
        if len(idx) % 2:
            joined[idx[-1]] = rows[idx[-1]]
        rows, idx = joined, list(joined)
    x = _pad(rows, idx)
    if cfg.pad_augment and rng.random() < cfg.pad_augment:
        # zero padding past the longest clip, no attention mask: how group-norm models are batched
        extra = int(x.shape[1] * rng.uniform(0.05, 0.5))
        x = torch.cat([x, x.new_zeros(x.shape[0], extra)], dim=1)
    return x, [labels[i] for i in idx]


class CTCTrainer(_Loop):
    stage = "ctc"

    def __init__(self, rows, run_dir, cfg, *, init_from: Path | None = None) -> None:
        self.init_from = init_from
        super().__init__(rows, run_dir, cfg)

    def make_model(self):
        import torch
        from transformers import Wav2Vec2ForCTC

        drop = {} if self.cfg.dropout is None else {
            k: self.cfg.dropout for k in ("hidden_dropout", "attention_dropout", "activation_dropout",
                                          "feat_proj_dropout", "final_dropout")}
        if self.init_from is None:
            return new_model("ctc", seed=self.cfg.seed, **drop)
        torch.manual_seed(self.cfg.seed)
        return Wav2Vec2ForCTC.from_pretrained(str(self.init_from), vocab_size=len(VOCAB), pad_token_id=0,
                                              ctc_loss_reduction="mean", ctc_zero_infinity=True,
                                              dtype=torch.float32, **drop)  # fp32 whatever the file stores

    def loss(self, idx):
        import torch

        rng = np.random.default_rng(self.cfg.seed * 1_000_003 + self.step)
        x, labels = ctc_batch(self.rows, idx, self.cfg, rng)
        width = max(len(l) for l in labels)
        y = torch.full((len(labels), width), -100, dtype=torch.long)
        for k, l in enumerate(labels):
            y[k, : len(l)] = torch.tensor(l)
        out = self.model(x, labels=y)
        return out.loss, {}

    def export(self, folder: Path) -> Path:
        self.model.eval()
        return save_model(self.model, folder, kind="ctc")
