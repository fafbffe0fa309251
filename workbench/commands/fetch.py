"""``workbench fetch NAME``: download a model's files into the normal caches (online only)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download a model (or voice) into the Hugging Face / workbench caches")
    p.add_argument("names", nargs="+", metavar="NAME", help="model or voice names (see `workbench models`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.registry import default_registry

    reg = default_registry()
    for name in args.names:  # an unknown name or an offline machine raises a WorkbenchError: exit code 2
        where = reg.fetch(name)
        print(f"{reg.spec(name).name}: {where}")
    return 0
