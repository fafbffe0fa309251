"""``workbench evaluate --model NAME [--model NAME2] --data MANIFEST --out DIR``: WER/CER tables,
paired comparison (2+ models) and a self-contained HTML report."""
from __future__ import annotations

import argparse

from ._common import common_options, prepare
from ._decoding import decoding_kwargs, decoding_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", parents=[common_options(batch_size=True), decoding_options()],
                       help="score CTC models on a corpus: tables, comparison, HTML report")
    p.add_argument("--model", action="append", required=True,
                   help="registry name or local checkpoint folder; repeat to compare (first = baseline)")
    p.add_argument("--normalizer", choices=["default", "raw"], default="default",
                   help="default: the model alphabet (A-Z, apostrophe; digits spelled out); raw: whitespace only")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals and tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--audio", type=int, default=3, help="embed the audio of the N worst utterances in the report")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate

    ctx = prepare(args)
    reg, models, corpus = ctx.registry, ctx.models, ctx.corpus
    ev = evaluate(corpus, models, registry=reg, normalizer=args.normalizer, n_boot=args.n_boot, seed=args.seed,
                  device=args.device, dtype=args.dtype, batch_size=args.batch_size, **decoding_kwargs(args))
    out = ev.save(args.out, report=not args.no_report, audio=args.audio)
    print(ev.summary())
    if corpus.problems:  # each one is listed on stderr by prepare(); the count stays beside the summary
        print(f"{len(corpus.problems)} manifest row(s) skipped (listed on stderr)")
    print(f"wrote {out}/ (per_utterance.csv/.jsonl, corpus.csv/.json"
          + (", comparison_*" if ev.comparison is not None else "")
          + ("" if args.no_report else ", report.html") + ")")
    return 0
