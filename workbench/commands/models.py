"""``workbench models``: the model catalogue with an "available offline" column (no network)."""
from __future__ import annotations

import argparse

from ..models.specs import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model catalogue and what is available offline")
    p.add_argument("--kind", choices=KINDS, default=None, help="only models of this kind")
    p.add_argument("--voices", action="store_true", help="include the Kokoro voice packs (kind 'voice')")
    p.add_argument("--wide", action="store_true", help="also show source location, licence and aliases")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.registry import default_registry

    include_voices = args.voices or args.kind == "voice"
    table = default_registry().catalog(kind=args.kind, include_voices=include_voices)
    columns = ["name", "kind", "source", "available_offline", "sample_rate", "description"]
    if args.wide:
        columns[3:3] = ["location", "license", "aliases"]
    if table.empty:
        print("no models match")
        return 0
    table = table[columns].assign(available_offline=table["available_offline"].map({True: "yes", False: "no"}))
    print(table.to_string(index=False, max_colwidth=None if args.wide else 70))
    offline = int((table["available_offline"] == "yes").sum())
    print(f"\n{offline} of {len(table)} available offline. "
          "Get a hub model with `workbench fetch NAME` on a machine with internet.")
    return 0
