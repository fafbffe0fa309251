"""Word-level aligned diffs: jiwer's alignment chunks expanded to one operation per word,
rendered as sclite-style text (REF/HYP/EVAL lines) or as escaped, coloured HTML."""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import Iterable

OPS = ("equal", "substitute", "delete", "insert")
_MARK = {"equal": " ", "substitute": "S", "delete": "D", "insert": "I"}
_STYLE = {
    "substitute": "background:#ffe0b2;border-radius:3px;padding:0 2px",
    "delete": "background:#ffcdd2;color:#b00020;text-decoration:line-through;border-radius:3px;padding:0 2px",
    "insert": "background:#c8e6c9;color:#1b5e20;text-decoration:underline;border-radius:3px;padding:0 2px",
}


@dataclass(frozen=True)
class WordOp:
    """One aligned word: ``op`` is equal/substitute/delete/insert; indices point into the
    normalised reference and hypothesis word lists (None on the side that has no word)."""

    op: str
    ref_index: int | None
    hyp_index: int | None
    ref: str | None
    hyp: str | None

    @property
    def is_error(self) -> bool:
        return self.op != "equal"

    def to_dict(self) -> dict:
        return asdict(self)


def expand_chunks(chunks: Iterable, ref_words: list[str], hyp_words: list[str]) -> list[WordOp]:
    """jiwer ``AlignmentChunk``s -> one :class:`WordOp` per word, in order."""
    ops: list[WordOp] = []
    for c in chunks:
        if c.type in ("equal", "substitute"):
            for k in range(c.ref_end_idx - c.ref_start_idx):
                r, h = c.ref_start_idx + k, c.hyp_start_idx + k
                ops.append(WordOp(c.type, r, h, ref_words[r], hyp_words[h]))
        elif c.type == "delete":
            ops.extend(WordOp("delete", r, None, ref_words[r], None) for r in range(c.ref_start_idx, c.ref_end_idx))
        elif c.type == "insert":
            ops.extend(WordOp("insert", None, h, None, hyp_words[h]) for h in range(c.hyp_start_idx, c.hyp_end_idx))
        else:  # pragma: no cover - jiwer has exactly four types
            raise ValueError(f"unknown alignment chunk type {c.type!r}")
    return ops


def text_diff(ops: list[WordOp], *, width: int = 100) -> str:
    """sclite-style REF/HYP/EVAL lines; gaps are ``*``; wrapped at ``width`` columns (0: no wrap)."""
    cols = []
    for op in ops:
        ref, hyp = op.ref or "", op.hyp or ""
        w = max(len(ref), len(hyp), 1)
        cols.append((ref.ljust(w) if op.ref is not None else "*" * w,
                     hyp.ljust(w) if op.hyp is not None else "*" * w,
                     _MARK[op.op].ljust(w)))
    if not cols:
        return "REF: \nHYP: \nEVAL:"
    blocks, line, used = [], [], 0
    for col in cols:
        if line and width and used + len(col[0]) + 1 > width - 6:
            blocks.append(line)
            line, used = [], 0
        line.append(col)
        used += len(col[0]) + 1
    blocks.append(line)
    out = []
    for block in blocks:
        out.append("REF:  " + " ".join(c[0] for c in block).rstrip())
        out.append("HYP:  " + " ".join(c[1] for c in block).rstrip())
        out.append("EVAL: " + " ".join(c[2] for c in block).rstrip())
    return "\n".join(out)


def html_diff(ops: list[WordOp], *, legend: bool = False) -> str:
    """Coloured HTML: substitutions as ~ref~ hyp on orange, deletions struck on red, insertions on green.

    Every word is HTML-escaped; each error span carries ``data-op``/``data-ref``/``data-hyp``
    attributes (word indices) so other views can link to it.
    """
    parts = []
    for op in ops:
        ref = html.escape(op.ref or "")
        hyp = html.escape(op.hyp or "")
        data = f'data-op="{op.op}" data-ref="{"" if op.ref_index is None else op.ref_index}" ' \
               f'data-hyp="{"" if op.hyp_index is None else op.hyp_index}"'
        if op.op == "equal":
            parts.append(f"<span>{hyp}</span>")
        elif op.op == "substitute":
            parts.append(f'<span class="wb-sub" {data} style="{_STYLE["substitute"]}" title="substitution">'
                         f'<s style="color:#b00020">{ref}</s>&nbsp;<b>{hyp}</b></span>')
        elif op.op == "delete":
            parts.append(f'<span class="wb-del" {data} style="{_STYLE["delete"]}" title="deletion">{ref}</span>')
        else:
            parts.append(f'<span class="wb-ins" {data} style="{_STYLE["insert"]}" title="insertion">{hyp}</span>')
    body = " ".join(parts) if parts else '<span style="color:#777">(no words)</span>'
    out = f'<div class="wb-diff" style="font-family:monospace;line-height:1.9">{body}</div>'
    if legend:
        out += ('<div style="font-size:85%;color:#555">'
                f'<span style="{_STYLE["substitute"]}">substitution</span> '
                f'<span style="{_STYLE["delete"]}">deletion</span> '
                f'<span style="{_STYLE["insert"]}">insertion</span></div>')
    return out
