"""Per-frame labels from a CTC model: the aligned character and word of every frame.

Representation analyses (codes vs characters, embeddings, probes) need to know which
character each 20 ms frame belongs to.  :func:`frame_labels_for` reads a cached CTC analysis
(it never runs the model) and labels every frame with the token the CTC alignment puts there
(``""`` for blank, ``|`` for the word delimiter) and the word around it: the forced
alignment of the reference text (:func:`workbench.asr.alignment.forced_align`) when the
utterance has a reference that fits, otherwise the greedy spans of what the model emitted
(:func:`workbench.asr.alignment.greedy_alignment`).  ``source`` says which, ``note`` why.

A pretraining model and its paired CTC model share the 320-sample stride, so their frames
correspond one to one; :func:`paired_labels` checks the lengths and trims to the shorter.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CapabilityError, WorkbenchError

BLANK = ""


@dataclass
class FrameLabels:
    """Labels of the ``T`` frames of one utterance."""

    utterance: str
    chars: np.ndarray  # [T] object: aligned token, "" for blank, the word delimiter between words
    word_index: np.ndarray  # [T] int: the word a frame lies in (first..last char, blanks inside), -1 outside
    words: list[str]  # word texts, in order (reference words when forced, emitted words when greedy)
    source: str  # "forced" | "greedy"
    note: str | None = field(default=None)

    def __len__(self) -> int:
        return int(self.chars.shape[0])

    @property
    def word_labels(self) -> np.ndarray:
        """[T] object: the word text of each frame ("" outside words)."""
        table = np.array(list(self.words) + [""], dtype=object)
        return table[self.word_index]  # -1 picks the trailing ""

    def trimmed(self, n: int) -> "FrameLabels":
        return FrameLabels(self.utterance, self.chars[:n], self.word_index[:n], self.words, self.source, self.note)

    def word_frames(self, index: int) -> tuple[int, int]:
        """[start, end) frames of word ``index``."""
        where = np.flatnonzero(self.word_index == index)
        if where.size == 0:
            raise IndexError(f"{self.utterance}: no frames for word {index} (have {len(self.words)} words)")
        return int(where[0]), int(where[-1]) + 1


def frame_labels_for(analysis_ctc, *, prefer: str = "forced") -> FrameLabels:
    """Per-frame char and word labels of one CTC analysis (forced alignment when it can).

    ``prefer="greedy"`` skips the forced alignment and labels what the model emitted.
    """
    from ..asr.alignment import forced_align, greedy_alignment

    if analysis_ctc.log_probs is None:
        raise CapabilityError(
            f"{analysis_ctc.id}: the analysis of {analysis_ctc.model!r} has no CTC emissions; frame labels need a CTC "
            "model (e.g. 'w2v2-tiny-ctc' or 'wav2vec2-base-960h')")
    if prefer not in ("forced", "greedy"):
        raise ValueError(f"prefer={prefer!r} must be 'forced' or 'greedy'")
    alignment, note = None, None
    if prefer == "greedy":
        note = "greedy spans requested"
    elif not analysis_ctc.reference:
        note = "no reference text: greedy spans used"
    else:
        try:
            alignment = forced_align(analysis_ctc)
        except WorkbenchError as exc:
            note = f"forced alignment failed ({exc}); greedy spans used"
    if alignment is None:
        alignment = greedy_alignment(analysis_ctc)
    chars = np.asarray(alignment.frame_labels(), dtype=object)
    return FrameLabels(analysis_ctc.id, chars, np.asarray(alignment.frame_word_index(), dtype=np.int64),
                       [w.word for w in alignment.words], alignment.mode, note)


def labels_by_id(ctc_result, *, prefer: str = "forced") -> dict[str, FrameLabels]:
    """Frame labels of every successful utterance of a CTC analysis result."""
    return {a.id: frame_labels_for(a, prefer=prefer) for a in ctc_result if a.ok}


def paired_labels(analysis, labels: FrameLabels) -> tuple[int, FrameLabels]:
    """Frames shared by ``analysis`` and labels from its paired CTC model (same stride).

    Returns the common frame count and the labels trimmed to it.  A difference of more than
    one frame means the two analyses are not the same audio at the same stride.
    """
    n_a, n_l = analysis.num_frames, len(labels)
    if abs(n_a - n_l) > 1:
        raise WorkbenchError(
            f"{analysis.id}: {n_a} frames in the {analysis.model!r} analysis but {n_l} frame labels; the paired "
            "CTC model must see the same audio with the same 320-sample stride")
    n = min(n_a, n_l)
    return n, labels.trimmed(n)
