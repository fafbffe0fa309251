"""Kokoro synthesis with phoneme and word timings, chunked and streamed like Kokoro's pipeline.

Text is split at newlines, phonemized with misaki, and cut into chunks of at most 510
phoneme tokens (preferring sentence punctuation, then clause punctuation, then word
boundaries — Kokoro's ``KPipeline`` waterfall).  Each chunk runs the ONNX graph once with
the style row Kokoro's reference picks (pack row = token count - 1); the graph's own
per-token durations (600 samples at 24 kHz per frame) give phoneme and word times, offset
across chunks.  ``sum(durations) * 600 == len(audio)`` holds chunk by chunk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .errors import TextError, VoiceError
from .g2p import Token, token_frame, tokens_from_misaki
from .kokoro import FRAME_SAMPLES, MAX_TOKENS, SAMPLE_RATE, KokoroModel
from .registry import ModelRegistry, resolve
from .voices import Voice, blend, parse_blend

SPEED_RANGE = (0.5, 2.0)
MAX_TEXT_CHARS = 1_000_000
_WATERFALL = ("!.?…", ":;", ",—")


@dataclass
class WordTiming:
    text: str
    phonemes: str
    start: float
    end: float
    source: str


@dataclass
class SynthChunk:
    """One synthesized chunk: its text, phonemes, tokens, audio and durations."""

    index: int
    graphemes: str
    phonemes: str
    tokens: list[int]
    audio: np.ndarray
    durations: np.ndarray  # frames per token, including the leading and trailing pad
    offset: float  # seconds from the start of the whole utterance
    words: list[WordTiming]
    g2p_tokens: list[Token]
    style_row: int
    symbols: list[str] = field(default_factory=list, repr=False)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def phoneme_frame(self):
        """Per-phoneme-token start/end seconds (absolute), excluding the two pads."""
        import pandas as pd

        edges = np.concatenate([[0.0], np.cumsum(self.durations)]) * FRAME_SAMPLES / SAMPLE_RATE
        return pd.DataFrame([{
            "chunk": self.index, "token": k, "id": tok,
            "symbol": self.symbols[k] if k < len(self.symbols) else "",
            "start": self.offset + edges[k + 1], "end": self.offset + edges[k + 2],
        } for k, tok in enumerate(self.tokens)], columns=["chunk", "token", "id", "symbol", "start", "end"])




@dataclass
class SynthesisResult:
    """A whole synthesized text: audio, chunks and timing tables."""

    text: str
    voice: str
    speed: float
    language: str
    chunks: list[SynthChunk]
    notes: list[str]
    model_revision: str
    sample_rate: int = SAMPLE_RATE

    @property
    def audio(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate([c.audio for c in self.chunks])

    @property
    def duration(self) -> float:
        return sum(c.duration for c in self.chunks)

    @property
    def phonemes(self) -> str:
        return " ".join(c.phonemes for c in self.chunks)

    @property
    def tokens(self) -> list[Token]:
        return [t for c in self.chunks for t in c.g2p_tokens]

    @property
    def flagged(self) -> list[Token]:
        return [t for t in self.tokens if t.flagged]

    def token_table(self):
        return token_frame(self.tokens)

    def word_timings(self):
        import pandas as pd

        return pd.DataFrame([{"chunk": c.index, "word": w.text, "phonemes": w.phonemes, "start": w.start,
                              "end": w.end, "source": w.source} for c in self.chunks for w in c.words],
                            columns=["chunk", "word", "phonemes", "start", "end", "source"])

    def phoneme_timings(self):
        import pandas as pd

        frames = [c.phoneme_frame() for c in self.chunks]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["chunk", "token", "id", "symbol", "start", "end"])

    def to_frame(self):
        return self.word_timings()

    def resampled(self, sample_rate: int = 16_000) -> np.ndarray:
        """The audio at another rate (e.g. 16 kHz for wav2vec2)."""
        from .audio import resample

        return resample(self.audio, SAMPLE_RATE, sample_rate)

    def save(self, path) -> None:
        import soundfile as sf

        sf.write(str(path), self.audio, SAMPLE_RATE, subtype="PCM_16")

    def _repr_html_(self) -> str:
        import html

        return (f"<b>{html.escape(self.voice)}</b> · {self.duration:.2f} s · {len(self.chunks)} chunk(s)<br>"
                f"<code>{html.escape(self.phonemes)}</code>" + self.token_table().to_html(index=False))


def resolve_voice(voice: str | dict[str, float] | Voice, registry: ModelRegistry) -> tuple[Voice, list[str]]:
    """A voice by name, a blend string/dict, or a :class:`Voice`; returns it with notes."""
    if isinstance(voice, Voice):
        return voice, []
    if isinstance(voice, str) and ("," not in voice and ":" not in voice):
        name = voice.strip()
        if not name:
            raise VoiceError("empty voice name; give one like 'af_heart'")
        return registry.voice(name), []
    weights, note = parse_blend(voice)
    packs = {name: registry.voice(name) for name in weights}
    return blend(packs, weights), [note] if note else []


def _check_speed(speed: float) -> float:
    try:
        speed = float(speed)
    except (TypeError, ValueError) as exc:
        raise TextError(f"speed={speed!r} is not a number") from exc
    if not (SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]) or not np.isfinite(speed):
        raise TextError(f"speed={speed} is outside {SPEED_RANGE[0]}..{SPEED_RANGE[1]}; 1.0 is normal speed")
    return speed


def _ps_of(tokens: list[Token]) -> str:
    return "".join((t.phonemes if t.source != "unresolved" else "") + (" " if t.whitespace else "") for t in tokens)


def _waterfall_last(tokens: list[Token], limit: int) -> int:
    """Index after which to cut: the last sentence mark, else clause mark, else word, within limit."""
    for marks in _WATERFALL:
        cut = None
        for i, t in enumerate(tokens):
            if len(_ps_of(tokens[: i + 1]).strip()) > limit:
                break
            if t.phonemes and t.phonemes.strip() and t.phonemes.strip()[-1] in marks:
                cut = i + 1
        if cut:
            return cut
    for i in range(len(tokens), 0, -1):
        if len(_ps_of(tokens[:i]).strip()) <= limit:
            return i
    return 1


def chunk_tokens(tokens: list[Token], vocab: dict[str, int], limit: int = MAX_TOKENS) -> list[list[Token]]:
    """Split G2P tokens into chunks whose phoneme token count stays within ``limit``."""
    def count(tks):
        return sum(1 for c in _ps_of(tks).strip() if c in vocab)

    chunks, current = [], []
    for tok in tokens:
        if count(current + [tok]) > limit and current:
            cut = _waterfall_last(current + [tok], limit)
            cut = min(cut, len(current)) if count(current + [tok][:cut]) > limit else cut
            chunks.append(current[:cut])
            current = (current + [tok])[cut:]
            continue
        current.append(tok)
    if current:
        chunks.append(current)
    final = []
    for ch in chunks:  # a single word longer than the limit: hard split its phonemes
        if count(ch) > limit:
            ps = _ps_of(ch).strip()
            for start in range(0, len(ps), limit):
                piece = ps[start:start + limit]
                final.append([Token(text=piece, tag="", phonemes=piece, source="split", whitespace="")])
        else:
            final.append(ch)
    return final


def _word_timings(chunk_tokens_: list[Token], vocab: dict[str, int], durations: np.ndarray,
                  offset: float) -> tuple[list[WordTiming], list[str]]:
    """Word start/end from the token durations; also the vocab symbol of each token."""
    ps = _ps_of(chunk_tokens_)
    lead = len(ps) - len(ps.lstrip())
    edges = np.concatenate([[0.0], np.cumsum(durations)]) * FRAME_SAMPLES / SAMPLE_RATE
    words, symbols = [], []
    k = 0  # token index within the chunk (pads excluded)
    pos = 0
    for t in chunk_tokens_:
        piece = (t.phonemes if t.source != "unresolved" else "") + (" " if t.whitespace else "")
        if pos < lead:
            skip = min(lead - pos, len(piece))
            piece = piece[skip:]
            pos += skip
        word_ps = []
        for c in piece:
            if c in vocab:
                symbols.append(c)
                if c != " ":
                    word_ps.append((k, c))
                k += 1
        pos += len(piece)
        if t.is_word and word_ps:
            first, last = word_ps[0][0], word_ps[-1][0]
            words.append(WordTiming(text=t.text, phonemes=t.phonemes, start=offset + edges[first + 1],
                                    end=offset + edges[last + 2], source=t.source))
    return words, symbols


def stream(text: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
           language: str | None = None, registry: ModelRegistry | None = None,
           split_pattern: str = r"\n+") -> Iterator[SynthChunk]:
    """Yield synthesized chunks one by one (graphemes, phonemes, tokens, audio, durations)."""
    reg = resolve(registry)
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextError("text is empty (or whitespace only); nothing to synthesize")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(f"text has {len(text)} characters; split texts over {MAX_TEXT_CHARS} characters into files")
    speed = _check_speed(speed)
    style_voice, _ = resolve_voice(voice, reg)
    lang = language or ("en-gb" if style_voice.british else "en-us")
    model: KokoroModel = reg.get("kokoro-82m")
    g2p = reg.g2p(lang)
    offset = 0.0
    index = 0
    for segment in re.split(split_pattern, text) if split_pattern else [text]:
        if not segment.strip():
            continue
        _, mtokens = g2p(segment)
        tokens = tokens_from_misaki(mtokens, model.vocab)
        for group in chunk_tokens(tokens, model.vocab):
            ps = _ps_of(group).strip()
            ids = model.tokenize(ps)
            if not ids:
                continue  # punctuation-only or unresolved-only group: nothing to say
            style_row = min(len(ids), len(style_voice.pack)) - 1
            audio, durations = model.infer(ids, style_voice.pack[style_row], speed)
            words, symbols = _word_timings(group, model.vocab, durations, offset)
            chunk = SynthChunk(index=index, graphemes="".join(t.text + t.whitespace for t in group).strip(),
                               phonemes=ps, tokens=ids, audio=audio, durations=durations, offset=offset,
                               words=words, g2p_tokens=group, style_row=style_row, symbols=symbols)
            yield chunk
            offset += chunk.duration
            index += 1


def synthesize(text: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
               language: str | None = None, registry: ModelRegistry | None = None) -> SynthesisResult:
    """Synthesize ``text`` whole: the chunks of :func:`stream`, concatenated."""
    reg = resolve(registry)
    style_voice, notes = resolve_voice(voice, reg)
    lang = language or ("en-gb" if style_voice.british else "en-us")
    chunks = list(stream(text, style_voice, speed=speed, language=lang, registry=reg))
    if not chunks:
        raise TextError(f"{text[:60]!r} produced no phonemes Kokoro can say (only punctuation or unknown symbols)")
    return SynthesisResult(text=text, voice=style_voice.name, speed=float(speed), language=lang, chunks=chunks,
                           notes=notes, model_revision=reg.get("kokoro-82m").revision)


def synthesize_phonemes(phonemes: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
                        registry: ModelRegistry | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Audio and durations for a phoneme string (≤ 510 tokens), as one graph call."""
    reg = resolve(registry)
    style_voice, _ = resolve_voice(voice, reg)
    model: KokoroModel = reg.get("kokoro-82m")
    ids = model.tokenize(phonemes)
    if not ids:
        raise TextError(f"none of the symbols of {phonemes[:40]!r} are in Kokoro's phoneme vocabulary")
    return model.infer(ids, style_voice.style(len(ids)), _check_speed(speed))
