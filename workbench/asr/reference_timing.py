"""CTC forced-alignment word times against reference word times from the manifest.

The project's evaluation set (``datasets/kokoro-eval``) was synthesized by Kokoro, so each
manifest row carries Kokoro's own word timings (``words``: ``[{"word", "start", "end"}]``, from
its predicted durations).  :func:`compare_word_timings` matches the words of forced alignments
to those reference words (after the same text normalisation, word by word with
``difflib.SequenceMatcher`` so a word that normalises differently is skipped, not shifted)
and tabulates the start and end differences; :func:`timing_summary` gives the mean and median
absolute differences and the share within 20 ms (one wav2vec2 frame) and 50 ms.

Kokoro's times are in 600-sample frames at 24 kHz (25 ms) and the alignment's in 320-sample
frames at 16 kHz (20 ms), both from the start of the same audio, so differences of a frame
are at resolution.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

import numpy as np

COLUMNS = ["id", "speaker", "word", "ref_start", "ref_end", "ctc_start", "ctc_end", "start_diff", "end_diff",
           "confidence"]


def reference_words(utterance, normalizer=None) -> list[tuple[str, float, float]] | None:
    """``(normalised word, start, end)`` of an utterance's manifest word timings, or None if it has none.

    A manifest word that normalises to several words (e.g. ``"42"``) has no per-word times and
    is left out."""
    from ..scoring.normalize import resolve_normalizer

    words = (utterance.extra or {}).get("words")
    if not words:
        return None
    norm = resolve_normalizer(normalizer)
    out = []
    for w in words:
        parts = norm(str(w.get("word", ""))).split()
        if len(parts) == 1 and w.get("start") is not None and w.get("end") is not None:
            out.append((parts[0], float(w["start"]), float(w["end"])))
    return out


def compare_word_timings(alignments: "Iterable | Mapping", corpus, *, normalizer=None):
    """One row per matched word: reference (manifest) and CTC start/end seconds and their differences.

    ``alignments``: :class:`~workbench.asr.alignment.Alignment` objects (or a mapping id -> Alignment)
    of utterances of ``corpus``; utterances without manifest word timings are skipped.
    ``start_diff``/``end_diff`` are CTC minus reference (positive: the alignment is later).
    """
    import pandas as pd

    items = alignments.values() if isinstance(alignments, Mapping) else alignments
    ids = set(corpus.ids())
    rows = []
    for fa in items:
        if fa.utterance not in ids:
            continue
        utt = corpus[fa.utterance]
        ref = reference_words(utt, normalizer)
        if not ref:
            continue
        ctc = [(w.word.lower(), w.start, w.end, w.confidence) for w in fa.words]
        matcher = difflib.SequenceMatcher(a=[r[0].lower() for r in ref], b=[c[0] for c in ctc], autojunk=False)
        for block in matcher.get_matching_blocks():
            for j in range(block.size):
                r, c = ref[block.a + j], ctc[block.b + j]
                rows.append({"id": utt.id, "speaker": utt.speaker, "word": r[0], "ref_start": r[1], "ref_end": r[2],
                             "ctc_start": c[1], "ctc_end": c[2], "start_diff": c[1] - r[1], "end_diff": c[2] - r[2],
                             "confidence": c[3]})
    return pd.DataFrame(rows, columns=COLUMNS)


def timing_summary(table) -> dict:
    """Words matched, mean/median absolute start and end differences (s), share within 20 and 50 ms."""
    n = len(table)
    if not n:
        return {"words": 0, "utterances": 0, "start_mae": float("nan"), "end_mae": float("nan"),
                "start_median": float("nan"), "end_median": float("nan"), "start_within_20ms": float("nan"),
                "start_within_50ms": float("nan")}
    s = np.abs(table["start_diff"].to_numpy(float))
    e = np.abs(table["end_diff"].to_numpy(float))
    return {"words": n, "utterances": int(table["id"].nunique()), "start_mae": float(s.mean()),
            "end_mae": float(e.mean()), "start_median": float(np.median(s)), "end_median": float(np.median(e)),
            "start_within_20ms": float(np.mean(s <= 0.02 + 1e-9)), "start_within_50ms": float(np.mean(s <= 0.05 + 1e-9))}


