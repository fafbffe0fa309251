"""The broad recipe's two long stages as one call (and ``python -m workbench.recipe.broad_run``).

``broad-data`` makes (or finishes) seeded blocks of training speech (:mod:`.broad`);
``broad`` trains CTC + the auxiliary phoneme-frame loss over whatever the data folder holds,
re-reading it as it grows (:mod:`.broad_train`).  Both resume from where a killed run
stopped.  ``smoke=True`` runs both on a few utterances in a temporary folder (CI), whatever
folders are given.

The shipped ``w2v2-tiny-ctc`` (issue 16: the average of runs 6 and 7), on a 2-core CPU::

    python -m workbench.recipe.broad_run broad-data --data-dir artifacts/broad-data --blocks 26   # ~13 h of speech, 55 min
    python -m workbench.recipe.dev                # datasets/kokoro-dev (committed): picks the best step
    mkdir -p artifacts/prev && git archive 57a1990 workbench/checkpoints/w2v2-tiny-ctc | tar -x -C artifacts/prev
    python -m workbench.recipe.broad_run broad --data-dir artifacts/broad-data --run-dir artifacts/broad-run-6 \\
        --init-from artifacts/prev/workbench/checkpoints/w2v2-tiny-ctc --deepen 1,3 --steps 1000000 \\
        --max-minutes 70 --time-budget --lr 4e-4 --warmup 300 --aux-ramp 500 \\
        --weights kokoro=0.4,splice=0.15,online=0.3,espeak=0.15 --silence-weight 0.5 --dropout 0.1 --eval-every 500
    python -m workbench.recipe.broad_run broad --data-dir artifacts/broad-data --run-dir artifacts/broad-run-7 \\
        --init-from artifacts/broad-run-6/broad/best/w2v2-tiny-ctc --steps 1000000 --max-minutes 98 --time-budget \\
        --lr 3e-4 --warmup 300 --aux-ramp 500 --weights kokoro=0.4,splice=0.15,online=0.3,espeak=0.15 \\
        --silence-weight 0.5 --dropout 0.05 --mask-time-prob 0.15 --mask-feature-prob 0.05 --eval-every 500
    python -m workbench.recipe.average workbench/checkpoints/w2v2-tiny-ctc \\
        artifacts/broad-run-7/broad/last/w2v2-tiny-ctc artifacts/broad-run-6/broad/best/w2v2-tiny-ctc
    python -m workbench.recipe.dev --tune         # demo-lm's alpha/beta for the new model
    workbench train --stage card                  # re-measure the model card and metrics.json

Run 6 deepened run 4 (the checkpoint at git revision 57a1990: 4 -> 6 layers, the same function at
step 0) and trained it for 70 minutes of wall time (6,777 steps, the learning rate decaying over the
minutes), so a slower or busier machine ends the same schedule after fewer steps; its step with the
lowest development CER (the last) was shipped from 67b7b8f to 08279de.  Run 7 continued it for a
second schedule with less regularisation (9,112 steps).  Alone it decoded better greedily and worse
with ``demo-lm``; the plain average of run 6 and run 7's last step was the best of nine candidates
on the development set (the model card's table; :mod:`.average`).  Run 8 (not shipped) continued
that average with run 7's settings for 80 minutes (``--init-from`` a copy of the shipped folder,
``--max-minutes 80``, run 7's other options); alone and averaged with it, it decoded worse with
``demo-lm`` on the development set.  Run 4 continued run 3 (62fdaaa) over the same 26 blocks::

    python -m workbench.recipe.broad_run broad --data-dir artifacts/broad-data --run-dir artifacts/broad-run-4 \\
        --init-from <62fdaaa's w2v2-tiny-ctc> --steps 8000 --lr 6e-4 \\
        --weights kokoro=0.5,splice=0.35,espeak=0.15 --silence-weight 0.5 --dropout 0.05

Run 3 was fine-tuned from the
session-3 checkpoint (eb50966) over blocks 0-9 with ``BROAD`` (13,000 steps), stopped at step 5,400
and resumed with ``--mask-time-prob 0.3 --mask-feature-prob 0.15 --mask-feature-length 16
--eval-every 250``; those SpecAugment settings are in the checkpoint's config and carry over.

Training may start as soon as block 0 exists: the manifests are re-read every 100 steps.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from .broad import BlockSizes, make_broad_data, summary
from .broad_train import BroadConfig, BroadTrainer

#: The configuration of the shipped broad run (run 3): fine-tuning the earlier demo checkpoint over
#: cached conv features (:mod:`.feature_train`), so ~0.45 s per 64-second batch on 2 cores.
BROAD = BroadConfig(steps=13_000, lr=8e-4, warmup=300, batch_size=16, max_batch_seconds=64.0,
                    freeze_feature_encoder=True, eval_every=500,
                    weights={"kokoro": 0.45, "splice": 0.4, "espeak": 0.15})
SMOKE_SIZES = BlockSizes(kokoro=2, splice=2, espeak=2)


def run_broad(stage: str, *, data_dir: Path | None = None, run_dir: Path | None = None, blocks: int = 20,
              steps: int | None = None, init_from: Path | None = None, max_minutes: float | None = None,
              seed: int = 0, threads: int | None = 2, smoke: bool = False, cached_features: bool = True,
              **overrides) -> dict:
    """Run ``broad-data``, ``broad`` or ``all`` (both, data first); returns what was done.

    ``overrides`` replace fields of :data:`BROAD` (e.g. ``lr=1e-3, freeze_feature_encoder=False``);
    ``cached_features`` (the default) trains over the frozen conv encoder's cached output
    (:class:`.feature_train.FeatureTrainer`, ~3x the audio per hour on a CPU); False feeds audio
    batches through the whole model (:class:`.broad_train.BroadTrainer`, needed to train the encoder).
    """
    if stage not in ("broad-data", "broad", "all"):
        raise ValueError(f"stage={stage!r}; choose broad-data, broad or all")
    if smoke:
        tmp = Path(tempfile.mkdtemp(prefix="wb-broad-smoke-"))
        data_dir, run_dir = tmp / "data", tmp / "run"  # never into a real run's folders
    if data_dir is None:
        raise ValueError("give data_dir (e.g. artifacts/broad-data)")
    out: dict = {"data_dir": str(data_dir)}
    if stage in ("broad-data", "all"):
        out["made"] = make_broad_data(data_dir, blocks=1 if smoke else blocks, seed=seed,
                                      sizes=SMOKE_SIZES if smoke else BlockSizes())
        out["data"] = summary(data_dir)
    if stage in ("broad", "all"):
        if run_dir is None:
            raise ValueError("give run_dir (e.g. artifacts/broad-run)")
        overrides = {**overrides, **({"steps": steps} if steps else {})}
        if smoke:
            overrides = {"steps": steps or 3, "warmup": 1, "save_every": 2, "log_every": 1, "eval_every": 3,
                         "reload_every": 2}
        cfg = replace(BROAD, seed=seed, threads=threads, max_minutes=max_minutes, **overrides)
        trainer_cls = BroadTrainer
        if cached_features and cfg.freeze_feature_encoder:
            from .feature_train import FeatureTrainer as trainer_cls
        trainer = trainer_cls(data_dir, run_dir, cfg, init_from=init_from, held_out={} if smoke else None)
        out["done"] = trainer.run()
        out["step"], out["minutes"], out["best"] = trainer.step, round(trainer.minutes(), 2), trainer.best
        out["export"] = str(trainer.export(Path(run_dir) / "broad" / "last" / "w2v2-tiny-ctc"))
        out["run_dir"] = str(run_dir)
    return out


def _weights(text: str | None) -> dict | None:
    """``kokoro=0.45,splice=0.4`` -> ``{"kokoro": 0.45, "splice": 0.4}``."""
    if not text:
        return None
    try:
        return {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise SystemExit(f"--weights {text!r}: write source=weight pairs, e.g. kokoro=0.45,splice=0.4,espeak=0.15")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.broad_run", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["broad-data", "broad", "all"])
    p.add_argument("--data-dir", type=Path, default=Path("artifacts/broad-data"))
    p.add_argument("--run-dir", type=Path, default=Path("artifacts/broad-run"))
    p.add_argument("--blocks", type=int, default=20, help="data blocks (each ~30 min of speech in three sources)")
    p.add_argument("--steps", type=int, default=None, help=f"training steps (default {BROAD.steps})")
    p.add_argument("--init-from", type=Path, default=None, help="a Wav2Vec2ForCTC folder to fine-tune")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this long")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {BROAD.lr})")
    p.add_argument("--warmup", type=int, default=None, help=f"warm-up steps (default {BROAD.warmup})")
    p.add_argument("--unfreeze", action="store_true",
                   help="train the conv feature encoder too (audio batches; ~5x slower per step of audio)")
    p.add_argument("--cached-features", action="store_true", default=True,
                   help="train over the frozen conv encoder's cached output (the default; recipe/feature_train.py)")
    p.add_argument("--audio-batches", dest="cached_features", action="store_false",
                   help="feed audio batches through the whole model instead (implied by --unfreeze)")
    p.add_argument("--batch-size", type=int, default=None, help=f"utterances per step (default {BROAD.batch_size})")
    p.add_argument("--max-batch-seconds", type=float, default=None,
                   help=f"padded seconds per step (default {BROAD.max_batch_seconds})")
    p.add_argument("--weights", default=None,
                   help="source weights, e.g. kokoro=0.45,splice=0.4,espeak=0.15; with cached features, online=W "
                        "adds word sequences spliced afresh for every batch from the Kokoro rows' cached frames "
                        "(feature_train.FeatureSpliceStore)")
    p.add_argument("--eval-every", type=int, default=None, help=f"held-out evaluation period (default {BROAD.eval_every})")
    p.add_argument("--mask-time-prob", type=float, default=None,
                   help="SpecAugment: share of frames masked in spans of 10 (default: the checkpoint's)")
    p.add_argument("--mask-feature-prob", type=float, default=None,
                   help="SpecAugment: share of hidden channels masked (default: the checkpoint's)")
    p.add_argument("--mask-feature-length", type=int, default=None, help="SpecAugment: channel span length")
    p.add_argument("--silence-weight", type=float, default=None,
                   help="weight of the blank-in-silence loss on the CTC head (recipe/frames.py silence_loss; "
                        f"default {BROAD.silence_weight})")
    p.add_argument("--dropout", type=float, default=None,
                   help="hidden, attention and feature-projection dropout (default: the checkpoint's)")
    p.add_argument("--deepen", default=None,
                   help="insert a new layer after these layer indices, keeping the function (e.g. 1,3; build.deepen)")
    p.add_argument("--aux-ramp", type=int, default=None,
                   help="steps over which the phoneme-frame loss's weight ramps up from 0 (a fresh auxiliary head)")
    p.add_argument("--time-budget", action="store_true",
                   help="--max-minutes is the run's length: the learning rate decays over it and it ends evaluated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    out = run_broad(a.stage, data_dir=a.data_dir, run_dir=a.run_dir,
                    blocks=a.blocks, steps=a.steps, init_from=a.init_from, max_minutes=a.max_minutes, seed=a.seed,
                    threads=a.threads, smoke=a.smoke, cached_features=a.cached_features,
                    **{k: v for k, v in (("lr", a.lr), ("warmup", a.warmup), ("batch_size", a.batch_size),
                                         ("max_batch_seconds", a.max_batch_seconds), ("eval_every", a.eval_every),
                                         ("weights", _weights(a.weights)), ("mask_time_prob", a.mask_time_prob),
                                         ("mask_feature_prob", a.mask_feature_prob),
                                         ("mask_feature_length", a.mask_feature_length),
                                         ("silence_weight", a.silence_weight), ("dropout", a.dropout),
                                         ("deepen", tuple(int(k) for k in a.deepen.split(",")) if a.deepen else None),
                                         ("time_budget", a.time_budget or None), ("aux_ramp", a.aux_ramp))
                                 if v is not None},
                    **({"freeze_feature_encoder": False} if a.unfreeze else {}))
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
