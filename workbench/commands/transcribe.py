"""``workbench transcribe FILES...``: greedy CTC transcripts of audio files (one forward pass each)."""
from __future__ import annotations

import argparse
import json

from ._common import common_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", parents=[common_options(data=False, out=None, limit=False, batch_size=True)],
                       help="transcribe audio files with a CTC model")
    p.add_argument("files", nargs="+", help="audio files (wav/flac/ogg/mp3), or a manifest/folder")
    p.add_argument("--model", default="w2v2-tiny-ctc", help="registry name or local checkpoint folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line (id, path, transcript, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..asr.engine import analyze
    from ..models.registry import default_registry

    reg = default_registry()
    model = reg.name_for(args.model)
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
