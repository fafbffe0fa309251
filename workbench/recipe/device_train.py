"""The broad stage on an accelerator: the whole model trained (conv encoder too) on a GPU.

On the 2-core CPU the broad runs had to freeze the conv encoder and stay small (2.25 M parameters
up to run 4, 3.14 M from run 6); runs 4 and 6 underfitted their own training speech
(``training_sample`` CER 21-22% on Kokoro rows).
:class:`DeviceTrainer` is :class:`.broad_train.BroadTrainer` with what a GPU run needs:

- the model and losses on ``device`` (bfloat16 autocast on CUDA with ``bf16``);
- batches made by ``workers`` forked processes (speed perturbation, joining, frame targets
  are numpy work that would otherwise leave the GPU idle), each batch still a function of
  (seed, step), so the run is the same whatever the worker count;
- an *online* ``splice`` source (:class:`SpliceStore`): every splice batch is new word
  sequences cut from the Kokoro rows at Kokoro's word boundaries, instead of a fixed folder;
- a new, larger architecture (``arch``) whose conv encoder may start from a trained checkpoint
  (``encoder_from``), since a machine lent for minutes cannot afford CTC's blank plateau twice;
- ``time_budget``: the learning rate decays over ``max_minutes`` and the run ends with an
  evaluation, so a lease of fixed length ends with a finished schedule.

The exported model is the same plain ``Wav2Vec2ForCTC`` with the base-960h vocabulary.
``python -m workbench.recipe.device_train --help`` runs it; :mod:`.compact` packs the data
that travels to the GPU machine.
"""
from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .broad import _word_pieces, splice_utterance
from .broad_train import BroadConfig, BroadTrainer, RowStore, _normalise
from .frames import batch_with_targets
from .train import _text_to_labels


class SpliceStore(RowStore):
    """A :class:`.broad_train.RowStore` whose ``splice`` source is made on the fly: each batch is
    fresh word sequences from the Kokoro rows' words (one voice per utterance, as
    :func:`.broad.splice_block` makes them), with their phoneme spans."""

    def reload(self, *, threads: int = 4) -> int:
        added = super().reload(threads=threads)
        self.pieces: dict[str, list[dict]] = {}
        for row in self.rows.get("kokoro", []):
            if row.get("words") and row.get("phones"):
                self.pieces.setdefault(row["voice"], []).extend(_word_pieces(row, row["array"]))
        self.voices = sorted(v for v, p in self.pieces.items() if len(p) >= 4)
        return added

    def available(self, cfg: BroadConfig) -> list[str]:
        have = super().available(cfg)
        if "splice" not in have and self.voices and cfg.weights.get("splice", 0) > 0:
            have.append("splice")
        return [s for s in self.sources if s in have]

    def neighbours(self, source: str, rng: np.random.Generator, cfg: BroadConfig) -> list[dict]:
        if source != "splice" or self.rows.get("splice"):
            return super().neighbours(source, rng, cfg)
        r, out = random.Random(int(rng.integers(2**62))), []
        while len(out) < cfg.batch_size:
            pool = self.pieces[r.choice(self.voices)]
            audio, fields = splice_utterance(r.sample(pool, min(len(pool), r.randint(5, 14))), r)
            width = max([len(audio)] + [len(x["array"]) for x in out]) / 16_000
            if out and width * (len(out) + 1) > cfg.max_batch_seconds:
                break
            out.append({"id": "splice-online", "array": _normalise(audio), "labels": _text_to_labels(fields["text"]),
                        "phones": fields["phones"], "words": fields["words"]})
        return out


@dataclass
class DeviceConfig(BroadConfig):
    device: str = "cuda"
    bf16: bool = True
    workers: int = 0  # forked batch makers (0: in the training process)
    online_splice: bool = True
    arch: dict = field(default_factory=dict)  # Wav2Vec2Config overrides of a new model (init_from None)
    encoder_from: str | None = None  # a Wav2Vec2ForCTC folder whose conv feature encoder starts the new model


@dataclass
class Collated:
    """One batch made ready for the model: padded audio, CTC label lists, frame targets."""

    x: object
    labels: list
    targets: object

    def __len__(self) -> int:
        return len(self.labels)


_TRAINER: "DeviceTrainer | None" = None  # the forked workers' view of the trainer (its store and config)


def _collate_step(step: int) -> Collated:
    """Batch ``step`` of the run in a worker: the same rows and augmentation as in-process."""
    t = _TRAINER
    rows = t.store.batch(np.random.default_rng([t.cfg.seed, step]), t.cfg)
    x, labels, targets = batch_with_targets(rows, t.cfg, np.random.default_rng([t.cfg.seed, step, 1]))
    return Collated(x, labels, targets)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


class DeviceTrainer(BroadTrainer):
    """:class:`.broad_train.BroadTrainer` on ``cfg.device`` with forked batch workers (module docstring)."""

    cfg: DeviceConfig

    def __init__(self, data_dir: Path, run_dir: Path, cfg: DeviceConfig, *, init_from: Path | None = None,
                 row_limit: int | None = None, held_out: dict | None = None) -> None:
        super().__init__(data_dir, run_dir, cfg, init_from=init_from, row_limit=row_limit, held_out=held_out)
        self.model.to(cfg.device)
        self.aux.to(cfg.device)

    def _make_store(self, data_dir: Path, row_limit: int | None) -> RowStore:
        return (SpliceStore if self.cfg.online_splice else RowStore)(data_dir, limit=row_limit)

    def _make_model(self, init_from: Path | None):
        import torch
        from transformers import Wav2Vec2ForCTC

        if init_from is not None or not self.cfg.arch:
            return super()._make_model(init_from)
        from .build import new_model

        model = new_model("ctc", seed=self.cfg.seed, **self.cfg.arch)
        if self.cfg.encoder_from:
            donor = Wav2Vec2ForCTC.from_pretrained(str(self.cfg.encoder_from), dtype=torch.float32)
            try:
                model.wav2vec2.feature_extractor.load_state_dict(donor.wav2vec2.feature_extractor.state_dict())
            except RuntimeError as exc:
                raise ValueError(f"encoder_from={self.cfg.encoder_from}: its conv encoder does not fit arch "
                                 f"{self.cfg.arch} (give the same conv_dim)") from exc
        torch.manual_seed(self.cfg.seed)
        return model

    def batches(self):
        """Collated batches from the current step on, made by ``cfg.workers`` forked processes (or here)."""
        global _TRAINER
        _TRAINER = self
        if not self.cfg.workers:
            step = self.step
            while True:
                yield _collate_step(step)
                step += 1
        import multiprocessing as mp
        from collections import deque

        ctx = mp.get_context("fork")  # the workers share the loaded store; they never touch the GPU
        with ctx.Pool(self.cfg.workers, initializer=_worker_init) as pool:
            ahead, step = deque(), self.step
            while True:  # at most two batches per worker in flight (pool.imap would queue them all)
                while len(ahead) < 2 * self.cfg.workers:
                    ahead.append(pool.apply_async(_collate_step, (step,)))
                    step += 1
                yield ahead.popleft().get()

    def loss(self, batch):
        """CTC + aux (+ silence) for a :class:`Collated` batch (or rows, collated here) on the device."""
        if not isinstance(batch, Collated):
            return super().loss(batch)
        return self.batch_loss(batch.x, batch.labels, batch.targets)

    def autocast(self):
        import torch

        return torch.autocast("cuda", dtype=torch.bfloat16,
                              enabled=self.cfg.bf16 and self.cfg.device.startswith("cuda"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.device_train", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--init-from", type=Path, default=None, help="a Wav2Vec2ForCTC folder to fine-tune")
    p.add_argument("--arch", default=None, help='JSON Wav2Vec2Config overrides of a new model, e.g. '
                                               '\'{"hidden_size": 256, "num_hidden_layers": 6}\'')
    p.add_argument("--encoder-from", default=None, help="start a new model's conv encoder from this checkpoint")
    p.add_argument("--minutes", type=float, required=True, help="training length (the schedule decays over it)")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-batch-seconds", type=float, default=200.0)
    p.add_argument("--weights", default="kokoro=0.45,splice=0.4,espeak=0.15")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--device", default="cuda")
    p.add_argument("--silence-weight", type=float, default=0.5)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--mask-time-prob", type=float, default=None)
    p.add_argument("--mask-feature-prob", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    from .broad_run import _weights

    cfg = DeviceConfig(steps=a.steps, lr=a.lr, warmup=a.warmup, batch_size=a.batch_size,
                       max_batch_seconds=a.max_batch_seconds, weights=_weights(a.weights), eval_every=a.eval_every,
                       save_every=10**9, log_every=100, reload_every=10**9, max_minutes=a.minutes, time_budget=True,
                       threads=a.threads, seed=a.seed, silence_weight=a.silence_weight, dropout=a.dropout,
                       mask_time_prob=a.mask_time_prob, mask_feature_prob=a.mask_feature_prob,
                       freeze_feature_encoder=False, device=a.device, workers=a.workers,
                       bf16=a.device.startswith("cuda"), arch=json.loads(a.arch) if a.arch else {},
                       encoder_from=a.encoder_from)
    trainer = DeviceTrainer(a.data_dir, a.run_dir, cfg, init_from=a.init_from)
    print(json.dumps({"rows": {s: len(r) for s, r in trainer.store.rows.items()}, "hours": round(trainer.store.hours(), 3),
                      "parameters": sum(p.numel() for p in trainer.model.parameters())}), flush=True)
    trainer.run()
    print(json.dumps({"step": trainer.step, "minutes": round(trainer.minutes(), 2), "best": trainer.best}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
