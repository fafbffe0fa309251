"""``workbench transcribe FILES...``: greedy CTC transcripts of audio files (one forward pass each)."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with a CTC model")
    p.add_argument("files", nargs="+", help="audio files (wav/flac/ogg/mp3), or a manifest/folder")
    p.add_argument("--model", default="w2v2-tiny-ctc", help="registry name or local checkpoint folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line (id, path, transcript, ...)")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import analyze
    from ..registry import default_registry
    from ._model_args import resolve_model

    reg = default_registry()
    model = resolve_model(reg, args.model)
    source = args.files[0] if len(args.files) == 1 else args.files
    result = analyze(source, model, registry=reg, device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    failed = 0
    for a in result:
        failed += not a.ok
        if args.json:
            print(json.dumps({"id": a.id, "path": a.audio_path, "model": a.model, "revision": a.revision,
                              "duration": round(a.duration, 4), "transcript": a.transcript if a.ok else None,
                              "error": a.error}, ensure_ascii=False))
        elif a.ok:
            print(f"{a.id}\t{a.transcript}")
        else:
            print(f"{a.id}\tERROR {a.error}")
    return 1 if failed else 0
