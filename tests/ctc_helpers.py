"""Constructed CTC emissions for tests: a chosen frame-label sequence made into peaked log-probs,
wrapped in a real :class:`UtteranceAnalysis` (no model involved), so the right alignment is known."""
from __future__ import annotations

import numpy as np

from workbench.asr.engine import UtteranceAnalysis

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L", "U", "M",
         "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]
ID = {t: i for i, t in enumerate(VOCAB)}


def collapse(ids, blank=0):
    out, prev = [], None
    for c in ids:
        if c != prev and c != blank:
            out.append(int(c))
        prev = c
    return out


def peaked(frames: list[str], *, peak: float = 0.9, blank_floor: float = 0.0, seed: int = 0) -> np.ndarray:
    """Log-probs whose argmax on frame t is ``frames[t]`` ('' = blank), the rest spread at random."""
    rng = np.random.default_rng(seed)
    T, V = len(frames), len(VOCAB)
    p = rng.dirichlet(np.ones(V), size=T) * (1 - peak)
    for t, tok in enumerate(frames):
        p[t, ID[tok] if tok else 0] += peak
    p[:, 0] += blank_floor
    p /= p.sum(axis=1, keepdims=True)
    return np.log(p).astype(np.float32)


def frames_of(spec: list[tuple[str, int]]) -> list[str]:
    """[(token, n_frames), ...] -> per-frame tokens."""
    return [tok for tok, n in spec for _ in range(n)]


def analysis_of(lp: np.ndarray, reference: str | None, uid: str = "constructed") -> UtteranceAnalysis:
    T = lp.shape[0]
    return UtteranceAnalysis(id=uid, model="constructed", revision="-", num_samples=T * 320 + 80, sample_rate=16_000,
                             frame_stride=320, reference=reference, log_probs=lp, vocab=VOCAB, blank_id=0,
                             word_delimiter="|")


def spoken(words: list[str], *, dur=2, gap=1, lead=3, tail=3) -> tuple[list[str], list[tuple[int, int]]]:
    """Frames of ``words`` spoken with ``dur`` frames per letter and '|' between words; true word spans."""
    spec, spans, t = [("", lead)], [], lead
    for k, w in enumerate(words):
        if k:
            spec += [("", gap), ("|", 1), ("", gap)]
            t += 2 * gap + 1
        start = t
        for i, ch in enumerate(w):
            if i and w[i - 1] == ch:
                spec.append(("", 1))
                t += 1
            spec.append((ch, dur))
            t += dur
        spans.append((start, t))
    spec.append(("", tail))
    return frames_of(spec), spans
