"""``workbench report --model NAME [--model NAME2] --data MANIFEST --out report.html``: one
self-contained HTML report comparing ASR systems on a corpus (``NAME@int8`` runs a model in int8).

The same document as ``workbench demo``'s evaluation part and ``build_evaluation_report`` in a
notebook: systems, corpus figures with 95% intervals, paired tests, per-speaker tables, the
worst utterances with diffs, audio and forced alignments, and the provenance (models,
revisions, package versions, date)."""
from __future__ import annotations

import argparse

from ._common import common_options, prepare


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", parents=[common_options(out="the HTML file to write", device=False, dtype=False,
                                                          batch_size=True)],
                       help="compare ASR systems on a corpus in one self-contained HTML report")
    p.add_argument("--model", action="append", required=True, metavar="NAME[@DTYPE]",
                   help="registry name or checkpoint folder, optionally @int8/@bfloat16/@float16; repeat to "
                        "compare (first = baseline)")
    p.add_argument("--title", default=None, help="report title (default: ASR evaluation on <corpus>)")
    p.add_argument("--normalizer", choices=["default", "raw"], default="default")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals and tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worst", type=int, default=10, help="list the N worst utterances with diffs")
    p.add_argument("--audio", type=int, default=3, help="embed the audio of the N worst utterances")
    p.add_argument("--alignments", type=int, default=3, help="forced-alignment figures of the N worst utterances")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.systems import System, evaluate_systems, parse_system
    from ..reports.evaluation import build_evaluation_report

    parsed = [parse_system(value) for value in args.model]
    models = list(dict.fromkeys(s.model for s in parsed))  # one folder given twice (fp32 and @int8) is one model
    ctx = prepare(args, models=models, make_out=False)
    reg, corpus, names = ctx.registry, ctx.corpus, dict(zip(models, ctx.models))
    systems = [System(names[s.model], s.dtype, s.device) for s in parsed]
    ev = evaluate_systems(corpus, systems, registry=reg, normalizer=args.normalizer, n_boot=args.n_boot,
                          seed=args.seed, batch_size=args.batch_size, progress=False)
    rep = build_evaluation_report(ev, title=args.title, worst=args.worst, audio=args.audio,
                                  alignments=args.alignments)
    out = rep.save(args.out)
    print(ev.summary())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
