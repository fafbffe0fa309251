"""Text normalisation before scoring: one documented, configurable :class:`Normalizer`.

WER is only meaningful once reference and hypothesis are written the same way.  The default
(:func:`default_normalizer`) maps any English text to the alphabet wav2vec2-base-960h can
emit: upper-case A-Z, the apostrophe and single spaces.  :func:`raw_normalizer` only tidies
whitespace, so the two side by side show how much of a WER is spelling convention.

The steps, in order (``Normalizer.trace(text)`` shows each one's output):

1. ``replacements``: exact substring replacements, in the order given (your own fixes first).
2. unicode: typographic quotes and apostrophes (’ ‘ ʼ ` ´) become ``'``; with ``strip_accents``
   the text is NFKD-decomposed and combining marks dropped (``café`` -> ``cafe``, the
   ``ﬁ`` ligature -> ``fi``), and letters with no decomposition are transliterated
   (``ß`` -> ``ss``, ``æ`` -> ``ae``, ``ø`` -> ``o``, ...).  Without it the text is NFC.
3. digits: ``"words"`` spells numbers out with num2words (``42`` -> ``forty-two``,
   ``1,000`` -> ``one thousand``, ``3.5`` -> ``three point five``, ``21st`` ->
   ``twenty-first``; British style ``one hundred and five``; years are read as cardinals),
   ``"keep"`` leaves them, ``"remove"`` deletes them.  The model has no digit tokens, so the
   default spells them out.
4. case: ``"upper"``, ``"lower"`` or ``"keep"``.
5. punctuation: every Unicode punctuation or symbol character becomes a space
   (``well-known`` -> ``WELL KNOWN``).  Apostrophes are kept inside words (``don't``,
   ``o'clock``) and after a final s (``dogs'``) when ``keep_apostrophes``; other apostrophes
   (quotes) are removed.  Without ``keep_apostrophes`` all are removed (``don't`` -> ``dont``).
6. ``alphabet``: when set, any remaining character outside it (and not a space) is dropped;
   ``Normalizer.dropped(text)`` lists them, so nothing disappears unexplained.
7. ``collapse_spaces``: runs of whitespace become one space, ends stripped.

Empty or ``None`` text normalises to ``""`` (zero words); so can text made only of
punctuation.  How scoring treats an empty reference is explained in :mod:`workbench.scoring`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

MODEL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2032": "'"})
_TRANSLIT = str.maketrans({"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                           "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D",
                           "ı": "i", "ħ": "h", "Ħ": "H"})
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(st|nd|rd|th)?(?![\d])", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'+|(?<![sS])'+(?!\w)")


def _spell_number(match: re.Match) -> str:
    from decimal import Decimal

    from num2words import num2words

    whole, frac, suffix = match.group(1).replace(",", ""), match.group(2), match.group(3)
    if suffix and not frac:
        return f" {num2words(int(whole), to='ordinal')} "
    if frac:
        return f" {num2words(Decimal(whole + frac))} " + (suffix or "")
    return f" {num2words(int(whole))} " + (suffix or "")


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


_ASCII_PUNCT = re.compile("[" + re.escape("".join(chr(i) for i in range(128) if chr(i) != "'" and _is_punct(chr(i))))
                          + "]")  # one regex pass: about 1.5x faster than str.translate with a dict table


@dataclass
class Normalizer:
    """A configurable text normaliser (see the module docstring for the exact steps)."""

    case: Literal["upper", "lower", "keep"] = "upper"
    strip_punctuation: bool = True
    keep_apostrophes: bool = True
    digits: Literal["words", "keep", "remove"] = "words"
    strip_accents: bool = True
    unify_quotes: bool = True
    collapse_spaces: bool = True
    alphabet: str | None = MODEL_ALPHABET
    replacements: dict[str, str] = field(default_factory=dict)
    name: str = "custom"
    _outside_cache: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.case not in ("upper", "lower", "keep"):
            raise ValueError(f"case={self.case!r}; use 'upper', 'lower' or 'keep'")
        if self.digits not in ("words", "keep", "remove"):
            raise ValueError(f"digits={self.digits!r}; use 'words', 'keep' or 'remove'")

    def steps(self):
        """The enabled steps as (name, function) pairs, in order."""
        out = []
        if self.replacements:
            out.append(("replacements", self._replace))
        if self.unify_quotes or self.strip_accents:
            out.append(("unicode", self._unicode))
        if self.digits != "keep":
            out.append(("digits", self._digits))
        if self.case != "keep":
            out.append(("case", str.upper if self.case == "upper" else str.lower))
        if self.strip_punctuation or not self.keep_apostrophes:
            out.append(("punctuation", self._punctuation))
        if self.alphabet is not None:
            out.append(("alphabet", self._alphabet))
        if self.collapse_spaces:
            out.append(("spaces", lambda t: " ".join(t.split())))
        return out

    def __call__(self, text: str | None) -> str:
        """The normalised text ('' for None or empty text)."""
        text = "" if text is None else str(text)
        for _, fn in self.steps():
            text = fn(text)
        return text

    def words(self, text: str | None) -> list[str]:
        return self(text).split()

    def trace(self, text: str | None) -> list[tuple[str, str]]:
        """The text after each step, starting with ("input", text): what the normaliser did and where."""
        text = "" if text is None else str(text)
        out = [("input", text)]
        for name, fn in self.steps():
            text = fn(text)
            out.append((name, text))
        return out

    def dropped(self, text: str | None) -> list[str]:
        """Characters the alphabet step removes from ``text`` (after the earlier steps)."""
        return self.explain(text)[1]

    def explain(self, text: str | None) -> tuple[str, list[str]]:
        """The normalised text and the characters the alphabet step dropped, in one pass."""
        return self._explain(text, self.steps())

    def explain_many(self, texts) -> list[tuple[str, list[str]]]:
        """:meth:`explain` of every text, in order; each distinct text is normalised once.

        Scoring a corpus calls this once: the steps are built once, and repeated texts (the
        same reference in several runs, empty hypotheses) cost a dictionary lookup.
        """
        steps = self.steps()
        memo: dict = {}
        out = []
        for text in texts:
            hit = memo.get(text)
            if hit is None:
                hit = memo[text] = self._explain(text, steps)
            out.append((hit[0], list(hit[1])))
        return out

    def _explain(self, text: str | None, steps) -> tuple[str, list[str]]:
        text = "" if text is None else str(text)
        dropped: list[str] = []
        for name, fn in steps:
            if name == "alphabet":
                dropped = sorted(set(self._outside().findall(text)))
            text = fn(text)
        return text, dropped

    def describe(self) -> str:
        """One line for reports: the options that differ from doing nothing."""
        parts = [f"case={self.case}", f"digits={self.digits}",
                 "punctuation stripped" if self.strip_punctuation else "punctuation kept",
                 "apostrophes kept" if self.keep_apostrophes else "apostrophes removed",
                 "accents stripped" if self.strip_accents else "accents kept"]
        if self.alphabet is not None:
            parts.append(f"alphabet={self.alphabet!r}")
        if self.replacements:
            parts.append(f"{len(self.replacements)} replacements")
        return f"{self.name}: " + ", ".join(parts)

    # ------------------------------------------------------------------ steps
    def _replace(self, text: str) -> str:
        for old, new in self.replacements.items():
            text = text.replace(old, new)
        return text

    def _unicode(self, text: str) -> str:
        if text.isascii():  # NFKD/NFC leave ASCII unchanged
            return text.replace("`", "'") if self.unify_quotes else text
        if self.unify_quotes:
            text = text.translate(_QUOTES)
        if not self.strip_accents:
            return unicodedata.normalize("NFC", text)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
        return text.translate(_TRANSLIT)

    def _digits(self, text: str) -> str:
        if self.digits == "words":
            return _NUMBER.sub(_spell_number, text) if _DIGIT.search(text) else text
        return _DIGIT.sub("", text)

    def _punctuation(self, text: str) -> str:
        if self.strip_punctuation:
            if text.isascii():
                text = _ASCII_PUNCT.sub(" ", text)
            else:
                text = "".join(" " if c != "'" and _is_punct(c) else c for c in text)
        if self.keep_apostrophes:
            return _STRAY_APOSTROPHE.sub("", text)
        return text.replace("'", "")

    def _outside(self) -> re.Pattern:
        """A regex matching one character outside the alphabet (either case) that is not a space."""
        key = self.alphabet or ""
        if self._outside_cache is None or self._outside_cache[0] != key:
            chars = "".join(sorted(set(key) | set(key.lower()) | set(key.upper())))
            self._outside_cache = (key, re.compile(f"[^{re.escape(chars)}\\s]"))
        return self._outside_cache[1]

    def _alphabet(self, text: str) -> str:
        return self._outside().sub("", text)


def default_normalizer() -> Normalizer:
    """Text in the wav2vec2-base-960h alphabet: A-Z, apostrophe, single spaces; digits spelled out."""
    return Normalizer(replacements={"&": " and ", "%": " percent "}, name="default")


def raw_normalizer() -> Normalizer:
    """Whitespace only: the text as written, runs of spaces collapsed."""
    return Normalizer(case="keep", strip_punctuation=False, keep_apostrophes=True, digits="keep",
                      strip_accents=False, unify_quotes=False, alphabet=None, name="raw")


def resolve_normalizer(normalizer: Normalizer | str | None) -> Normalizer:
    """``None``/"default" -> the default, "raw" -> whitespace only, a Normalizer as is."""
    if normalizer is None or normalizer == "default":
        return default_normalizer()
    if normalizer == "raw":
        return raw_normalizer()
    if isinstance(normalizer, Normalizer):
        return normalizer
    if callable(normalizer):
        return normalizer  # any str -> str callable works too
    raise ValueError(f"normalizer={normalizer!r}; give a Normalizer, 'default' or 'raw'")
