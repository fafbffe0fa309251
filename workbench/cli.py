"""The ``workbench`` command line.  Each subcommand lives in ``workbench/commands/<name>.py``
and exposes ``register(subparsers)``; this module only discovers and dispatches them."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .errors import WorkbenchError


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = argparse.ArgumentParser(prog="workbench", description="Look inside wav2vec2 and Kokoro-82M.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        from .commands._common import printable  # terminal escape codes in a message are shown, not run

        print(f"workbench {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
