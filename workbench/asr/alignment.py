"""CTC alignments of one utterance: forced (Viterbi over the reference) and greedy (what the model emitted).

Both read the cached emissions of an :class:`~workbench.asr.engine.UtteranceAnalysis`; neither runs
the model again::

    a = wb.analyze(corpus, "w2v2-tiny-ctc")["eval-00000"]
    fa = forced_align(a)                  # the reference text, normalised to the model alphabet
    fa.to_frame()                         # one row per word: start/end seconds, confidence
    fa.to_frame("char")                   # one row per character
    fa.save("eval-00000.TextGrid")        # or .ctm / .json
    greedy_alignment(a).words             # the spans of the words the model emitted

Times come from the model's real frame stride (``analysis.frame_seconds``: 320 samples at
16 kHz = 20 ms for the base architecture): a span of frames ``[s, e)`` is ``[s*fs, e*fs)``
seconds.

Confidences.  A character's posterior is ``exp(mean log-prob of its token on the frames the
path gives it)`` (a geometric mean of the frame posteriors).  A word's ``confidence`` is the
arithmetic mean of its characters' posteriors, so every letter counts once however long it is
held (a long vowel does not outvote a misheard consonant); ``min_confidence`` is its weakest
letter.  Words under ``confidence_threshold`` (default 0.5) are flagged ``low_confidence``.

Text.  The reference goes through :func:`workbench.scoring.normalize.default_normalizer` (upper case,
digits spelled out, punctuation removed, accents stripped) with its alphabet filter switched
off, so every character that still is not in the model's vocabulary is *reported* in
:attr:`Alignment.unmapped` instead of vanishing: :class:`AlignmentError` unless
``drop_unknown=True``.  Spaces become the model's word delimiter ``|``.

Star.  ``star=True`` adds an optional wildcard state before the first word, after every
delimiter and after the last word (like the ``*`` token of torchaudio's forced-alignment
API).  On frame ``t`` it scores ``max over non-blank tokens of log p - star_penalty``, so it
absorbs speech missing from the transcript (a word the reference left out, a false start)
instead of forcing those frames onto neighbouring words.  A positive penalty (default 1 nat
per frame) keeps real letters preferred whenever they fit the audio about as well.
"""
from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.ctc import SPECIAL
from ..errors import AlignmentError, CapabilityError
from .trellis import ViterbiResult, build_trellis, viterbi

if TYPE_CHECKING:  # pragma: no cover
    from .engine import UtteranceAnalysis

STAR = "*"
DEFAULT_THRESHOLD = 0.5

__all__ = ["Alignment", "TokenSpan", "WordSpan", "Unmapped", "forced_align", "greedy_alignment",
           "align_text_to_labels", "STAR"]


# --------------------------------------------------------------------------- result objects
@dataclass(frozen=True)
class TokenSpan:
    """One aligned token: its frames ``[start_frame, end_frame)`` and seconds, and its mean posterior."""

    char: str
    token_id: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    posterior: float
    index: int  # position in the aligned label sequence
    word_index: int  # index of the word it belongs to; -1 for delimiters and stars

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class WordSpan:
    """One aligned word: from its first character's first frame to its last character's last frame."""

    word: str
    index: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    confidence: float  # mean of its characters' posteriors
    min_confidence: float  # its weakest character's posterior
    low_confidence: bool

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Unmapped:
    """A character of the text that is not in the model's vocabulary (after normalisation)."""

    char: str
    word: str
    word_index: int
    position: int  # character offset in the normalised text

    @property
    def codepoint(self) -> str:
        return f"U+{ord(self.char):04X} {unicodedata.name(self.char, '?')}"


@dataclass
class Alignment:
    """A CTC alignment of one utterance (forced or greedy) with token and word spans."""

    utterance: str
    model: str
    revision: str
    mode: str  # "forced" | "greedy"
    text: str  # the aligned (normalised) text, words separated by single spaces
    tokens: list[TokenSpan]
    words: list[WordSpan]
    path: np.ndarray = field(repr=False)  # [T] trellis state per frame (label j is state 2j+1; blanks even)
    frame_ids: np.ndarray = field(repr=False)  # [T] emission column per frame (blank id for blank frames)
    score: float = 0.0  # total log-prob of the path (with star penalties when star=True)
    frame_seconds: float = 0.02
    sample_rate: int = 16_000
    frame_stride: int = 320
    unmapped: list[Unmapped] = field(default_factory=list)
    star: bool = False
    confidence_threshold: float = DEFAULT_THRESHOLD
    stats: dict[str, Any] = field(default_factory=dict, repr=False)
    analysis: "UtteranceAnalysis | None" = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ views
    @property
    def num_frames(self) -> int:
        return int(self.path.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames * self.frame_seconds

    @property
    def stars(self) -> list[TokenSpan]:
        """Star spans that absorbed frames (untranscribed speech), in time order."""
        return [t for t in self.tokens if t.char == STAR]

    @property
    def low_confidence_words(self) -> list[WordSpan]:
        return [w for w in self.words if w.low_confidence]

    def word_samples(self, index: int) -> tuple[int, int]:
        """[start, end) audio samples of word ``index`` (frames times the stride)."""
        w = self.words[index]
        return w.start_frame * self.frame_stride, w.end_frame * self.frame_stride

    def word_at(self, seconds: float) -> WordSpan | None:
        """The word whose span contains ``seconds`` (None between words)."""
        for w in self.words:
            if w.start <= seconds < w.end:
                return w
        return None

    def frame_labels(self) -> np.ndarray:
        """[T] object array: the aligned token of every frame ('' for blank).

        Delimiter frames carry the word delimiter (``|``), star frames ``*``.  Used by the
        codebook and embedding analyses to label frames with characters.
        """
        out = np.full(self.num_frames, "", dtype=object)
        for tok in self.tokens:
            out[tok.start_frame:tok.end_frame] = tok.char
        return out

    def frame_word_index(self) -> np.ndarray:
        """[T] int: the word each frame lies in (first to last char, blanks inside included), -1 outside."""
        out = np.full(self.num_frames, -1, dtype=np.int64)
        for w in self.words:
            out[w.start_frame:w.end_frame] = w.index
        return out

    def with_threshold(self, threshold: float) -> "Alignment":
        """The same alignment with ``low_confidence`` recomputed for another threshold."""
        words = [replace(w, low_confidence=w.confidence < threshold) for w in self.words]
        return replace(self, words=words, confidence_threshold=float(threshold))

    def to_frame(self, level: str = "word"):
        """A DataFrame of the words (``level="word"``) or characters (``level="char"``)."""
        import pandas as pd

        if level in ("word", "words"):
            cols = ["utterance", "index", "word", "start", "end", "start_frame", "end_frame", "confidence",
                    "min_confidence", "low_confidence"]
            rows = [{"utterance": self.utterance, "index": w.index, "word": w.word, "start": w.start, "end": w.end,
                     "start_frame": w.start_frame, "end_frame": w.end_frame, "confidence": w.confidence,
                     "min_confidence": w.min_confidence, "low_confidence": w.low_confidence} for w in self.words]
            return pd.DataFrame(rows, columns=cols)
        if level in ("char", "chars", "token", "tokens"):
            cols = ["utterance", "index", "char", "token_id", "word_index", "start", "end", "start_frame",
                    "end_frame", "posterior"]
            rows = [{"utterance": self.utterance, "index": t.index, "char": t.char, "token_id": t.token_id,
                     "word_index": t.word_index, "start": t.start, "end": t.end, "start_frame": t.start_frame,
                     "end_frame": t.end_frame, "posterior": t.posterior} for t in self.tokens]
            return pd.DataFrame(rows, columns=cols)
        raise ValueError(f"level={level!r}; use 'word' or 'char'")

    def summary(self) -> str:
        low = len(self.low_confidence_words)
        conf = float(np.mean([w.confidence for w in self.words])) if self.words else float("nan")
        return (f"{self.mode} alignment of {self.utterance} ({self.model}): {len(self.words)} words over "
                f"{self.duration:.2f} s, log-prob {self.score:.1f}, mean word confidence {conf:.2f}, "
                f"{low} below {self.confidence_threshold:g}"
                + (f", {len(self.stars)} star spans" if self.star else "")
                + (f", {len(self.unmapped)} unmapped characters dropped" if self.unmapped else ""))

    def _repr_html_(self) -> str:
        cells = []
        for w in self.words:
            colour = "#c62828" if w.low_confidence else "#2e7d32"
            alpha = 0.15 + 0.5 * (1 - w.confidence)
            cells.append(
                f'<span title="{w.start:.2f}-{w.end:.2f} s, confidence {w.confidence:.2f} (min {w.min_confidence:.2f})"'
                f' style="display:inline-block;margin:1px;padding:1px 4px;border-radius:3px;'
                f'border-bottom:2px solid {colour};background:rgba(198,40,40,{alpha if w.low_confidence else 0.05:.2f})">'
                f'{html.escape(w.word)}<sub style="color:#777">{w.start:.2f}</sub></span>')
        return (f'<div class="wb-alignment"><div style="color:#555;font-size:90%">{html.escape(self.summary())}'
                f'</div><div style="line-height:2">{"".join(cells)}</div></div>')

    def __repr__(self) -> str:
        return f"Alignment({self.mode!r}, {self.utterance!r}, {len(self.words)} words, score={self.score:.2f})"

    def plot(self, ax=None, **kw):
        """Emission heatmap with this path overlaid (see :mod:`workbench.plots.alignment`)."""
        from ..plots.alignment import plot_emissions

        if self.analysis is None:
            raise CapabilityError("this alignment was loaded without its analysis; plot_emissions needs the "
                                  "emissions: pass the UtteranceAnalysis to forced_align/greedy_alignment")
        return plot_emissions(self.analysis, alignment=self, ax=ax, **kw)

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write a Praat TextGrid, an sclite CTM or JSON (format from ``format`` or the suffix)."""
        from .alignment_files import save_alignment

        return save_alignment(self, path, format=format)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready), with provenance."""
        from ..provenance import collect

        return {
            "utterance": self.utterance, "mode": self.mode, "text": self.text, "score": self.score,
            "frame_seconds": self.frame_seconds, "num_frames": self.num_frames, "sample_rate": self.sample_rate,
            "frame_stride": self.frame_stride, "star": self.star, "confidence_threshold": self.confidence_threshold,
            "words": [w.__dict__ for w in self.words], "tokens": [t.__dict__ for t in self.tokens],
            "unmapped": [u.__dict__ for u in self.unmapped],
            "provenance": collect({self.model: self.revision}),
        }


# --------------------------------------------------------------------------- text -> labels
def _normalizer(normalizer):
    """The normaliser to use, with its alphabet filter off (we report, not drop, what does not fit)."""
    from ..scoring.normalize import Normalizer, resolve_normalizer

    norm = resolve_normalizer(normalizer)
    if isinstance(norm, Normalizer) and norm.alphabet is not None:
        norm = replace(norm, alphabet=None)
    return norm


def align_text_to_labels(text: str, vocab: list[str], *, word_delimiter: str = "|",
                         normalizer=None, drop_unknown: bool = False, utterance: str = "") \
        -> tuple[list[str], list[int], list[int], list[Unmapped]]:
    """Normalise ``text`` and turn it into vocabulary ids.

    Returns ``(words, label_ids, label_word_index, unmapped)``: label ids include the word
    delimiter between words (word index -1).  Characters that are not in ``vocab`` after
    normalisation (trying the other letter case too) are collected in ``unmapped``; they raise
    :class:`AlignmentError` unless ``drop_unknown`` (then they are left out, and so is a word
    left empty).
    """
    norm = _normalizer(normalizer)
    normalised = norm(text or "")
    if not isinstance(normalised, str):
        raise AlignmentError(f"the normalizer returned {type(normalised).__name__}, not str")
    table = {tok: i for i, tok in enumerate(vocab) if tok and tok not in SPECIAL}
    delim = table.get(word_delimiter)
    words: list[str] = []
    ids: list[int] = []
    word_of: list[int] = []
    unmapped: list[Unmapped] = []
    pos = 0
    for raw_word in normalised.split():
        start = normalised.index(raw_word, pos)
        pos = start + len(raw_word)
        kept_chars, kept_ids = [], []
        for k, ch in enumerate(raw_word):
            tid = table.get(ch)
            if tid is None:
                tid = table.get(ch.upper(), table.get(ch.lower()))
                ch = vocab[tid] if tid is not None else ch
            if tid is None:
                unmapped.append(Unmapped(ch, raw_word, len(words), start + k))
                continue
            kept_chars.append(ch)
            kept_ids.append(tid)
        if not kept_ids:
            continue
        if words and delim is not None:
            ids.append(delim)
            word_of.append(-1)
        ids.extend(kept_ids)
        word_of.extend([len(words)] * len(kept_ids))
        words.append("".join(kept_chars))
    if unmapped and not drop_unknown:
        listed = ", ".join(f"{u.char!r} ({u.codepoint}) in {u.word!r}" for u in unmapped[:8])
        more = f" and {len(unmapped) - 8} more" if len(unmapped) > 8 else ""
        raise AlignmentError(
            f"{utterance + ': ' if utterance else ''}{len(unmapped)} character(s) of the text are not in the "
            f"model's vocabulary after normalisation: {listed}{more}. Map them with a normalizer "
            "(e.g. Normalizer(replacements={...})), fix the text, or pass drop_unknown=True to align without them "
            "(they are then listed in Alignment.unmapped)")
    return words, ids, word_of, unmapped


# --------------------------------------------------------------------------- helpers
def _check(analysis) -> np.ndarray:
    if analysis is None:
        raise AlignmentError("no analysis given; run workbench.analyze(...) first and pass one UtteranceAnalysis")
    if getattr(analysis, "error", None):
        raise AlignmentError(f"{analysis.id}: its analysis failed ({analysis.error}); nothing to align")
    lp = analysis.log_probs
    if lp is None:
        raise CapabilityError(
            f"{analysis.id}: the analysis of {analysis.model!r} has no CTC emissions; alignment needs a CTC model "
            "(e.g. 'w2v2-tiny-ctc' or 'wav2vec2-base-960h')")
    lp = np.asarray(lp)
    if lp.ndim != 2 or lp.shape[0] == 0:
        raise AlignmentError(f"{analysis.id}: emissions of shape {lp.shape}; expected [frames, vocab] with frames > 0")
    return lp


def _star_column(lp: np.ndarray, vocab: list[str], blank_id: int) -> np.ndarray:
    """Per frame, the best non-blank, non-special token's log-prob (what a wildcard can claim)."""
    keep = np.array([i != blank_id and (i >= len(vocab) or vocab[i] not in SPECIAL) for i in range(lp.shape[1])])
    return lp[:, keep].max(axis=1)


def _token_spans(token_of_frame: np.ndarray, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) frames of each label (−1 where a label got no frame) from the per-frame label index."""
    frames = np.flatnonzero(token_of_frame >= 0)
    tok = token_of_frame[frames]
    idx = np.arange(n_tokens)
    lo = np.searchsorted(tok, idx, side="left")
    hi = np.searchsorted(tok, idx, side="right")
    present = hi > lo
    starts = np.full(n_tokens, -1, dtype=np.int64)
    ends = np.full(n_tokens, -1, dtype=np.int64)
    starts[present] = frames[lo[present]]
    ends[present] = frames[hi[present] - 1] + 1
    return starts, ends


def _mean_log(lp_cols: np.ndarray, frame_token: np.ndarray, n_tokens: int) -> np.ndarray:
    """Mean of per-frame log-probs grouped by label index (frames with index -1 ignored)."""
    m = frame_token >= 0
    sums = np.bincount(frame_token[m], weights=lp_cols[m].astype(np.float64), minlength=n_tokens)
    counts = np.bincount(frame_token[m], minlength=n_tokens)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _build(analysis, *, mode: str, text: str, chars: list[str], token_ids: list[int], word_of: list[int],
           words_text: list[str], frame_token: np.ndarray, path: np.ndarray, frame_ids: np.ndarray,
           lp_ext: np.ndarray, score: float, threshold: float, unmapped: list[Unmapped], star: bool,
           stats: dict) -> Alignment:
    """Token and word spans from the per-frame label index of a path."""
    n = len(chars)
    fs = analysis.frame_seconds
    T = lp_ext.shape[0]
    starts, ends = _token_spans(frame_token, n)
    frame_lp = lp_ext[np.arange(T), frame_ids]
    post = np.exp(_mean_log(frame_lp, frame_token, n))
    tokens = [TokenSpan(chars[j], int(token_ids[j]), int(starts[j]), int(ends[j]), float(starts[j] * fs),
                        float(ends[j] * fs), float(post[j]), j, int(word_of[j]))
              for j in range(n) if starts[j] >= 0]
    by_word: dict[int, list[TokenSpan]] = {}
    for tok in tokens:
        if tok.word_index >= 0:
            by_word.setdefault(tok.word_index, []).append(tok)
    words = []
    for w, word in enumerate(words_text):
        toks = by_word.get(w)
        if not toks:
            continue
        posts = np.array([t.posterior for t in toks])
        conf = float(posts.mean())
        words.append(WordSpan(word, w, toks[0].start_frame, toks[-1].end_frame, toks[0].start, toks[-1].end,
                              conf, float(posts.min()), conf < threshold))
    return Alignment(utterance=analysis.id, model=analysis.model, revision=getattr(analysis, "revision", ""),
                     mode=mode, text=text, tokens=tokens, words=words, path=path, frame_ids=frame_ids,
                     score=float(score), frame_seconds=fs, sample_rate=analysis.sample_rate,
                     frame_stride=analysis.frame_stride, unmapped=unmapped, star=star,
                     confidence_threshold=float(threshold), stats=stats, analysis=analysis)


# --------------------------------------------------------------------------- forced
def forced_align(analysis: "UtteranceAnalysis", text: str | None = None, *, normalizer=None,
                 star: bool = False, star_penalty: float = 1.0, drop_unknown: bool = False,
                 beam: float | None = None, confidence_threshold: float = DEFAULT_THRESHOLD,
                 max_backpointer_bytes: int = 64 << 20) -> Alignment:
    """Viterbi forced alignment of ``text`` (default: the analysis's reference) to its cached emissions.

    ``star``: optional wildcard states between words that absorb untranscribed speech (each of
    their frames scores the best non-blank log-prob minus ``star_penalty``).  ``beam``: prune
    states more than ``beam`` nats below each frame's best (for hour-long audio; exact when None).
    Long inputs keep at most ``max_backpointer_bytes`` of backpointers (checkpointed Viterbi).
    Raises :class:`AlignmentError` when the text does not fit the frames or has characters the
    model cannot emit (unless ``drop_unknown``).
    """
    lp = _check(analysis)
    if text is None:
        text = analysis.reference
        if text is None:
            raise AlignmentError(f"{analysis.id}: no reference text to align; pass text=... or use greedy_alignment")
    vocab = list(analysis.vocab)
    if not vocab:
        raise CapabilityError(f"{analysis.id}: the analysis has no vocabulary; forced alignment needs a CTC model")
    words, ids, word_of, unmapped = align_text_to_labels(text, vocab, word_delimiter=analysis.word_delimiter,
                                                         normalizer=normalizer, drop_unknown=drop_unknown,
                                                         utterance=analysis.id)
    blank = int(analysis.blank_id)
    V = lp.shape[1]
    chars = [vocab[i] for i in ids]
    is_star = [False] * len(ids)
    if star:
        delim = vocab.index(analysis.word_delimiter) if analysis.word_delimiter in vocab else None
        s_ids, s_chars, s_word, s_star = [V], [STAR], [-1], [True]
        for tid, ch, w in zip(ids, chars, word_of):
            s_ids.append(tid)
            s_chars.append(ch)
            s_word.append(w)
            s_star.append(False)
            if tid == delim and w == -1:
                s_ids.append(V)
                s_chars.append(STAR)
                s_word.append(-1)
                s_star.append(True)
        if len(s_ids) > 1:
            s_ids.append(V)
            s_chars.append(STAR)
            s_word.append(-1)
            s_star.append(True)
        ids, chars, word_of, is_star = s_ids, s_chars, s_word, s_star
        star_col = _star_column(lp, vocab, blank)
        lp_ext = np.concatenate([lp, star_col[:, None]], axis=1)
        emis = lp_ext.copy()
        emis[:, V] -= np.float32(star_penalty)
    else:
        lp_ext = lp
        emis = lp
    trellis = build_trellis(ids, blank, star=is_star)
    T = lp.shape[0]
    if trellis.min_frames > T:
        n_labels = int((~trellis.star).sum())
        fs = analysis.frame_seconds
        raise AlignmentError(
            f"{analysis.id}: the transcript needs at least {trellis.min_frames} frames ({n_labels} labels + "
            f"{trellis.repeats} blanks between repeated letters) but the audio has only {T} frames "
            f"({T * fs:.2f} s at {fs * 1000:g} ms per frame). Check that the text belongs to this audio; "
            f"otherwise align a shorter text (or split the audio) — at least {trellis.min_frames * fs:.2f} s of audio "
            "is needed for this text")
    result: ViterbiResult = viterbi(emis, trellis, beam=beam, max_backpointer_bytes=max_backpointer_bytes)
    path = result.states
    frame_token = trellis.token[path]
    frame_ids = trellis.ids[path]
    stats = {"checkpointed": result.checkpointed, "backpointer_bytes": result.backpointer_bytes,
             "checkpoint_bytes": result.checkpoint_bytes, "cells": result.cells, "states": trellis.num_states,
             "beam": beam}
    return _build(analysis, mode="forced", text=" ".join(words), chars=chars, token_ids=ids, word_of=word_of,
                  words_text=words, frame_token=frame_token, path=path, frame_ids=frame_ids, lp_ext=lp_ext,
                  score=result.score, threshold=confidence_threshold, unmapped=unmapped, star=star, stats=stats)


# --------------------------------------------------------------------------- greedy
def greedy_alignment(analysis: "UtteranceAnalysis", *,
                     confidence_threshold: float = DEFAULT_THRESHOLD) -> Alignment:
    """The spans of the characters the model emitted (frame-wise argmax, repeats merged, blanks dropped).

    Special tokens (``<s>``, ``<unk>``, ...) count as blank.  The path is given in the same state
    numbering as a forced alignment of the greedy transcript (token ``j`` is state ``2j+1``).
    """
    from ..models.ctc import greedy_spans

    lp = _check(analysis)
    vocab = list(analysis.vocab)
    ids = lp.argmax(axis=1)
    spans = [s for s in greedy_spans(ids, vocab, analysis.blank_id) if s.token not in SPECIAL and s.token]
    delim = analysis.word_delimiter
    chars, token_ids, word_of, words = [], [], [], []
    current: list[str] = []
    for s in spans:
        if s.token == delim:
            if current:
                words.append("".join(current))
                current = []
            word_of.append(-1)
        else:
            current.append(s.token)
            word_of.append(len(words))
        chars.append(s.token)
        token_ids.append(s.token_id)
    if current:
        words.append("".join(current))
    T = lp.shape[0]
    frame_token = np.full(T, -1, dtype=np.int64)
    for j, s in enumerate(spans):
        frame_token[s.start:s.end] = j
    # state numbering: token j -> 2j+1; a blank frame after token j-1 -> 2j
    emitted = np.maximum.accumulate(np.where(frame_token >= 0, frame_token, -1))
    path = np.where(frame_token >= 0, 2 * frame_token + 1, 2 * (emitted + 1))
    frame_ids = np.where(frame_token >= 0, ids, analysis.blank_id)
    score = float(lp.max(axis=1).astype(np.float64).sum())
    return _build(analysis, mode="greedy", text=" ".join(words), chars=chars, token_ids=token_ids, word_of=word_of,
                  words_text=words, frame_token=frame_token, path=path, frame_ids=frame_ids, lp_ext=lp, score=score,
                  threshold=confidence_threshold, unmapped=[], star=False, stats={})


def align(analysis: "UtteranceAnalysis", *, mode: str = "forced", **kw) -> Alignment:
    """``forced_align`` or ``greedy_alignment`` by name."""
    if mode == "forced":
        return forced_align(analysis, **kw)
    if mode == "greedy":
        return greedy_alignment(analysis, **{k: v for k, v in kw.items() if k == "confidence_threshold"})
    raise ValueError(f"mode={mode!r}; use 'forced' or 'greedy'")
