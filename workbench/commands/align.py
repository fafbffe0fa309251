"""``workbench align --model NAME --data MANIFEST --out DIR``: forced alignment of every utterance
to its reference text, written as Praat TextGrids, one sclite CTM and JSON.

Output folder::

    DIR/textgrid/<id>.TextGrid   words + chars tiers
    DIR/json/<id>.json           words, characters, confidences, provenance
    DIR/alignments.ctm           every utterance's words (sclite CTM)
    DIR/words.csv                every aligned word (start, end, confidence, low_confidence)
    DIR/errors.csv               one row per utterance that could not be aligned (id, stage, error)

A bad utterance (unreadable audio, no reference, text that does not fit) becomes a row in
``errors.csv``; every other utterance is still written.  Exit status 0 when at least one
utterance was aligned (or the corpus is empty), 1 when none was.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import re

from ._common import common_options, prepare, printable

FORMAT_CHOICES = ("textgrid", "ctm", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", parents=[common_options()],
                       help="forced-align a corpus to its reference texts (TextGrid, CTM, JSON)")
    p.add_argument("--model", required=True, help="CTC model: registry name or local checkpoint folder")
    p.add_argument("--format", nargs="+", choices=FORMAT_CHOICES, default=list(FORMAT_CHOICES),
                   help="which files to write (default: all three)")
    p.add_argument("--star", action="store_true", help="add wildcard states that absorb untranscribed speech")
    p.add_argument("--star-penalty", type=float, default=1.0, help="nats per frame a star pays (default 1)")
    p.add_argument("--drop-unknown", action="store_true",
                   help="align without characters the model cannot emit (listed in the JSON) instead of failing")
    p.add_argument("--beam", type=float, default=None, help="prune the trellis to this many nats (long audio)")
    p.add_argument("--threshold", type=float, default=0.5, help="word confidence below which a word is flagged")
    p.set_defaults(func=run)


def safe_name(uid: str) -> str:
    """A file name for an utterance id: the id itself when it is already a plain name, else the id
    with path separators and odd characters replaced plus 8 hex digits of its sha256, so two ids
    (``x`` and ``../x``) never share a file and no name can leave the output folder."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", uid).strip("._-")[:100] or "utterance"
    if plain == uid:
        return plain
    return f"{plain}-{hashlib.sha256(uid.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


class NameCollisions:
    """File names handed out so far (case-folded, for case-insensitive file systems)."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    def claim(self, uid: str) -> str:
        """The file name of ``uid``; a :class:`~workbench.errors.CorpusError` when another id has it."""
        from ..errors import CorpusError

        name = safe_name(uid)
        other = self.owner.setdefault(name.casefold(), uid)
        if other != uid:
            raise CorpusError(f"utterance {uid!r} would be written as {name!r}, the file name of utterance "
                              f"{other!r} (ids differing only in case); give the utterances distinct ids")
        return name


def run(args: argparse.Namespace) -> int:
    from ..asr.alignment import forced_align
    from ..asr.alignment_files import write_ctm, write_json, write_textgrid
    from ..asr.engine import analyze
    from ..errors import WorkbenchError

    ctx = prepare(args)
    reg, model, corpus, out = ctx.registry, ctx.model, ctx.corpus, ctx.out
    errors: list[dict] = [{"id": p.row, "stage": "load",
                           "error": p.reason if p.id is None else f"id {p.id!r}: {p.reason}"}
                          for p in corpus.problems]
    analyses = analyze(corpus, model, registry=reg, device=args.device, dtype=args.dtype)
    done = []
    word_rows = []
    names = NameCollisions()
    for a in analyses:
        if not a.ok:
            errors.append({"id": a.id, "stage": "analyze", "error": a.error})
            continue
        try:
            al = forced_align(a, star=args.star, star_penalty=args.star_penalty, drop_unknown=args.drop_unknown,
                              beam=args.beam, confidence_threshold=args.threshold)
            name = names.claim(a.id)
            if "textgrid" in args.format:
                (out / "textgrid").mkdir(exist_ok=True)
                write_textgrid(al, out / "textgrid" / f"{name}.TextGrid")
            if "json" in args.format:
                (out / "json").mkdir(exist_ok=True)
                write_json(al, out / "json" / f"{name}.json")
        except WorkbenchError as exc:
            errors.append({"id": a.id, "stage": "align", "error": f"{exc.__class__.__name__}: {exc}"})
            continue
        done.append(al)
        word_rows.append(al.to_frame("word"))
    if "ctm" in args.format:
        write_ctm(done, out / "alignments.ctm")
    if word_rows:
        import pandas as pd

        from ..data.tables import write_csv

        write_csv(pd.concat(word_rows, ignore_index=True), out / "words.csv")
    from ..data.tables import neutralise_row

    with open(out / "errors.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "stage", "error"])
        writer.writeheader()
        writer.writerows(neutralise_row(e) for e in errors)
    low = sum(len(al.low_confidence_words) for al in done)
    words = sum(len(al.words) for al in done)
    print(f"aligned {len(done)} of {len(corpus) + len(corpus.problems)} utterances with {model} "
          f"({words} words, {low} below confidence {args.threshold:g}); {len(errors)} errors")
    for e in errors:
        print(printable(f"  {e['id']} ({e['stage']}): {e['error']}"))
    print(f"wrote {out}/ ({', '.join(args.format)}, words.csv, errors.csv)")
    return 0 if done or not (len(corpus) + len(corpus.problems)) else 1
