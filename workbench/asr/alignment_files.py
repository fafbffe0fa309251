"""Alignment files: Praat TextGrid (word and character tiers), sclite CTM and JSON.

* TextGrid (written and read with praatio): tier ``words`` and tier ``chars`` (letters, plus
  ``*`` for star spans; the word delimiter is a boundary, not a segment); gaps between
  segments become empty intervals so the tiers tile ``[0, duration]`` as Praat expects.
* CTM (NIST sclite): one line per word, ``<utterance> <channel> <start> <duration> <word> <confidence>``
  with times in seconds, preceded by ``;;`` comment lines naming the model and revision.
  Several utterances go into one file (``write_ctm``), as sclite reads them.
* JSON: :meth:`Alignment.to_dict` (words, tokens, unmapped characters, provenance).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, TextIO

from ..models.assets import atomic_write_bytes
from ..errors import WorkbenchError

#: an :class:`~workbench.asr.alignment.Alignment` (not imported: that module imports this one)
Alignment = Any

FORMATS = {"textgrid": ".TextGrid", "ctm": ".ctm", "json": ".json"}
STAR_LABEL = "*"


def _end_time(alignment: "Alignment") -> float:
    end = alignment.num_frames * alignment.frame_seconds
    a = alignment.analysis
    if a is not None and getattr(a, "num_samples", 0):
        end = max(end, a.num_samples / a.sample_rate)
    for seg in (*alignment.words, *alignment.tokens):
        end = max(end, seg.end)
    return float(end)


def textgrid_of(alignment: "Alignment", *, chars: bool = True, word_delimiter: str = "|"):
    """A praatio Textgrid with a ``words`` tier (and a ``chars`` tier)."""
    from praatio import textgrid
    from praatio.utilities.constants import Interval

    end = _end_time(alignment)
    words = [Interval(w.start, w.end, w.word) for w in alignment.words]
    words += [Interval(s.start, s.end, STAR_LABEL) for s in alignment.stars]
    words.sort(key=lambda iv: iv.start)
    tg = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end)
    tg.addTier(textgrid.IntervalTier("words", words, 0.0, end))
    if chars:
        toks = [Interval(t.start, t.end, t.char) for t in alignment.tokens if t.char != word_delimiter]
        tg.addTier(textgrid.IntervalTier("chars", toks, 0.0, end))
    return tg


def write_textgrid(alignment: "Alignment", path: str | Path, *, chars: bool = True) -> Path:
    """Save a long-format Praat TextGrid (atomic write)."""
    path = Path(path)
    tg = textgrid_of(alignment, chars=chars)
    tmp = path.with_name(path.name + ".part")
    tg.save(str(tmp), format="long_textgrid", includeBlankSpaces=True, reportingMode="error")
    tmp.replace(path)
    return path


def read_textgrid(path: str | Path) -> dict[str, list[tuple[float, float, str]]]:
    """Tier name -> non-empty intervals ``(start, end, label)`` of a TextGrid file."""
    from praatio import textgrid

    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="error")
    return {name: [(float(e.start), float(e.end), str(e.label)) for e in tg.getTier(name).entries]
            for name in tg.tierNames}


def ctm_lines(alignment: "Alignment", *, channel: str = "1", level: str = "word") -> list[str]:
    """CTM lines of one alignment (``level="char"`` gives one line per character)."""
    uid = alignment.utterance.replace(" ", "_")
    if level == "word":
        segs = [(w.start, w.end, w.word, w.confidence) for w in alignment.words]
        segs += [(s.start, s.end, STAR_LABEL, s.posterior) for s in alignment.stars]
        segs.sort()
    elif level == "char":
        segs = [(t.start, t.end, t.char, t.posterior) for t in alignment.tokens]
    else:
        raise ValueError(f"level={level!r}; use 'word' or 'char'")
    return [f"{uid} {channel} {s:.3f} {e - s:.3f} {label} {conf:.4f}" for s, e, label, conf in segs]


def write_ctm(alignments: "Alignment | Iterable[Alignment]", path_or_file: str | Path | TextIO, *,
              channel: str = "1", level: str = "word") -> Path | None:
    """Write one CTM file for one or many alignments (a path is written atomically)."""
    items = [alignments] if hasattr(alignments, "words") else list(alignments)  # one Alignment or many
    models = sorted({f"{a.model}@{a.revision}" for a in items})
    lines = [f";; workbench {items[0].mode if items else 'forced'} alignment, model {', '.join(models)}",
             ";; utterance channel start duration word confidence"]
    for a in items:
        lines.extend(ctm_lines(a, channel=channel, level=level))
    text = "\n".join(lines) + "\n"
    if hasattr(path_or_file, "write"):
        path_or_file.write(text)
        return None
    path = Path(path_or_file)
    atomic_write_bytes(path, [text.encode("utf-8")])
    return path


def read_ctm(path: str | Path):
    """A DataFrame of a CTM file (comment lines skipped); raises on a malformed line."""
    import pandas as pd

    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split()
        if len(parts) not in (5, 6):
            raise WorkbenchError(f"{path}:{n}: a CTM line has 5 or 6 columns, found {len(parts)}: {line!r}")
        rows.append({"utterance": parts[0], "channel": parts[1], "start": float(parts[2]),
                     "duration": float(parts[3]), "word": parts[4],
                     "confidence": float(parts[5]) if len(parts) == 6 else float("nan")})
    return pd.DataFrame(rows, columns=["utterance", "channel", "start", "duration", "word", "confidence"])


def write_json(alignment: "Alignment", path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, [json.dumps(alignment.to_dict(), indent=1, default=_json_default).encode("utf-8")])
    return path


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_alignment(alignment: "Alignment", path: str | Path, *, format: str | None = None) -> Path:
    """Write ``alignment`` as ``format`` ("textgrid", "ctm", "json"; default from the suffix)."""
    path = Path(path)
    fmt = (format or "").lower() or {v.lower(): k for k, v in FORMATS.items()}.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise WorkbenchError(f"cannot tell the format of {path.name!r}; give format='textgrid', 'ctm' or 'json' "
                             "(or use the suffix .TextGrid, .ctm or .json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "textgrid":
        return write_textgrid(alignment, path)
    if fmt == "ctm":
        return write_ctm(alignment, path)
    return write_json(alignment, path)
