"""score_corpus's counts and alignments are jiwer's, pair by pair (it calls rapidfuzz directly for speed)."""
from __future__ import annotations

import jiwer
import numpy as np

from workbench.scoring.normalize import default_normalizer
from workbench.scoring.wer import score_corpus


def _pairs(n: int = 400, seed: int = 1) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    vocab = ["the", "cat", "sat", "on", "a", "mat", "don't", "Café", "42nd", "well-known", "it's", "dogs'", "x"]
    refs, hyps = {}, {}
    for i in range(n):
        ref = [vocab[j] for j in rng.integers(0, len(vocab), size=rng.integers(0, 9))]
        hyp = [w for w in ref if rng.random() > 0.15]
        hyp = [vocab[rng.integers(len(vocab))] if rng.random() < 0.15 else w for w in hyp]
        if rng.random() < 0.3:
            hyp.insert(int(rng.integers(0, len(hyp) + 1)), vocab[rng.integers(len(vocab))])
        refs[f"u{i}"] = " ".join(ref) + ("  ,;" if i % 7 == 0 else "")
        hyps[f"u{i}"] = "\t".join(hyp) if i % 11 == 0 else " ".join(hyp)
    return refs, hyps


def test_counts_and_chunks_equal_jiwer_per_pair():
    refs, hyps = _pairs()
    score = score_corpus(refs, hyps, n_boot=0)
    norm = default_normalizer()
    ids = list(refs)
    rn, hn = [norm(refs[k]) for k in ids], [norm(hyps[k]) for k in ids]
    words, chars = jiwer.process_words(rn, hn), jiwer.process_characters(rn, hn)
    raw = jiwer.process_words([" ".join(refs[k].split()) for k in ids], [" ".join(hyps[k].split()) for k in ids])
    df = score.per_utterance.set_index("id")
    for k, uid in enumerate(ids):
        ops = {t: 0 for t in ("equal", "substitute", "delete", "insert")}
        for c in words.alignments[k]:
            ops[c.type] += (c.hyp_end_idx - c.hyp_start_idx) if c.type == "insert" else (c.ref_end_idx - c.ref_start_idx)
        row = df.loc[uid]
        assert (row.hits, row.substitutions, row.deletions, row.insertions) == (
            ops["equal"], ops["substitute"], ops["delete"], ops["insert"]), uid
        assert row.ref_words == len(words.references[k]) and row.hyp_words == len(words.hypotheses[k])
        assert score.word_alignment(uid) is not None
        aligned = score._aligned[uid]
        assert aligned.chunks == words.alignments[k] and aligned.char_chunks == chars.alignments[k]
        assert row.ref_chars == len(chars.references[k])
        assert row.char_errors == sum((c.hyp_end_idx - c.hyp_start_idx) if c.type == "insert"
                                      else (c.ref_end_idx - c.ref_start_idx)
                                      for c in chars.alignments[k] if c.type != "equal")
    assert score.wer == words.wer
    assert score.cer == chars.cer
    assert score.raw_wer == raw.wer


def test_bootstrap_is_computed_when_first_read_and_is_seeded():
    refs, hyps = _pairs(60)
    score = score_corpus(refs, hyps, n_boot=300, seed=4)
    assert score._cis is None  # nothing paid for until asked
    lo, hi = score.wer_ci
    assert lo <= score.wer <= hi and score._cis is not None
    assert score_corpus(refs, hyps, n_boot=300, seed=4).wer_ci == (lo, hi)
    assert score.cer_ci[0] <= score.cer <= score.cer_ci[1]
