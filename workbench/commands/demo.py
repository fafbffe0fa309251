"""``workbench demo [--out DIR] [--quick]``: evaluate, align, analyse codes and embeddings, synthesize
and round-trip, offline on the default corpus and models; writes an HTML report and says where."""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from ..demo import DEFAULT_ASR, DEFAULT_PRETRAINING, DEFAULT_VOICES

    p = sub.add_parser("demo", help="run the whole workbench once on the default corpus and write an HTML report")
    p.add_argument("--out", type=Path, default=Path("workbench-demo"), help="output folder (default ./workbench-demo)")
    p.add_argument("--quick", action="store_true",
                   help="12 utterances, 2 sentences, PCA instead of UMAP (about a minute on 2 cores)")
    p.add_argument("--data", default=None, help="manifest or folder instead of datasets/kokoro-eval")
    p.add_argument("--model", default=DEFAULT_ASR, help=f"CTC model name or checkpoint folder (default {DEFAULT_ASR})")
    p.add_argument("--pretraining-model", default=DEFAULT_PRETRAINING,
                   help=f"pretraining model name or checkpoint folder (default {DEFAULT_PRETRAINING})")
    p.add_argument("--voice", action="append", default=None,
                   help=f"Kokoro voice (repeat; default {' and '.join(DEFAULT_VOICES)})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import DEFAULT_VOICES, ROOT, run_demo
    from ..models.registry import default_registry

    # one line per step: no progress bars or library deprecation chatter in between
    os.environ.setdefault("WORKBENCH_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers reads it when first imported
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
    reg = default_registry()
    asr = reg.name_for(args.model)
    pretraining = reg.name_for(args.pretraining_model)
    print(f"workbench demo: {asr} (CTC), {pretraining} (pretraining), Kokoro-82M; writing to {args.out}/"
          + (" (quick)" if args.quick else ""))
    result = run_demo(args.out, quick=args.quick, data=args.data, asr_model=asr, pretraining_model=pretraining,
                      voices=tuple(args.voice or DEFAULT_VOICES), registry=reg)
    notebooks = ROOT / "notebooks"
    print()
    if result.report_path is not None:
        print(f"report:    {result.report_path.resolve().as_uri()}")
    print(f"results:   {result.out}/ (evaluation/, alignments.ctm, synthesis/, roundtrip/, report.html)")
    if notebooks.is_dir():
        rel = _relative(notebooks)
        print(f"notebooks: jupyter lab {rel}/   (start with 01_tour.ipynb)")
        print(f"app:       voila {rel}/01_tour.ipynb --Voila.ip=127.0.0.1   (or `workbench app` for the linked app)")
    failed = result.failed
    if failed:
        print(f"{len(failed)} of {len(result.steps)} steps did not complete: {', '.join(s.name for s in failed)}")
        for s in failed:
            if s.error:
                print(f"--- {s.name}\n{s.error.rstrip()}")
        return 1
    print(f"all {len(result.steps)} steps completed")
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)
