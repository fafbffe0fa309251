"""``workbench embed --model NAME --data MANIFEST --layer L --out DIR [--method umap|pca]``.

Writes the per-frame 2-D projection of one layer's hidden states with its labels::

    DIR/projection.csv    utterance, speaker, frame, time, char, blank, word, word_index, error, x, y
    DIR/projection.json   method, options, provenance
    DIR/scatter.png       the map coloured by ``--color-by``

Labels come from the model's own CTC alignment, or for a pretraining model from its paired
CTC model (``--ctc`` to choose another).
"""
from __future__ import annotations

import argparse

from ._common import common_options, prepare


def register(sub: argparse._SubParsersAction) -> None:
    from ..representations.embeddings import COLOR_BY

    p = sub.add_parser("embed", parents=[common_options(dtype=False, out='output folder')], help="2-D projection (UMAP/PCA) of one layer's frames with labels (CSV + PNG)")
    p.add_argument("--model", required=True, help="registry name or local checkpoint folder (CTC or pretraining)")
    p.add_argument("--layer", required=True, type=int, help="0 = feature projection ... N = last layer; -1 = last")
    p.add_argument("--method", choices=["umap", "pca"], default="umap")
    p.add_argument("--ctc", default=None, help="CTC model for labels (default: the model itself or its paired one)")
    p.add_argument("--color-by", choices=COLOR_BY, default="char")
    p.add_argument("--subsample", type=int, default=20_000, help="project at most this many frames (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..asr.engine import analyze
    from ..errors import WorkbenchError
    from ..representations.codebook import paired_ctc_name
    from ..representations.embeddings import frame_table, project

    ctx = prepare(args)
    reg, model, corpus, out = ctx.registry, ctx.model, ctx.corpus, ctx.out
    result = analyze(corpus, model, registry=reg, layers=[args.layer], device=args.device)
    for bad in result.errors:
        print(f"skipped {bad.id}: {bad.error}")
    layer = args.layer if args.layer >= 0 else max(next(a for a in result.ok).hidden_states)
    labels = None
    if args.ctc or reg.spec(model).kind != "ctc":
        try:
            ctc = reg.name_for(args.ctc) if args.ctc else paired_ctc_name(model, reg)
            labels = analyze(corpus, ctc, registry=reg, device=args.device)
        except WorkbenchError as exc:
            labels = {}
            print(f"no character labels: {exc}")
    table = frame_table(result, layer, labels=labels, errors=None if labels == {} else "auto")
    emb = project(table, method=args.method, subsample=args.subsample, seed=args.seed)
    emb.save(out / "projection.csv")
    emb.plot(color_by=args.color_by).savefig(out / "scatter.png", dpi=110, bbox_inches="tight")
    note = f" ({emb.note})" if emb.note else ""
    print(f"{len(emb)} of {len(table)} frames of layer {layer} projected with {emb.method}{note}; "
          f"labels {table.label_source}. Written to {out}")
    return 0 if result.ok else 1
