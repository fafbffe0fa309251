"""What the corpus commands share: one parent parser for the common options, and one preamble
(registry, model names, corpus, output folder) so that every command treats them alike."""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DATA_HELP = "manifest (.jsonl/.csv), LibriSpeech folder or audio folder"


def common_options(*, data: bool = True, out: str | None = "output folder", limit: bool = True,
                   device: bool = True, dtype: bool = True, batch_size: bool = False) -> argparse.ArgumentParser:
    """A parent parser (``add_parser(..., parents=[common_options(...)])``) with the options the
    corpus commands share: ``--data --out --limit --device --dtype --batch-size``."""
    p = argparse.ArgumentParser(add_help=False)
    if data:
        p.add_argument("--data", required=True, help=DATA_HELP)
    if out:
        p.add_argument("--out", required=True, type=Path, help=out)
    if limit:
        p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    if device:
        p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    if dtype:
        p.add_argument("--dtype", default="float32", help="float32 (exact), float16/bfloat16 (GPU), int8 (CPU)")
    if batch_size:
        p.add_argument("--batch-size", type=int, default=None,
                       help="clips per forward pass; default: one clip per pass for checkpoints without an "
                            "attention mask (exact), 8 for those with one. Batching a mask-less checkpoint "
                            "pads clips with zeros, which changes their transcripts (a GPU speed option)")
    return p


@dataclass
class Prepared:
    """The shared preamble's result."""

    registry: object
    models: list[str]
    corpus: object
    out: Path | None

    @property
    def model(self) -> str:
        return self.models[0]


def prepare(args: argparse.Namespace, *, models: list[str] | None = None, make_out: bool = True) -> Prepared:
    """Registry, model names (a path registers a local checkpoint), the corpus (``--limit``
    applied, skipped rows reported on stderr) and the output folder (created).

    A corpus with no usable row is a :class:`~workbench.errors.CorpusError`: a command never
    "succeeds" on nothing.
    """
    from ..data.corpus import Corpus
    from ..errors import CorpusError
    from ..models.registry import default_registry

    reg = default_registry()
    values = models if models is not None else ([args.model] if isinstance(args.model, str) else list(args.model))
    names = [reg.name_for(v) for v in values]
    corpus = Corpus.load(args.data)
    if getattr(args, "limit", None):
        corpus = corpus.subset(args.limit)
    report_problems(corpus)
    if not len(corpus):
        raise CorpusError(f"{args.data}: no usable utterance ({len(corpus.problems)} row(s) skipped, listed "
                          "above); fix the manifest or point --data at another corpus")
    out = getattr(args, "out", None)
    if out is not None and make_out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
    return Prepared(reg, names, corpus, out)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """``text`` safe to print on a terminal: control characters (ESC, BEL, CR, bidi overrides, tabs)
    are shown as escapes like ``\\x1b`` instead of being sent raw; newlines are kept."""
    text = str(text).replace("\t", "\\t")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def report_problems(corpus, *, stream=None) -> None:
    """One line per manifest row that was skipped (row, id when known, reason), and their count."""
    stream = stream or sys.stderr
    problems = list(getattr(corpus, "problems", []) or [])
    for p in problems:
        uid = getattr(p, "id", None)
        who = f"{p.row}" + (f" (id {uid!r})" if uid is not None and uid != p.row else "")
        print(printable(f"skipped {who} of {p.source}: {p.reason}"), file=stream)
    if problems:
        print(f"{len(problems)} row(s) skipped, {len(corpus)} usable", file=stream)
