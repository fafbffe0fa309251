"""The recipe end to end: data -> pretraining -> CTC fine-tuning -> export -> evaluation card.

``workbench train`` calls :func:`run_recipe`.  Every stage is resumable; ``smoke=True`` runs a
few steps on a few utterances into a temporary folder to prove the code works (CI does this;
it never retrains the shipped checkpoints).
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from ..models.specs import PACKAGE_CHECKPOINTS
from .train import CTCTrainer, Pretrainer, TrainConfig, load_manifest

PRETRAIN = TrainConfig(steps=1200, lr=5e-4, warmup=100, batch_size=8, max_batch_seconds=32.0, save_every=100)
# One run with what the shipped checkpoint learned along the way (see recipe/card.py SHIPPED_HISTORY):
# the peak lr of its first part, its augmentations, and no dropout (the small model underfits).
FINETUNE = TrainConfig(steps=6600, lr=1e-3, warmup=300, batch_size=8, max_batch_seconds=32.0, save_every=200,
                       speed_perturb=0.1, pad_augment=0.3, concat_augment=0.2, dropout=0.0)


def run_recipe(run_dir: Path, *, data_dir: Path, stages=("pretrain", "ctc", "export"), smoke: bool = False,
               pretrain_steps: int | None = None, ctc_steps: int | None = None, max_minutes: float | None = None,
               export_to: Path | None = None, threads: int | None = None, init_from: Path | None = None,
               ctc_overrides: dict | None = None) -> dict:
    """Run the chosen stages; returns paths and whether each stage finished."""
    run_dir = Path(run_dir)
    manifest = Path(data_dir) / "train" / "manifest.jsonl"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} not found: make the data first (workbench train --stage data)")
    rows = load_manifest(manifest, limit=6 if smoke else None)
    pre_cfg = replace(PRETRAIN, steps=pretrain_steps or (3 if smoke else PRETRAIN.steps), max_minutes=max_minutes,
                      threads=threads, **({"save_every": 2, "log_every": 1, "warmup": 1} if smoke else {}))
    ctc_cfg = replace(FINETUNE, steps=ctc_steps or (3 if smoke else FINETUNE.steps), max_minutes=max_minutes,
                      threads=threads, **({"save_every": 2, "log_every": 1, "warmup": 1} if smoke else {}),
                      **(ctc_overrides or {}))
    out: dict = {"rows": len(rows)}
    pre_export = run_dir / "export" / "w2v2-tiny"
    if "pretrain" in stages:
        pre = Pretrainer(rows, run_dir, pre_cfg)
        out["pretrain_done"] = pre.run()
        pre.export(pre_export)
        out["pretrain_minutes"] = round(pre.elapsed / 60, 2)
    ctc_export = run_dir / "export" / "w2v2-tiny-ctc"
    if "ctc" in stages:
        start = init_from or (pre_export if pre_export.exists() else None)
        ctc = CTCTrainer(rows, run_dir, ctc_cfg, init_from=start)
        out["ctc_done"] = ctc.run()
        ctc.export(ctc_export)
        out["ctc_minutes"] = round(ctc.elapsed / 60, 2)
    if "export" in stages and export_to is not None:
        for name, src in (("w2v2-tiny", pre_export), ("w2v2-tiny-ctc", ctc_export)):
            if src.exists():
                dst = Path(export_to) / name
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.copytree(src, dst)
                (dst / "training_log.json").write_text(
                    (run_dir / ("pretrain" if name == "w2v2-tiny" else "ctc") / "log.json").read_text())
        out["exported_to"] = str(export_to)
    return out


def default_export_dir() -> Path:
    return PACKAGE_CHECKPOINTS
