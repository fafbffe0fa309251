"""A compact copy of a broad data folder, for a machine the training speech must travel to.

A GPU lent for minutes gets the working tree and a few tens of MB more, so the speech goes
as Ogg/Opus (libsndfile's encoder, ~18 kbit/s at ``level`` 0.95, a tenth of the FLAC size)
with the same manifests.  Measured on ``datasets/kokoro-eval`` with the shipped run-4 model:
greedy CER 27.3% on the FLACs, 28.0% on Opus at 0.95 (29 kbit/s, 0.9: 27.9%), so the codec
costs the recogniser well under a point.  The ``splice`` source is left out: the GPU trainer
makes it on the fly from the Kokoro rows (:class:`.device_train.SpliceStore`).
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _encode(src: Path, dst: Path, level: float) -> int:
    import soundfile as sf

    audio, sr = sf.read(str(src), dtype="float32")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), audio, sr, format="OGG", subtype="OPUS", compression_level=level)
    return dst.stat().st_size


def compact(data_dir: Path, out_dir: Path, *, budget_mb: dict[str, float], level: float = 0.95,
            threads: int = 2) -> dict:
    """Opus copies of each source's rows, in manifest order, until its ``budget_mb`` is spent.

    ``budget_mb`` maps a source (``kokoro``, ``espeak``, ...) to megabytes; returns per source
    the rows, hours and bytes written.  Rows already in ``out_dir`` are kept (rerun to resume).
    """
    out: dict = {}
    for source, budget in budget_mb.items():
        manifest = Path(data_dir) / source / "manifest.jsonl"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} does not exist: make the data first "
                                    "(python -m workbench.recipe.broad_run broad-data)")
        rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        dest = Path(out_dir) / source
        kept, used, seconds = [], 0, 0.0
        todo = []
        for row in rows:
            new = {**row, "audio_filepath": str(Path(row["audio_filepath"]).with_suffix(".opus"))}
            todo.append((manifest.parent / row["audio_filepath"], dest / new["audio_filepath"], new))
        full = False
        with ThreadPoolExecutor(threads) as pool:
            for at in range(0, len(todo), 64):  # in chunks, so a small budget encodes little more than it keeps
                chunk = todo[at:at + 64]
                sizes = pool.map(lambda t: t[1].stat().st_size if t[1].exists() else _encode(t[0], t[1], level), chunk)
                for (_, _, new), size in zip(chunk, sizes):
                    if full or used + size > budget * 1e6:
                        full = True
                        continue
                    used += size
                    seconds += new["duration"]
                    kept.append(new)
                if full:
                    break
        for _, dst, _ in todo[len(kept):]:  # encoded past the budget: they must not travel
            dst.unlink(missing_ok=True)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept),
                                             encoding="utf-8")
        out[source] = {"rows": len(kept), "hours": round(seconds / 3600, 3), "mb": round(used / 1e6, 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.compact", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path("artifacts/broad-data"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", default="kokoro=20,espeak=4", help="megabytes per source, e.g. kokoro=20,espeak=4")
    p.add_argument("--level", type=float, default=0.95, help="libsndfile Opus compression level (0-1)")
    a = p.parse_args(argv)
    from .broad_run import _weights

    print(json.dumps(compact(a.data_dir, a.out, budget_mb=_weights(a.budget), level=a.level), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
