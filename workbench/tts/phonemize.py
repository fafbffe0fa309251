from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Iterator

from ..models.g2p import Token, normalize_language, token_frame, token_html, tokens_from_misaki, tokens_to_ps
from ..errors import ModelNotAvailableError, TextError


@dataclass
class G2PResult:
    """Phonemes of a text and the token table behind them.

    Unpacks like the old tuple: ``phonemes, tokens = phonemize(text)``.
    """

    text: str
    language: str
    segments: list[list[Token]]
    vocab_checked: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> list[Token]:
        return [t for seg in self.segments for t in seg]

    @property
    def phonemes(self) -> str:
        """The phoneme string Kokoro's pipeline would build (segments joined by a space)."""
        return " ".join(ps for ps in (tokens_to_ps(seg) for seg in self.segments) if ps)

    @property
    def flagged(self) -> list[Token]:
        return [t for t in self.tokens if t.flagged]

    def to_frame(self):
        return token_frame(self.tokens)

    def _repr_html_(self) -> str:
        notes = "".join(f"<br><i>{html.escape(n)}</i>" for n in self.notes)
        return (f"<b>{self.language}</b> · {len(self.tokens)} tokens · {len(self.flagged)} flagged{notes}<br>"
                f"<code>{html.escape(self.phonemes)}</code>" + token_html(self.tokens))

    def __iter__(self) -> Iterator:
        yield self.phonemes
        yield self.tokens


def kokoro_vocab(registry=None) -> dict[str, int] | None:
    """Kokoro's phoneme vocabulary from ``config.json`` (cached per registry), or None if absent."""
    from ..models.kokoro import locate_config
    from ..models.registry import resolve

    def load():
        try:
            return json.loads(locate_config().read_text(encoding="utf-8"))["vocab"]
        except ModelNotAvailableError:
            return {}

    vocab = resolve(registry).resource(("kokoro-vocab",), load)
    return vocab or None


def g2p_segments(text: str, g2p, vocab: dict[str, int] | None, *, split_pattern: str | None = r"\n+"):
    """Yield the token list of each non-blank segment of ``text`` (split like Kokoro's pipeline)."""
    for segment in re.split(split_pattern, text.strip()) if split_pattern else [text]:
        if segment.strip():
            yield tokens_from_misaki(g2p(segment)[1], vocab)


def phonemize(text: str, *, language: str = "en-us", registry=None, vocab: dict[str, int] | None = None,
              split_pattern: str | None = r"\n+") -> G2PResult:
    """Phonemes and the token table of ``text`` with misaki (offline); empty text gives an empty result.

    ``vocab`` defaults to Kokoro's vocabulary (from ``config.json``) so symbols the model cannot
    say are flagged.  Lines are phonemized separately, as Kokoro's pipeline does.
    """
    from ..models.registry import resolve

    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    lang = normalize_language(language)
    reg = resolve(registry)
    if vocab is None:
        vocab = kokoro_vocab(reg)
    notes = [] if vocab is not None else ["Kokoro's config.json was not found: phoneme symbols were not checked"]
    if not text.strip():
        return G2PResult(text=text, language=lang, segments=[], vocab_checked=vocab is not None,
                         notes=notes + ["empty text: nothing to phonemize"])
    segments = list(g2p_segments(text, reg.g2p(lang), vocab, split_pattern=split_pattern))
    result = G2PResult(text=text, language=lang, segments=segments, vocab_checked=vocab is not None, notes=notes)
    if result.flagged:
        words = ", ".join(repr(t.text) for t in result.flagged[:8])
        more = f" and {len(result.flagged) - 8} more" if len(result.flagged) > 8 else ""
        result.notes.append(f"{len(result.flagged)} token(s) would be dropped or mangled: {words}{more}")
    return result
