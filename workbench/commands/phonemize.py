"""``workbench phonemize TEXT``: misaki phonemes (offline), optionally with the token table."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phonemize", help="phonemes of a text (misaki G2P, offline) and the token table")
    p.add_argument("text", nargs="?", help="the text ('-' or none: read standard input)")
    p.add_argument("--language", default="en-us", help="en-us (default) or en-gb")
    p.add_argument("--table", action="store_true",
                   help="print the token table (text, POS tag, phonemes, source, flag) as TSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tts.phonemize import phonemize

    text = sys.stdin.read() if args.text in (None, "-") else args.text
    result = phonemize(text, language=args.language)
    if args.table:
        frame = result.to_frame()[["text", "tag", "phonemes", "source", "flag"]]
        frame = frame.assign(text=frame.text.str.replace("\t", " "))
        print(frame.to_csv(sep="\t", index=False), end="")
    else:
        print(result.phonemes)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
