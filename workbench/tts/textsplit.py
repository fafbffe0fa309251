"""Cut a text into bounded pieces for the G2P, so long texts cost bounded memory and latency.

Kokoro's pipeline phonemizes each line whole; a 43,000-character text with no line breaks then
goes through spaCy and misaki in one call (tens of seconds and gigabytes before the first chunk).
:func:`text_pieces` splits at ``split_pattern`` (lines, as Kokoro does) and cuts any line longer
than ``max_chars`` at sentence ends, then at clause marks, then at commas and dashes, then at
spaces, and as a last resort hard at ``max_chars``.  Short lines are left whole, so ordinary texts
are phonemized exactly as Kokoro's pipeline does.  No character is lost: the pieces of a line,
concatenated, give the line back (whitespace at the cuts included).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

PIECE_CHARS = 1_000  # ~ two Kokoro chunks of text; misaki phonemizes it in about 0.1 s on one core

# cut after these marks (closing quotes and brackets stay with the mark), then after the spaces
LEVELS = (
    re.compile(r"[.!?…]+[\"'”’)\]]*\s+"),  # sentence ends
    re.compile(r"[:;]+[\"'”’)\]]*\s+"),  # clause marks
    re.compile(r"(?:[,—–]|\s-\s?)[\"'”’)\]]*\s*"),  # commas and dashes
    re.compile(r"\s+"),  # words
)


def _cuts(text: str, pattern: re.Pattern) -> list[str]:
    """``text`` cut after every match of ``pattern`` (the parts concatenate back to ``text``)."""
    parts, start = [], 0
    for m in pattern.finditer(text):
        if m.end() > start and m.end() < len(text):
            parts.append(text[start:m.end()])
            start = m.end()
    parts.append(text[start:])
    return [p for p in parts if p]


def bounded_parts(text: str, max_chars: int = PIECE_CHARS, level: int = 0) -> list[str]:
    """``text`` as consecutive parts of at most ``max_chars`` characters, cut at the coarsest
    boundary that works (sentence, clause, comma/dash, space, then a hard cut); greedy packing
    keeps the parts as long as allowed."""
    if max_chars < 1:
        raise ValueError(f"max_chars={max_chars} must be at least 1 character")
    if len(text) <= max_chars:
        return [text]
    if level >= len(LEVELS):
        return [text[i:i + max_chars] for i in range(0, len(text), max_chars)]
    out: list[str] = []
    current = ""
    for part in _cuts(text, LEVELS[level]):
        if len(part) > max_chars:
            if current:
                out.append(current)
                current = ""
            out.extend(bounded_parts(part, max_chars, level + 1))
        elif len(current) + len(part) > max_chars:
            out.append(current)
            current = part
        else:
            current += part
    if current:
        out.append(current)
    return out


def text_pieces(text: str, *, split_pattern: str | None = r"\n+", max_chars: int = PIECE_CHARS) -> Iterator[str]:
    """The non-blank pieces of ``text`` that the G2P sees one at a time: lines (``split_pattern``,
    as Kokoro's pipeline splits), and lines over ``max_chars`` cut by :func:`bounded_parts`."""
    for segment in re.split(split_pattern, text.strip()) if split_pattern else [text]:
        if not segment.strip():
            continue
        for piece in bounded_parts(segment, max_chars):
            if piece.strip():
                yield piece
