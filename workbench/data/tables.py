"""Spreadsheet-safe tables: CSV cells that a spreadsheet would run as a formula are neutralised.

The OWASP rule for CSV injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading apostrophe, so Excel/LibreOffice show it as text instead of
evaluating ``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0``.  Numbers (and text that is a plain
number, such as ``-0.5``) are left alone.  Used by every CSV the workbench writes for people to
open (per_utterance.csv, words.csv, ...); machine formats with their own grammar (the CTM,
JSON) keep their content unchanged.
"""
from __future__ import annotations

import os
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value):
    """``value`` with a leading apostrophe when it is text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(frame):
    """A copy of a pandas DataFrame whose text cells (and column names) are neutralised."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame, path: str | os.PathLike, **kw) -> None:
    """``frame.to_csv(path, index=False)`` with every text cell neutralised."""
    kw.setdefault("index", False)
    neutralise_frame(frame).to_csv(path, **kw)


def neutralise_row(row):
    """A list/tuple of cells (for ``csv.writer``) or a dict (for ``csv.DictWriter``), neutralised."""
    if isinstance(row, dict):
        return {k: neutralise(v) for k, v in row.items()}
    return [neutralise(v) for v in row]
