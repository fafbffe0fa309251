"""``workbench codebook --model NAME --data MANIFEST --out DIR``: quantizer codebook usage.

Output folder::

    DIR/usage.csv            per group: frames, codes used, hard and soft perplexity, top codes
    DIR/usage.json           the same, plus the summary (distinct pairs), raw counts, provenance
    DIR/by_speaker.csv       the per-speaker comparison (``--by``)
    DIR/code_chars.csv       purest codes per character (when a paired CTC model is available)
    DIR/code_chars.json      NMI per group and for the pair
    DIR/histogram_g<G>.png, perplexity.png, code_char_heatmap.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import common_options, prepare


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codebook", parents=[common_options(dtype=False, out='output folder')], help="quantizer codebook usage of a pretraining model (CSV, JSON, figures)")
    p.add_argument("--model", required=True, help="pretraining model: registry name or local checkpoint folder")
    p.add_argument("--ctc", default=None,
                   help="CTC model for character labels (default: the model's paired CTC model, if any)")
    p.add_argument("--by", default="speaker", choices=["speaker", "utterance", "none"],
                   help="compare usage per speaker (default), per utterance, or not at all")
    p.add_argument("--top", type=int, default=40, help="codes shown in the code x character heatmap")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..asr.engine import analyze
    from ..errors import WorkbenchError
    from ..plots.representations import plot_perplexity
    from ..representations.codebook import code_characters, code_usage, paired_ctc_name

    ctx = prepare(args)
    reg, model, corpus, out = ctx.registry, ctx.model, ctx.corpus, ctx.out
    result = analyze(corpus, model, registry=reg, codes=True, device=args.device)
    for bad in result.errors:
        print(f"skipped {bad.id}: {bad.error}")
    usage = code_usage(result, by=None if args.by == "none" else args.by)
    usage.to_frame().to_csv(out / "usage.csv", index=False)
    usage.save(out / "usage.json")
    if usage.parts:
        usage.compare_frame().to_csv(out / f"by_{args.by}.csv", index=False)
    for g in range(usage.num_groups):
        _save(usage.plot(group=g), out / f"histogram_g{g}.png")
    _save(plot_perplexity(usage), out / "perplexity.png")

    try:
        ctc = reg.name_for(args.ctc) if args.ctc else paired_ctc_name(model, reg)
        labels = analyze(corpus, ctc, registry=reg, device=args.device)
        cc = code_characters(result, labels)
        cc.purest(k=3).to_csv(out / "code_chars.csv", index=False)
        cc.save(out / "code_chars.json")
        _save(cc.plot(group=0, top=args.top), out / "code_char_heatmap.png")
        nmi = ", ".join(f"{r.group}: {r.nmi:.3f}" for r in cc.to_frame().itertuples())
        print(f"codes vs characters of {ctc} ({cc.label_sources}): NMI {nmi}")
    except WorkbenchError as exc:
        print(f"codes vs characters skipped: {exc}")

    s = usage.summary()
    print(usage.to_frame().to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep=""))
    print(f"\n{s['frames']} frames of {s['utterances']} utterances; hard perplexity {s['hard_perplexity_sum']:.1f}, "
          f"soft {s['soft_perplexity_sum']:.1f} (sum over groups); {s['distinct_pairs']}/{s['possible_pairs']} pairs. "
          f"Written to {out}")
    return 0 if result.ok else 1


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
