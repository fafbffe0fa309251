"""``workbench report --model NAME [--model NAME2] --data MANIFEST --out report.html``: one
self-contained HTML report comparing ASR systems on a corpus (``NAME@int8`` runs a model in int8).

The same document as ``workbench demo``'s evaluation part and ``build_evaluation_report`` in a
notebook: systems, corpus figures with 95% intervals, paired tests, per-speaker tables, the
worst utterances with diffs, audio and forced alignments, and the provenance (models,
revisions, package versions, date)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare ASR systems on a corpus in one self-contained HTML report")
    p.add_argument("--model", action="append", required=True, metavar="NAME[@DTYPE]",
                   help="registry name or checkpoint folder, optionally @int8/@bfloat16/@float16; repeat to "
                        "compare (first = baseline)")
    p.add_argument("--data", required=True, help="manifest (.jsonl/.csv), LibriSpeech folder or audio folder")
    p.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    p.add_argument("--title", default=None, help="report title (default: ASR evaluation on <corpus>)")
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.add_argument("--normalizer", choices=["default", "raw"], default="default")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals and tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worst", type=int, default=10, help="list the N worst utterances with diffs")
    p.add_argument("--audio", type=int, default=3, help="embed the audio of the N worst utterances")
    p.add_argument("--alignments", type=int, default=3, help="forced-alignment figures of the N worst utterances")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..corpus import Corpus
    from ..registry import default_registry
    from ..reporting import System, build_evaluation_report, evaluate_systems, parse_system
    from ._model_args import resolve_model

    reg = default_registry()
    systems, names = [], {}
    for value in args.model:
        s = parse_system(value)
        if s.model not in names:  # one checkpoint folder given twice (e.g. fp32 and @int8) is one model
            names[s.model] = resolve_model(reg, s.model)
        systems.append(System(names[s.model], s.dtype, s.device))
    corpus = Corpus.load(args.data)
    if args.limit:
        corpus = Corpus(corpus.utterances[: args.limit], name=corpus.name, source=corpus.source,
                        problems=corpus.problems)
    ev = evaluate_systems(corpus, systems, registry=reg, normalizer=args.normalizer, n_boot=args.n_boot,
                          seed=args.seed, batch_size=args.batch_size, progress=False)
    rep = build_evaluation_report(ev, title=args.title, worst=args.worst, audio=args.audio,
                                  alignments=args.alignments)
    out = rep.save(args.out)
    print(ev.summary())
    for problem in corpus.problems:
        print(f"skipped {problem.row} of {problem.source}: {problem.reason}")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
