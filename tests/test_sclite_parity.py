"""Our corpus error counts equal NIST sclite's on the same reference/hypothesis files.

Both find a minimum-edit alignment, so the total errors (and per-utterance totals) agree.
When several alignments have the same number of errors, sclite (weights sub 4, ins/del 3)
and jiwer (rapidfuzz Levenshtein) may split them differently between S, D and I — e.g.
``A B B B`` vs ``B B B E``: 2 substitutions (jiwer) or 1 deletion + 1 insertion (sclite).
The split is compared on a set without such ties."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.scoring.wer import score_corpus
from workbench.scoring.sclite import parse_pra, parse_rsum, sclite_command, sclite_counts

pytestmark = pytest.mark.skipif(sclite_command() is None,
                                reason="NIST sclite not installed (apt-get install -y sctk)")


def _perturbed(texts: list[str], seed: int) -> dict[str, str]:
    """Hypotheses with seeded substitutions, deletions and insertions of the references' words."""
    rng = np.random.default_rng(seed)
    vocab = sorted({w for t in texts for w in t.split()})
    out = {}
    for i, text in enumerate(texts):
        words = text.split()
        for _ in range(int(rng.integers(0, 4))):
            kind = int(rng.integers(0, 3))
            if kind == 0 and words:
                words[int(rng.integers(len(words)))] = str(rng.choice(vocab))
            elif kind == 1 and words:
                words.pop(int(rng.integers(len(words))))
            else:
                words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(vocab)))
        out[f"utt{i:03d}"] = " ".join(words)
    return out


@pytest.fixture(scope="module")
def eval_texts():
    manifest = Path(__file__).resolve().parents[1] / "datasets" / "kokoro-eval" / "manifest.jsonl"
    rows = [json.loads(ln) for ln in manifest.read_text().splitlines() if ln.strip()]
    return [r["text"] for r in rows], [r["speaker"] for r in rows]


def test_corpus_counts_equal_sclite(eval_texts):
    texts, speakers = eval_texts
    refs = {f"utt{i:03d}": t for i, t in enumerate(texts)}
    refs["utt900"] = ""  # an empty reference: insertions only
    hyps = {**_perturbed(texts, seed=7), "utt900": "uh huh"}
    hyps["utt001"] = ""  # an empty hypothesis: deletions only
    spk = {f"utt{i:03d}": s for i, s in enumerate(speakers)}
    ours = score_corpus(refs, hyps, speakers=spk, n_boot=0)
    theirs = sclite_counts(ours)
    mine = ours.to_frame().iloc[0]
    assert theirs.totals["sentences"] == ours.scored.shape[0] == 61
    assert theirs.totals["words"] == mine.ref_words
    assert theirs.totals["errors"] == mine.errors
    assert theirs.totals["sentence_errors"] == int((ours.scored["errors"] > 0).sum())
    assert theirs.totals["errors"] / theirs.totals["words"] == pytest.approx(ours.wer)
    per = ours.scored.set_index("id")
    assert set(theirs.per_utterance) == set(per.index)
    for uid, (c, s, d, i) in theirs.per_utterance.items():
        assert s + d + i == per.loc[uid, "errors"], uid
        assert c + s + d == per.loc[uid, "ref_words"], uid


def test_split_equals_sclite_without_ties():
    refs = {"a": "the cat sat on the mat", "b": "hello world", "c": "a b c d e f g h", "d": "", "e": "one two"}
    hyps = {"a": "the cat sit on mat", "b": "hello big world", "c": "a b c x d e f g h z", "d": "oops now",
            "e": ""}
    ours = score_corpus(refs, hyps, n_boot=0)
    theirs = sclite_counts(ours)
    mine = ours.to_frame().iloc[0]
    assert (theirs.totals["correct"], theirs.totals["substitutions"], theirs.totals["deletions"],
            theirs.totals["insertions"]) == (mine.hits, mine.substitutions, mine.deletions, mine.insertions)
    assert (mine.substitutions, mine.deletions, mine.insertions) == (1, 3, 5)  # hand-counted


def test_parsers_read_sclite_reports():
    rsum = """
        | SPKR | # Snt # Wrd | Corr    Sub    Del    Ins    Err  S.Err |
        |------+-------------+-----------------------------------------|
        | spka |    2      8 |    6      1      1      1      3      2 |
        |==============================================================|
        | Sum  |    3     16 |   14      1      1      3      5      3 |
    """
    table = parse_rsum(rsum)
    assert table["speaker"].tolist() == ["spka", "Sum"]
    assert table.iloc[1][["words", "errors", "insertions"]].tolist() == [16, 5, 3]
    pra = "id: (spka_000001)\nScores: (#C #S #D #I) 4 1 1 0\nREF:  x\n"
    assert parse_pra(pra) == {"spka_000001": (4, 1, 1, 0)}
