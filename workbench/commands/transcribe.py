"""``workbench transcribe FILES...``: greedy CTC transcripts of audio files (one forward pass each)."""
from __future__ import annotations

import argparse
import json

from ._common import common_options, printable, report_problems
from ._decoding import decoding_kwargs, decoding_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", parents=[common_options(data=False, out=None, limit=False, batch_size=True),
                                                decoding_options()],
                       help="transcribe audio files with a CTC model")
    p.add_argument("files", nargs="+", help="audio files (wav/flac/ogg/mp3), or a manifest/folder")
    p.add_argument("--model", default="w2v2-tiny-ctc", help="registry name or local checkpoint folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line (id, path, transcript, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every file was transcribed; 1 when a row failed or a manifest row was skipped
    (each one is listed with its reason); a source with no usable row is a CorpusError."""
    import sys

    from ..asr.engine import analyze
    from ..data.corpus import as_corpus
    from ..errors import CorpusError
    from ..models.registry import default_registry

    reg = default_registry()
    model = reg.name_for(args.model)
    corpus = as_corpus(args.files[0] if len(args.files) == 1 else args.files)
    report_problems(corpus)
    if not len(corpus):
        raise CorpusError(printable(f"{' '.join(args.files)}: no usable utterance ({len(corpus.problems)} row(s) "
                                    "skipped, listed above); fix the manifest or give audio files"))
    result = analyze(corpus, model, registry=reg, device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    from ..asr.decoding import decode_result

    texts = decode_result(result, registry=reg, **decoding_kwargs(args))  # greedy unless --decoder/--lm
    failed = 0
    for a in result:
        failed += not a.ok
        if args.json:
            print(json.dumps({"id": a.id, "path": a.audio_path, "model": a.model, "revision": a.revision,
                              "duration": round(a.duration, 4), "transcript": texts.get(a.id) if a.ok else None,
                              "error": a.error}, ensure_ascii=False))
        elif a.ok:
            print(printable(a.id) + "\t" + printable(texts[a.id]))
        else:
            print(printable(a.id) + "\t" + printable(f"ERROR {a.error}"))
    skipped = len(corpus.problems)
    if failed or skipped:
        print(f"{len(result) - failed} transcribed, {failed} failed, {skipped} skipped", file=sys.stderr)
    return 1 if failed or skipped else 0
