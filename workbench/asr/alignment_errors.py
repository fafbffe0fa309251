"""Where the WER errors sit in the audio, and whether CTC confidences predict them.

* :func:`localize_errors`: every substitution, deletion and insertion of the word alignment
  (``jiwer.process_words``) between the reference and the model's transcript, with its time
  span and what the emissions say there.  Reference-side words (substitutions, deletions) take
  the span forced alignment gives the reference word; insertions take the span of the
  inserted word in the greedy alignment (or, for a hypothesis that is not the model's own
  transcript, the gap between the neighbouring reference words).
* :func:`word_confidences` / :func:`calibration`: word confidence (mean character posterior,
  see :mod:`workbench.asr.alignment`) against correctness over a corpus, in equal-width bins, with
  the expected calibration error (ECE) and the AUROC of confidence for telling right from
  wrong words.  ``side="hyp"`` rates the words the model emitted (correct = a hit);
  ``side="ref"`` rates the reference words as forced alignment scores them (correct = not
  substituted or deleted).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .alignment import Alignment, forced_align, greedy_alignment
from ..errors import WorkbenchError
from ..scoring.worddiff import WordOp

ERROR_COLUMNS = ["utterance", "op", "ref_index", "hyp_index", "ref", "hyp", "start", "end", "start_frame",
                 "end_frame", "span_source", "ref_confidence", "hyp_confidence", "blank_prob", "heard"]


def word_ops(ref_words: list[str], hyp_words: list[str]) -> list[WordOp]:
    """Word-level alignment ops (jiwer), also for an empty reference or hypothesis."""
    import jiwer

    from ..scoring.worddiff import expand_chunks

    if not ref_words:
        return [WordOp("insert", None, j, None, w) for j, w in enumerate(hyp_words)]
    if not hyp_words:
        return [WordOp("delete", i, None, w, None) for i, w in enumerate(ref_words)]
    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    return expand_chunks(out.alignments[0], ref_words, hyp_words)


def _heard(greedy: Alignment, f0: int, f1: int, delim: str) -> str:
    """The characters the model emitted on frames [f0, f1) (delimiters as spaces)."""
    chars = [t.char for t in greedy.tokens if t.end_frame > f0 and t.start_frame < f1]
    return " ".join("".join(" " if c == delim else c for c in chars).split())


def localize_errors(analysis, hypothesis: str | None = None, *, normalizer=None, include_correct: bool = False,
                    forced: Alignment | None = None, greedy: Alignment | None = None):
    """One row per WER error of ``analysis`` (reference vs ``hypothesis``, default: the model's
    greedy transcript) with its time span and the emission posteriors on it.

    Columns: ``op`` (substitute/delete/insert, or equal with ``include_correct``), reference and
    hypothesis word and index, ``start``/``end`` seconds and frames, ``span_source`` (forced,
    greedy or gap), ``ref_confidence`` (forced-alignment confidence of the reference word: how
    well the audio supports it), ``hyp_confidence`` (greedy confidence of the emitted word),
    ``blank_prob`` (mean blank posterior on the span) and ``heard`` (what the model emitted on
    the span).  ``df.attrs`` holds the utterance's word counts and WER.
    """
    import pandas as pd

    if analysis.reference is None:
        raise WorkbenchError(f"{analysis.id}: no reference text; error localisation compares against one")
    forced = forced if forced is not None else forced_align(analysis, normalizer=normalizer, drop_unknown=True)
    greedy = greedy if greedy is not None else greedy_alignment(analysis)
    ref_words = forced.text.split()
    own = hypothesis is None
    if own:
        hyp_words = greedy.text.split()
    else:
        from .alignment import _normalizer

        hyp_words = _normalizer(normalizer)(hypothesis).split()
    ops = word_ops(ref_words, hyp_words)
    lp = np.asarray(analysis.log_probs)
    blank = np.exp(lp[:, analysis.blank_id])
    fs = analysis.frame_seconds
    fwords = {w.index: w for w in forced.words}
    gwords = {w.index: w for w in greedy.words} if own else {}
    rows = []
    prev_ref_end = 0
    for k, op in enumerate(ops):
        if op.ref_index is not None and op.ref_index in fwords:
            prev_ref_end = fwords[op.ref_index].end_frame
        if op.op == "equal" and not include_correct:
            continue
        hyp_conf = gwords[op.hyp_index].confidence if op.hyp_index in gwords else np.nan
        if op.ref_index is not None:
            w = fwords[op.ref_index]
            f0, f1, source, ref_conf = w.start_frame, w.end_frame, "forced", w.confidence
        elif op.hyp_index in gwords:
            w = gwords[op.hyp_index]
            f0, f1, source, ref_conf = w.start_frame, w.end_frame, "greedy", np.nan
        else:  # an inserted word of an outside hypothesis: the gap between its reference neighbours
            nxt = next((fwords[o.ref_index].start_frame for o in ops[k + 1:] if o.ref_index is not None), len(lp))
            f0, f1, source, ref_conf = prev_ref_end, max(nxt, prev_ref_end + 1), "gap", np.nan
        rows.append({"utterance": analysis.id, "op": op.op, "ref_index": op.ref_index, "hyp_index": op.hyp_index,
                     "ref": op.ref, "hyp": op.hyp, "start": f0 * fs, "end": f1 * fs, "start_frame": f0,
                     "end_frame": f1, "span_source": source, "ref_confidence": ref_conf, "hyp_confidence": hyp_conf,
                     "blank_prob": float(blank[f0:f1].mean()) if f1 > f0 else np.nan,
                     "heard": _heard(greedy, f0, f1, analysis.word_delimiter)})
    df = pd.DataFrame(rows, columns=ERROR_COLUMNS)
    df["ref_index"] = df["ref_index"].astype("Int64")
    df["hyp_index"] = df["hyp_index"].astype("Int64")
    counts = {o: sum(1 for x in ops if x.op == o) for o in ("equal", "substitute", "delete", "insert")}
    errors = counts["substitute"] + counts["delete"] + counts["insert"]
    df.attrs.update(utterance=analysis.id, ref_words=len(ref_words), hyp_words=len(hyp_words), hits=counts["equal"],
                    substitutions=counts["substitute"], deletions=counts["delete"], insertions=counts["insert"],
                    wer=errors / len(ref_words) if ref_words else float("nan"))
    return df


def word_confidences(analyses: Iterable, *, side: str = "hyp", normalizer=None):
    """One row per word over the analyses: its confidence and whether it was right (see module doc)."""
    import pandas as pd

    if side not in ("hyp", "ref"):
        raise ValueError(f"side={side!r}; use 'hyp' (emitted words) or 'ref' (reference words)")
    rows = []
    for a in analyses:
        if not getattr(a, "ok", True) or a.reference is None or a.log_probs is None:
            continue
        greedy = greedy_alignment(a)
        if side == "hyp":
            ref_words = _normalised_ref(a, normalizer)
            ops = word_ops(ref_words, greedy.text.split())
            good = {o.hyp_index: o.op == "equal" for o in ops if o.hyp_index is not None}
            for w in greedy.words:
                rows.append({"utterance": a.id, "word": w.word, "index": w.index, "confidence": w.confidence,
                             "min_confidence": w.min_confidence, "correct": bool(good.get(w.index, False))})
        else:
            forced = forced_align(a, normalizer=normalizer, drop_unknown=True)
            ops = word_ops(forced.text.split(), greedy.text.split())
            good = {o.ref_index: o.op == "equal" for o in ops if o.ref_index is not None}
            for w in forced.words:
                rows.append({"utterance": a.id, "word": w.word, "index": w.index, "confidence": w.confidence,
                             "min_confidence": w.min_confidence, "correct": bool(good.get(w.index, False))})
    return pd.DataFrame(rows, columns=["utterance", "word", "index", "confidence", "min_confidence", "correct"])


def _normalised_ref(analysis, normalizer) -> list[str]:
    from .alignment import align_text_to_labels

    words, *_ = align_text_to_labels(analysis.reference, list(analysis.vocab), word_delimiter=analysis.word_delimiter,
                                     normalizer=normalizer, drop_unknown=True, utterance=analysis.id)
    return words


def calibration(analyses: Iterable, *, bins: int = 10, side: str = "hyp", normalizer=None):
    """Word confidence bins vs error rate over a corpus (a reliability table).

    Columns: ``bin_lo``, ``bin_hi``, ``words``, ``errors``, ``error_rate``, ``accuracy``,
    ``mean_confidence``.  ``df.attrs``: ``ece`` (expected calibration error, word-weighted
    |accuracy - confidence|), ``auroc`` (probability that a random correct word has a higher
    confidence than a random wrong one; 0.5 = confidence says nothing), ``words``,
    ``error_rate`` and ``side``.  Plot it with :func:`workbench.plots.alignment.plot_reliability`.
    """
    import pandas as pd

    words = word_confidences(analyses, side=side, normalizer=normalizer)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    conf = words["confidence"].to_numpy(float)
    ok = words["correct"].to_numpy(bool)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    right = np.bincount(idx, weights=ok.astype(float), minlength=bins)
    csum = np.bincount(idx, weights=conf, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = right / n
        mean_conf = csum / n
    df = pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:], "words": n, "errors": n - right.astype(int),
                       "error_rate": 1 - acc, "accuracy": acc, "mean_confidence": mean_conf})
    total = int(n.sum())
    filled = n > 0
    ece = float(np.sum(n[filled] / total * np.abs(acc[filled] - mean_conf[filled]))) if total else float("nan")
    df.attrs.update(ece=ece, auroc=_auroc(conf, ok), words=total, side=side,
                    error_rate=float(1 - ok.mean()) if total else float("nan"))
    return df


def _auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUROC of ``score`` for ``positive`` (ties count half)."""
    import pandas as pd

    npos, nneg = int(positive.sum()), int((~positive).sum())
    if not npos or not nneg:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - npos * (npos + 1) / 2) / (npos * nneg))
