"""CTC basics shared by the engine and alignment: log-softmax, greedy decoding with spans."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CharSpan:
    """An emitted token and its frame span [start, end) in the emissions."""

    token: str
    token_id: int
    start: int
    end: int


def greedy_path(log_probs: np.ndarray) -> np.ndarray:
    """Frame-wise argmax ids."""
    return np.asarray(log_probs).argmax(axis=-1)


def greedy_spans(ids: np.ndarray, vocab: list[str], blank_id: int = 0) -> list[CharSpan]:
    """Collapse repeats, drop blanks; each emitted token keeps the frames of its run."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return []
    change = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [ids.size]])
    out = []
    for s, e in zip(starts, ends):
        tid = int(ids[s])
        if tid == blank_id:
            continue
        out.append(CharSpan(vocab[tid] if tid < len(vocab) else "", tid, int(s), int(e)))
    return out


SPECIAL = {"<pad>", "<s>", "</s>", "<unk>"}


def spans_to_text(spans: list[CharSpan], word_delimiter: str = "|") -> str:
    """The transcript: delimiter tokens become spaces, special tokens are dropped."""
    chars = [" " if s.token == word_delimiter else s.token for s in spans if s.token not in SPECIAL]
    return " ".join("".join(chars).split())
