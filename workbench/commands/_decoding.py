"""The decoding options the transcribing commands share: ``--decoder --lm --beam-width --alpha
--beta --hotword`` (one parent parser), and their keyword form for the core."""
from __future__ import annotations

import argparse


def decoding_options() -> argparse.ArgumentParser:
    """A parent parser with the beam-search options (:mod:`workbench.asr.decoding`)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("decoding (default: greedy; --lm implies beam)")
    g.add_argument("--decoder", choices=["greedy", "beam"], default=None,
                   help="greedy: frame-wise argmax; beam: pyctcdecode prefix beam search (with --lm: LM fusion)")
    g.add_argument("--lm", metavar="NAME_OR_FILE", default=None,
                   help="n-gram LM: a registry name (demo-lm) or an ARPA/KenLM binary file")
    g.add_argument("--beam-width", type=int, default=None, help="beams kept per frame (default 100)")
    g.add_argument("--alpha", type=float, default=None, help="LM weight (default: the weight tuned for the LM, e.g. demo-lm's; else 0.5)")
    g.add_argument("--beta", type=float, default=None, help="word insertion bonus (default: tuned for the LM; else 1.5)")
    g.add_argument("--hotword", action="append", default=None, metavar="WORD",
                   help="a word to favour in beam search (repeat for several)")
    return p


def decoding_kwargs(args: argparse.Namespace) -> dict:
    """The decoding options given on the command line, as keywords (unset ones left out)."""
    names = {"decoder": "decoder", "lm": "lm", "beam_width": "beam_width", "alpha": "alpha", "beta": "beta",
             "hotword": "hotwords"}
    out = {key: getattr(args, attr) for attr, key in names.items() if getattr(args, attr, None) is not None}
    if "hotwords" in out:
        out["hotwords"] = tuple(out["hotwords"])
    return out
