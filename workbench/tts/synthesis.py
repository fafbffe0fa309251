"""Kokoro synthesis with phoneme and word timings, chunked and streamed like Kokoro's pipeline.

The text is split at newlines, phonemized with misaki (:mod:`workbench.models.g2p`) and cut into
chunks of at most 510 phoneme characters exactly as Kokoro's ``KPipeline.en_tokenize`` does:
tokens are added until the next one would overflow, then the chunk is cut after the last
sentence mark (``!.?…``), else clause mark (``:;``), else comma or dash (``,—``) that leaves
the remainder within the limit, else before the overflowing token (``waterfall_last``).  A
single word longer than the limit (Kokoro truncates it) is split at its phoneme spaces.
A line over 1,000 characters is first cut into bounded pieces at sentence ends, then clause
marks, commas, spaces and a hard cap (:mod:`workbench.tts.textsplit`), and the G2P sees one
piece at a time, so a 43,000-character line costs the memory and first-audio delay of one piece.
:func:`stream` also makes the first chunk of a long text short (30 phonemes, each next chunk at
most 1.5x the previous) so playback starts quickly; :func:`synthesize` keeps Kokoro's chunks.

Each chunk runs the ONNX graph once with the style row Kokoro's reference picks,
``pack[len(phonemes) - 1]`` (the phoneme string's length, characters the vocabulary lacks
included, so it can differ from the token count: see :mod:`workbench.tts.parity`).  The graph's
own per-token durations (frames of 600 samples at 24 kHz) give phoneme and word times;
``sum(durations) * 600 == len(audio)`` holds chunk by chunk, and chunk ``k`` starts where
chunks ``0..k-1`` end (offsets are kept in samples, so they do not drift).

Word times are the start of a word's first phoneme and the end of its last one; the spaces
between words belong to no word.  (Kokoro's ``join_timestamps`` instead splits each space in
half and shifts the first word by 3 frames; ours is the plain reading of the durations.)
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import TextError, VoiceError
from ..models.g2p import (  # noqa: F401
    Token,
    token_frame,
    token_html,
    tokens_from_misaki,
    tokens_to_ps,
    tokens_to_text,
)
from ..models.kokoro import FRAME_SAMPLES, MAX_TOKENS, SAMPLE_RATE, KokoroModel
from ..models.registry import ModelRegistry, resolve
from ..models.voices import PACK_ROWS, STYLE_DIM, Voice, blend, parse_blend
from .phonemize import g2p_segments  # noqa: F401
from .textsplit import PIECE_CHARS, text_pieces

SPEED_RANGE = (0.5, 2.0)
FIRST_CHUNK = 30  # phonemes in the first streamed chunk of a long text (~2 s of audio)
RAMP = 1.5  # each following streamed chunk at most 1.5x the previous one, up to chunk_limit
MAX_TEXT_CHARS = 1_000_000  # spaCy's own limit per call
WATERFALL = ("!.?…", ":;", ",—")
BUMPS = (")", "”")
_PUNCT_ONLY = set(';:,.!?¡¿—…"«»“”()[]{} ')
_MARKUP = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")


def plain_text(text: str) -> str:
    """``text`` with misaki's inline markup removed (``[Kokoro](/kˈOkəɹO/)`` -> ``Kokoro``): what is
    said, e.g. the reference for scoring a round trip."""
    return _MARKUP.sub(r"\1", text)


@dataclass
class WordTiming:
    """Start and end (seconds from the start of the whole audio) of one word.

    ``start``/``end`` are the edges of the word's phoneme durations (its first phoneme's start, its
    last phoneme's end).  ``pipeline_start``/``pipeline_end`` are the timestamps the reference
    ``kokoro.KPipeline`` reports for the same durations (:func:`_pipeline_times`: three frames
    earlier, and the space between two words split between them).  Measured against energy onsets
    after pauses, the duration edges lag the sound by about 40 ms and the pipeline's stamps lead it
    (``workbench.tts.onsets``).
    """

    text: str
    phonemes: str
    start: float
    end: float
    source: str
    flag: str = ""
    pipeline_start: float | None = None
    pipeline_end: float | None = None


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
    symbols: list[str] = field(default_factory=list, repr=False)  # the phoneme symbol of each token
    token_word: list[int] = field(default_factory=list, repr=False)  # g2p token index per token (-1: space)
    start_sample: int = 0  # first sample of this chunk in the whole audio

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def phoneme_frame(self):
        """Per-phoneme-token start/end seconds (absolute), excluding the two pads."""
        import pandas as pd

        edges = (self.start_sample + np.concatenate([[0], np.cumsum(self.durations)]) * FRAME_SAMPLES) / SAMPLE_RATE
        rows = []
        for k, tok in enumerate(self.tokens):
            w = self.token_word[k] if k < len(self.token_word) else -1
            rows.append({"chunk": self.index, "token": k, "id": tok,
                         "symbol": self.symbols[k] if k < len(self.symbols) else "",
                         "start": float(edges[k + 1]), "end": float(edges[k + 2]),
                         "word": self.g2p_tokens[w].text if w >= 0 else ""})
        return pd.DataFrame(rows, columns=["chunk", "token", "id", "symbol", "start", "end", "word"])


@dataclass
class SynthesisResult:
    """A whole synthesized text: audio, chunks, timing tables, notes about what was changed."""

    text: str
    voice: str
    speed: float
    language: str
    chunks: list[SynthChunk]
    notes: list[str]
    model_revision: str
    sample_rate: int = SAMPLE_RATE
    voice_weights: dict[str, float] | None = None

    @property
    def plain_text(self) -> str:
        """The text without inline pronunciation markup."""
        return plain_text(self.text)

    @property
    def audio(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate([c.audio for c in self.chunks])

    @property
    def num_samples(self) -> int:
        return sum(len(c.audio) for c in self.chunks)

    @property
    def duration(self) -> float:
        return self.num_samples / SAMPLE_RATE

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
        """One row per spoken word: chunk, word, phonemes, start, end (seconds, duration edges), source,
        flag, pipeline_start, pipeline_end (``kokoro.KPipeline``'s timestamps; see :class:`WordTiming`)."""
        import pandas as pd

        return pd.DataFrame([{"chunk": c.index, "word": w.text, "phonemes": w.phonemes, "start": w.start,
                              "end": w.end, "source": w.source, "flag": w.flag, "pipeline_start": w.pipeline_start,
                              "pipeline_end": w.pipeline_end} for c in self.chunks for w in c.words],
                            columns=["chunk", "word", "phonemes", "start", "end", "source", "flag",
                                     "pipeline_start", "pipeline_end"])

    def phoneme_timings(self):
        """One row per phoneme token: chunk, token, id, symbol, start, end (seconds), word."""
        import pandas as pd

        frames = [c.phoneme_frame() for c in self.chunks]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["chunk", "token", "id", "symbol", "start", "end", "word"])

    def chunk_table(self):
        """One row per chunk: its text, phoneme and token counts, style row, start and length."""
        import pandas as pd

        return pd.DataFrame([{"chunk": c.index, "graphemes": c.graphemes, "phonemes": len(c.phonemes),
                              "tokens": len(c.tokens), "style_row": c.style_row, "start": c.offset,
                              "duration": c.duration, "frames": int(np.sum(c.durations))} for c in self.chunks],
                            columns=["chunk", "graphemes", "phonemes", "tokens", "style_row", "start", "duration",
                                     "frames"])

    def to_frame(self):
        return self.word_timings()

    def resampled(self, sample_rate: int = 16_000) -> np.ndarray:
        """The audio at another rate (e.g. 16 kHz for wav2vec2)."""
        from ..data.audio import resample

        return resample(self.audio, SAMPLE_RATE, sample_rate)

    def provenance(self) -> dict:
        import datetime
        import importlib.metadata as md

        def version(name: str) -> str:
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                return "n/a"

        return {"model": "kokoro-82m", "model_revision": self.model_revision, "voice": self.voice,
                "voice_weights": self.voice_weights, "speed": self.speed, "language": self.language,
                "sample_rate": SAMPLE_RATE, "chunks": len(self.chunks), "notes": self.notes,
                "versions": {p: version(p) for p in ("onnxruntime", "misaki", "workbench")},
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    def save(self, path, *, timings: bool = True):
        """Write the audio (16-bit WAV at 24 kHz) and, with ``timings``, a JSON sidecar with the
        provenance, word and phoneme timings (``<path>.json``); returns the audio's path."""
        import json
        from pathlib import Path

        import soundfile as sf

        path = Path(path)
        sf.write(str(path), self.audio, SAMPLE_RATE, subtype="PCM_16")
        if timings:
            data = {"text": self.text, **self.provenance(),
                    "words": self.word_timings().to_dict(orient="records"),
                    "phonemes": self.phoneme_timings().to_dict(orient="records")}
            path.with_name(path.name + ".json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str))
        return path

    def plot(self, ax=None, *, kind: str = "waveform"):
        """Waveform (or spectrogram) with word and phoneme spans; see :mod:`workbench.plots.synthesis`."""
        from ..plots.synthesis import plot_timings

        return plot_timings(self, ax=ax, kind=kind)

    def _repr_html_(self) -> str:
        notes = "".join(f"<br><i>{html.escape(n)}</i>" for n in self.notes)
        return (f"<b>{html.escape(self.voice)}</b> · {self.language} · speed {self.speed:g} · {self.duration:.2f} s · "
                f"{len(self.chunks)} chunk(s){notes}<br><code>{html.escape(self.phonemes[:2000])}</code>"
                + token_html(self.tokens))


# ---------------------------------------------------------------------------- voices and options
def resolve_voice(voice: str | dict[str, float] | Voice | np.ndarray,
                  registry: ModelRegistry) -> tuple[Voice, list[str]]:
    """A voice by name, a blend (``"af_bella:0.7,af_sky:0.3"`` or a dict), a :class:`Voice` or a
    raw pack array; returns it with notes (e.g. that blend weights were normalised)."""
    if isinstance(voice, Voice):
        return voice, []
    if isinstance(voice, np.ndarray):
        pack = np.asarray(voice, dtype=np.float32).reshape(-1, STYLE_DIM) if voice.size % STYLE_DIM == 0 else None
        if pack is None or len(pack) < 1:
            raise VoiceError(f"a voice array must hold rows of {STYLE_DIM} values (shape [510, 256]); got {voice.shape}")
        return Voice(name="custom", pack=pack, language="en-us", gender="unknown", source="array"), []
    if isinstance(voice, str) and ("," not in voice and ":" not in voice):
        name = voice.strip()
        if not name:
            raise VoiceError("empty voice name; give one like 'af_heart'")
        return registry.voice(name), []
    if not isinstance(voice, (str, dict)):
        raise VoiceError(f"voice must be a name, a blend string or dict, a Voice or an array; got {type(voice).__name__}")
    weights, note = parse_blend(voice)
    packs = {name: registry.voice(name) for name in weights}
    notes = [note] if note else []
    languages = {v.language for v in packs.values()}
    if len(languages) > 1:
        notes.append(f"the blend mixes languages {sorted(languages)}; the G2P follows the heaviest voice")
    return blend(packs, weights), notes


def check_speed(speed: float) -> float:
    """``speed`` as a float within 0.5..2.0 (Kokoro's usable range), or a TextError saying so."""
    try:
        value = float(speed)
    except (TypeError, ValueError) as exc:
        raise TextError(f"speed={speed!r} is not a number; 1.0 is normal speed") from exc
    if not np.isfinite(value) or not (SPEED_RANGE[0] <= value <= SPEED_RANGE[1]):
        raise TextError(f"speed={speed} is outside {SPEED_RANGE[0]}..{SPEED_RANGE[1]}; 1.0 is normal speed, "
                        "0.5 half as fast, 2.0 twice as fast")
    return value


_check_speed = check_speed  # old name


def check_text(text: str) -> str:
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextError("text is empty (or whitespace only); nothing to synthesize")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(f"text has {len(text):,} characters; split texts over {MAX_TEXT_CHARS:,} characters "
                        "into several files")
    return text


def _language_for(voice: Voice, language: str | None, notes: list[str] | None = None) -> str:
    from ..models.g2p import normalize_language

    if language:
        return normalize_language(language)
    if voice.language not in ("en-us", "en-gb") and notes is not None:
        notes.append(f"voice {voice.name!r} is {voice.language}; only English G2P works offline, so the text "
                     "was phonemized as en-us")
    return "en-gb" if voice.british else "en-us"


# ---------------------------------------------------------------------------- chunking
def waterfall_last(tokens: list[Token], next_count: int, *, limit: int = MAX_TOKENS,
                   waterfall: tuple[str, ...] = WATERFALL, bumps: tuple[str, ...] = BUMPS) -> int:
    """Kokoro's ``KPipeline.waterfall_last``: where to cut ``tokens`` so that the remainder plus the
    next token (``next_count`` phonemes in all) fits in ``limit``; one backward scan per level."""
    for marks in waterfall:
        z = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].spoken and tokens[i].spoken in marks), None)
        if z is None:
            continue
        z += 1
        if z < len(tokens) and tokens[z].spoken in bumps:
            z += 1
        if next_count - len(tokens_to_ps(tokens[:z])) <= limit:
            return z
    return len(tokens)


def _split_long(token: Token, limit: int) -> list[Token]:
    """A token whose phonemes exceed ``limit``, as parts at phoneme spaces (hard cuts as a last resort)."""
    pieces: list[str] = []
    current = ""
    for word in token.spoken.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    n = len(pieces)
    return [Token(text=token.text, tag=token.tag, phonemes=p, source=token.source,
                  whitespace=token.whitespace if i == n - 1 else " ", unknown_symbols=token.unknown_symbols,
                  note=f"part {i + 1}/{n} of a word with {len(token.spoken)} phonemes (over the {limit} limit)")
            for i, p in enumerate(pieces)]


def chunk_tokens(tokens: list[Token], vocab: dict[str, int] | None = None, limit: int = MAX_TOKENS) -> list[list[Token]]:
    """Split G2P tokens into chunks of at most ``limit`` phoneme characters, as Kokoro's
    ``KPipeline.en_tokenize`` does (linear: each cut rescans only the short remainder).

    ``vocab`` is accepted for backward compatibility; Kokoro counts characters, not tokens.
    """
    if limit < 1:
        raise ValueError(f"limit={limit} must be at least 1 phoneme")
    expanded: list[Token] = []
    for t in tokens:
        expanded.extend(_split_long(t, limit) if len(t.spoken) > limit else [t])
    chunks: list[list[Token]] = []
    tks: list[Token] = []
    pcount = 0
    for t in expanded:
        next_ps = t.spoken + (" " if t.whitespace else "")
        next_pcount = pcount + len(next_ps.rstrip())
        if next_pcount > limit and tks:
            z = waterfall_last(tks, next_pcount, limit=limit)
            chunks.append(tks[:z])
            tks = tks[z:]
            pcount = len(tokens_to_ps(tks))
            if not tks:
                next_ps = next_ps.lstrip()
        tks.append(t)
        pcount += len(next_ps)
    if tks:
        chunks.append(tks)
    return [c for c in chunks if c]


def _next_cut(tokens: list[Token], limit: int) -> int:
    """How many of ``tokens`` make the next chunk of at most ``limit`` phonemes, cut where Kokoro's
    ``en_tokenize`` would cut (:func:`waterfall_last`)."""
    pcount = 0
    for i, t in enumerate(tokens):
        next_ps = t.spoken + (" " if t.whitespace else "")
        next_pcount = pcount + len(next_ps.rstrip())
        if next_pcount > limit and i:
            return waterfall_last(tokens[:i], next_pcount, limit=limit)
        pcount += len(next_ps)
    return len(tokens)


def plan_chunks(pieces: Iterable[list[Token]], *, chunk_limit: int = MAX_TOKENS,
                first_chunk: int | None = None) -> Iterator[list[Token]]:
    """The token groups that become chunks, one G2P piece at a time (lazily: a piece is consumed
    only when its first chunk is asked for).

    Without ``first_chunk`` this is :func:`chunk_tokens` on each piece (Kokoro's chunking).  With
    it, the first chunk holds at most ``first_chunk`` phonemes and each next one at most
    :data:`RAMP` times the previous, up to ``chunk_limit``: audio starts after a short chunk, and
    while one chunk plays the next (at most 1.5x longer) is ready at any real-time factor >= 1.5.
    Cuts stay at sentence, clause or comma marks where there are any (Kokoro's waterfall).
    """
    limit = min(int(first_chunk), chunk_limit) if first_chunk else chunk_limit
    for tokens in pieces:
        while tokens and limit < chunk_limit:
            z = _next_cut(tokens, limit)
            for group in chunk_tokens(tokens[:z], limit=limit):  # splits a single over-long word
                yield group
                limit = min(chunk_limit, int(np.ceil(limit * RAMP)))
            tokens = tokens[z:]
        if tokens:
            yield from chunk_tokens(tokens, limit=chunk_limit)


# ---------------------------------------------------------------------------- timings
def _layout(group: list[Token], vocab: dict[str, int]) -> tuple[str, list[int], list[str], list[int]]:
    """The chunk's phoneme string and, per model token, its id, symbol and g2p-token index (-1 = space)."""
    chars: list[tuple[str, int]] = []
    for i, t in enumerate(group):
        chars.extend((c, i) for c in t.spoken)
        if t.whitespace:
            chars.append((" ", -1))
    start, end = 0, len(chars)
    while start < end and chars[start][0].isspace():
        start += 1
    while end > start and chars[end - 1][0].isspace():
        end -= 1
    chars = chars[start:end]
    ps = "".join(c for c, _ in chars)
    kept = [(c, i if not c.isspace() else -1) for c, i in chars if c in vocab]
    return ps, [vocab[c] for c, _ in kept], [c for c, _ in kept], [i for _, i in kept]


#: The reference pipeline's lead: ``kokoro.KPipeline.join_timestamps`` starts counting at the
#: leading pad's duration less three frames ("TODO: Is -3 an appropriate offset?" in its source).
PIPELINE_LEAD_FRAMES = 3


def _pipeline_times(token_word: list[int], durations: np.ndarray, start_sample: int) -> dict[int, tuple[float, float]]:
    """``{g2p token index: (start, end)}`` as ``kokoro.KPipeline.join_timestamps`` computes them.

    Its rule, in half-frames: start at ``2 * max(0, pad - 3)``; a token (word or punctuation)
    starts where the previous one ended, and ends after twice its phoneme frames plus the
    space after it, so each space is split between its two neighbours; the next token starts
    half a space later.  Recomputed here from the same durations (independent code, same rule),
    so the workbench can show the timestamps users of the reference package see.
    """
    half = FRAME_SAMPLES / 2 / SAMPLE_RATE
    d = np.asarray(durations, dtype=np.int64)[1:-1]  # model tokens only (pads dropped)
    left = right = 2 * max(0, int(durations[0]) - PIPELINE_LEAD_FRAMES)
    out: dict[int, tuple[float, float]] = {}
    k = 0
    while k < len(token_word):
        w = token_word[k]
        if w < 0:  # a space with no word before it: split like any other
            left = right + int(d[k])
            right = left + int(d[k])
            k += 1
            continue
        j = k
        while j < len(token_word) and token_word[j] == w:
            j += 1
        spaced = j < len(token_word) and token_word[j] < 0
        space = int(d[j]) if spaced else 0
        start = left
        left = right + 2 * int(d[k:j].sum()) + space
        right = left + space
        out[w] = (start_sample / SAMPLE_RATE + start * half, start_sample / SAMPLE_RATE + left * half)
        k = j + (1 if spaced else 0)
    return out


def _word_timings(group: list[Token], token_word: list[int], durations: np.ndarray,
                  start_sample: int) -> list[WordTiming]:
    """Word start/end seconds from the token durations (pads excluded); punctuation has no word time.
    Each word also carries the reference pipeline's timestamps (:func:`_pipeline_times`)."""
    edges = (start_sample + np.concatenate([[0], np.cumsum(durations)]) * FRAME_SAMPLES) / SAMPLE_RATE
    pipeline = _pipeline_times(token_word, durations, start_sample)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for k, w in enumerate(token_word):
        if w >= 0:
            first.setdefault(w, k)
            last[w] = k
    words = []
    for w in sorted(first):
        t = group[w]
        if t.is_spellable:  # words, numbers and spoken symbols (an emoji read by espeak); not punctuation
            p_start, p_end = pipeline.get(w, (None, None))
            words.append(WordTiming(text=t.text, phonemes=t.phonemes, start=float(edges[first[w] + 1]),
                                    end=float(edges[last[w] + 2]), source=t.source, flag=t.flag,
                                    pipeline_start=p_start, pipeline_end=p_end))
    return words


# ---------------------------------------------------------------------------- synthesis
def text_chunks(text: str, g2p, vocab: dict[str, int], *, split_pattern: str | None = r"\n+",
                chunk_limit: int = MAX_TOKENS, first_chunk: int | None = None,
                max_piece_chars: int = PIECE_CHARS) -> Iterator[list[Token]]:
    """The G2P token groups of ``text`` that become chunks, phonemizing one bounded piece at a
    time (:func:`workbench.tts.textsplit.text_pieces`); no ONNX call.

    With ``first_chunk`` a text longer than that many phonemes starts with the short, growing
    chunks of :func:`plan_chunks`; a shorter one is one chunk either way.
    """
    pieces = text_pieces(text, split_pattern=split_pattern, max_chars=max_piece_chars)
    phonemized = (tokens_from_misaki(g2p(piece)[1], vocab) for piece in pieces)
    yield from plan_chunks(phonemized, chunk_limit=chunk_limit, first_chunk=first_chunk)


def stream(text: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
           language: str | None = None, registry: ModelRegistry | None = None,
           split_pattern: str | None = r"\n+", chunk_limit: int = MAX_TOKENS,
           first_chunk: int | None = FIRST_CHUNK) -> Iterator[SynthChunk]:
    """Yield synthesized chunks one by one (graphemes, phonemes, tokens, audio, durations).

    Memory stays bounded by one chunk and one G2P piece of at most 1,000 characters, so long
    texts can be played or written to disk as they come.  A text over ``first_chunk`` phonemes
    starts with a chunk of at most that many (about 2 s of audio), each next chunk at most 1.5x
    the previous (see :func:`plan_chunks`), so audio starts quickly; ``first_chunk=None`` chunks
    exactly like Kokoro's pipeline (as :func:`synthesize` does).  ``chunk_limit`` (at most
    510) lowers the chunk size, e.g. to see chunk joins on short texts.
    """
    reg = resolve(registry)
    check_text(text)
    speed = check_speed(speed)
    if not 1 <= int(chunk_limit) <= MAX_TOKENS:
        raise TextError(f"chunk_limit={chunk_limit} must be between 1 and {MAX_TOKENS} phonemes")
    if first_chunk is not None and not 1 <= int(first_chunk):
        raise TextError(f"first_chunk={first_chunk} must be a positive number of phonemes (or None)")
    style_voice, _ = resolve_voice(voice, reg)
    lang = _language_for(style_voice, language)
    model: KokoroModel = reg.get("kokoro-82m")
    g2p = reg.g2p(lang)
    start_sample = 0
    index = 0
    for group in text_chunks(text, g2p, model.vocab, split_pattern=split_pattern, chunk_limit=int(chunk_limit),
                             first_chunk=first_chunk):
        ps, ids, symbols, token_word = _layout(group, model.vocab)
        if not ids:
            continue  # nothing the model can say (only unresolved or unknown symbols)
        style_row = min(len(ps), len(style_voice.pack)) - 1  # Kokoro's reference: pack[len(ps) - 1]
        audio, durations = model.infer(ids, style_voice.pack[style_row], speed)
        chunk = SynthChunk(index=index, graphemes=tokens_to_text(group), phonemes=ps, tokens=ids, audio=audio,
                           durations=durations, offset=start_sample / SAMPLE_RATE,
                           words=_word_timings(group, token_word, durations, start_sample), g2p_tokens=group,
                           style_row=style_row, symbols=symbols, token_word=token_word,
                           start_sample=start_sample)
        yield chunk
        start_sample += len(audio)
        index += 1


def synthesize(text: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
               language: str | None = None, registry: ModelRegistry | None = None,
               split_pattern: str | None = r"\n+", chunk_limit: int = MAX_TOKENS) -> SynthesisResult:
    """Synthesize ``text`` whole: the chunks of :func:`stream`, concatenated, with notes on what was
    normalised, dropped or flagged."""
    reg = resolve(registry)
    check_text(text)
    style_voice, notes = resolve_voice(voice, reg)
    lang = _language_for(style_voice, language, notes)
    chunks = list(stream(text, style_voice, speed=speed, language=lang, registry=reg, split_pattern=split_pattern,
                         chunk_limit=chunk_limit, first_chunk=None))
    if not chunks or all(set(c.phonemes) <= _PUNCT_ONLY for c in chunks):
        raise TextError(f"{text[:60]!r} has nothing Kokoro can say (only punctuation, unresolved words or "
                        "symbols outside its vocabulary); check the token table with workbench.models.g2p.phonemize")
    result = SynthesisResult(text=text, voice=style_voice.name, speed=float(speed), language=lang, chunks=chunks,
                             notes=notes, model_revision=reg.get("kokoro-82m").revision,
                             voice_weights=_weights_of(voice))
    flagged = result.flagged
    if flagged:
        shown = ", ".join(f"{t.text!r} ({t.flag})" for t in flagged[:5])
        more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        result.notes.append(f"{len(flagged)} token(s) dropped or mangled: {shown}{more}")
    if len(chunks) > 1:
        result.notes.append(f"split into {len(chunks)} chunks of at most {chunk_limit} phonemes")
    return result


def _weights_of(voice) -> dict[str, float] | None:
    if isinstance(voice, (str, dict)) and (isinstance(voice, dict) or "," in voice or ":" in voice):
        return parse_blend(voice)[0]
    return None


def synthesize_phonemes(phonemes: str, voice: str | dict[str, float] | Voice = "af_heart", *, speed: float = 1.0,
                        registry: ModelRegistry | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Audio and durations for a phoneme string (at most 510 characters), as one graph call with
    the style row ``pack[len(phonemes) - 1]`` (Kokoro's ``generate_from_tokens`` on a string)."""
    reg = resolve(registry)
    if not isinstance(phonemes, str) or not phonemes.strip():
        raise TextError("phonemes must be a non-empty string such as 'həlˈO wˈɜɹld'")
    if len(phonemes) > MAX_TOKENS:
        raise TextError(f"phoneme string has {len(phonemes)} characters, over Kokoro's {MAX_TOKENS}; "
                        "use synthesize() on text, which chunks, or split it")
    style_voice, _ = resolve_voice(voice, reg)
    model: KokoroModel = reg.get("kokoro-82m")
    ids = model.tokenize(phonemes)
    if not ids:
        raise TextError(f"none of the symbols of {phonemes[:40]!r} are in Kokoro's phoneme vocabulary")
    return model.infer(ids, style_voice.pack[min(len(phonemes), PACK_ROWS, len(style_voice.pack)) - 1],
                       check_speed(speed))
