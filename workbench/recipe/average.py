"""Weight averaging of checkpoints of one architecture (``python -m workbench.recipe.average``).

Averaging the weights of checkpoints from one lineage is the standard last step of many ASR recipes
(ESPnet and fairseq average their last or best epochs) and the idea of model soups and WiSE-FT
(Wortsman et al. 2022: interpolating a model and its fine-tuned continuation).  The shipped demo
recogniser is one (issue 16): run 6 and its continuation run 7, half each.  Run 7 alone had sharper
posteriors that left the LM less to choose from; the average keeps most of run 7's greedy gain and
decodes better with ``demo-lm`` than either (chosen on ``datasets/kokoro-dev``; the card has the table).

The first checkpoint gives the output everything but the weights (config, processor files, training
log); ``average.json`` records the parts, their weights and their files' SHA-256.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

WEIGHTS = "model.safetensors"
RECORD = "average.json"


def parse_part(text: str) -> tuple[Path, float]:
    """``FOLDER`` or ``FOLDER:WEIGHT`` -> (folder, weight); weight 1 when left out."""
    folder, sep, weight = text.rpartition(":")
    if not sep or not weight.replace(".", "", 1).isdigit():
        return Path(text), 1.0
    return Path(folder), float(weight)


def average_checkpoints(parts: Sequence[tuple[Path | str, float]], out: Path | str) -> Path:
    """Write the weighted average of ``parts`` (Hugging Face folders with ``model.safetensors``) to ``out``.

    Weights are normalised to sum to 1.  Every part must hold the same tensors with the same shapes
    and dtypes; integer tensors (buffers) must be equal and are copied.  ``out`` may be one of the parts'
    folders: everything is read before anything is written.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from ..models.assets import sha256_file

    parts = [(Path(p), float(w)) for p, w in parts]
    if not parts:
        raise ValueError("give at least one checkpoint folder to average")
    for folder, weight in parts:
        if not (folder / WEIGHTS).is_file():
            raise FileNotFoundError(f"{folder}: no {WEIGHTS}; give Hugging Face checkpoint folders "
                                    "(as `save_pretrained` writes them)")
        if not weight > 0:
            raise ValueError(f"{folder}: weight {weight} must be positive")
    total = sum(w for _, w in parts)
    states = [(load_file(str(folder / WEIGHTS)), w / total) for folder, w in parts]
    first = states[0][0]
    for (folder, _), (state, _) in zip(parts[1:], states[1:]):
        if state.keys() != first.keys():
            diff = sorted(state.keys() ^ first.keys())
            raise ValueError(f"{folder} and {parts[0][0]} hold different tensors ({len(diff)} differ, e.g. "
                             f"{diff[0]}): only checkpoints of one architecture can be averaged")
        for key, tensor in first.items():
            if state[key].shape != tensor.shape or state[key].dtype != tensor.dtype:
                raise ValueError(f"{folder}: {key} is {tuple(state[key].shape)} {state[key].dtype}, "
                                 f"{parts[0][0]} has {tuple(tensor.shape)} {tensor.dtype}: not one architecture")
            if not tensor.is_floating_point() and not torch.equal(state[key], tensor):
                raise ValueError(f"{folder}: integer tensor {key} differs from {parts[0][0]}'s; cannot average it")
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            acc = sum(weight * state[key].double() for state, weight in states)
            averaged[key] = acc.to(tensor.dtype).contiguous()
        else:
            averaged[key] = tensor.contiguous()
    record = {"parts": [{"folder": str(folder), "weight": round(w / total, 6), "sha256": sha256_file(folder / WEIGHTS)}
                        for folder, w in parts],
              "note": "weights averaged tensor by tensor; config, processor files and training log from the first part"}
    extras = {f.name: f.read_bytes() for f in parts[0][0].iterdir() if f.is_file() and f.name not in (WEIGHTS, RECORD)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in extras.items():
        (out / name).write_bytes(data)
    save_file(averaged, str(out / WEIGHTS), metadata={"format": "pt"})
    (out / RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.average", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="folder to write (may be one of the parts)")
    p.add_argument("parts", nargs="+", help="checkpoint folders, each optionally FOLDER:WEIGHT (default weight 1)")
    args = p.parse_args(argv)
    try:
        out = average_checkpoints([parse_part(t) for t in args.parts], args.out)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"average: {exc}")
    print(f"wrote {out} (the average of {len(args.parts)} checkpoints; parts in {out / RECORD})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
