"""``workbench evaluate --model NAME [--model NAME2] --data MANIFEST --out DIR``: WER/CER tables,
paired comparison (2+ models) and a self-contained HTML report."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score CTC models on a corpus: tables, comparison, HTML report")
    p.add_argument("--model", action="append", required=True,
                   help="registry name or local checkpoint folder; repeat to compare (first = baseline)")
    p.add_argument("--data", required=True, help="manifest (.jsonl/.csv), LibriSpeech folder or audio folder")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--normalizer", choices=["default", "raw"], default="default",
                   help="default: the model alphabet (A-Z, apostrophe; digits spelled out); raw: whitespace only")
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals and tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--audio", type=int, default=3, help="embed the audio of the N worst utterances in the report")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..corpus import Corpus
    from ..evaluation import evaluate
    from ..registry import default_registry
    from ._model_args import resolve_model

    reg = default_registry()
    models = [resolve_model(reg, m) for m in args.model]
    corpus = Corpus.load(args.data)
    if args.limit:
        corpus = Corpus(corpus.utterances[: args.limit], name=corpus.name, source=corpus.source,
                        problems=corpus.problems)
    ev = evaluate(corpus, models, registry=reg, normalizer=args.normalizer, n_boot=args.n_boot, seed=args.seed,
                  device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    out = ev.save(args.out, report=not args.no_report, audio=args.audio)
    print(ev.summary())
    for problem in corpus.problems:
        print(f"skipped {problem.row} of {problem.source}: {problem.reason}")
    print(f"wrote {out}/ (per_utterance.csv/.jsonl, corpus.csv/.json"
          + (", comparison_*" if ev.comparison is not None else "")
          + ("" if args.no_report else ", report.html") + ")")
    return 0
