"""WER/CER scoring on hand-made pairs with hand-computed counts, and the system comparison."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from workbench.scoring.normalize import Normalizer
from workbench.scoring.compare import compare_systems
from workbench.scoring.wer import WordOp, score_corpus

REFS = {"u1": "the cat sat on the mat", "u2": "hello world", "u3": "a b c d", "u4": "one two three"}
HYPS = {"u1": "the cat sit on mat", "u2": "hello big world", "u3": "a b c d", "u4": ""}
SPEAKERS = {"u1": "A", "u2": "A", "u3": "B", "u4": "B"}
# hand-computed: (hits, substitutions, deletions, insertions, reference words)
EXPECTED = {"u1": (4, 1, 1, 0, 6), "u2": (2, 0, 0, 1, 2), "u3": (4, 0, 0, 0, 4), "u4": (0, 0, 3, 0, 3)}


@pytest.fixture(scope="module")
def score():
    return score_corpus(REFS, HYPS, speakers=SPEAKERS, n_boot=500, seed=0, name="sys")


def test_per_utterance_counts(score):
    df = score.per_utterance.set_index("id")
    for uid, (h, s, d, i, n) in EXPECTED.items():
        row = df.loc[uid]
        assert (row.hits, row.substitutions, row.deletions, row.insertions, row.ref_words) == (h, s, d, i, n)
        assert row.errors == s + d + i
        assert row.wer == pytest.approx((s + d + i) / n)
    assert df.loc["u3", "correct"] and not df.loc["u1", "correct"]
    assert df.loc["u4", "note"] == "empty hypothesis: all 3 reference words deleted"


def test_cer_hand_computed(score):
    row = score.row("u1")
    # "THE CAT SAT ON THE MAT" -> "THE CAT SIT ON MAT": A->I and "THE " deleted = 5 of 22 characters
    assert row["ref_chars"] == 22 and row["char_errors"] == 5
    assert row["cer"] == pytest.approx(5 / 22)
    total_chars = 22 + 11 + 7 + 13
    total_char_errors = 5 + 4 + 0 + 13
    assert score.cer == pytest.approx(total_char_errors / total_chars)


def test_pooled_vs_mean(score):
    assert score.wer == pytest.approx(6 / 15)  # (2 + 1 + 0 + 3) / (6 + 2 + 4 + 3)
    assert score.mean_wer == pytest.approx((2 / 6 + 1 / 2 + 0 + 1) / 4)
    frame = score.to_frame().iloc[0]
    assert (frame.substitutions, frame.deletions, frame.insertions, frame.errors) == (1, 4, 1, 6)
    assert frame.sentence_error_rate == pytest.approx(3 / 4)


def test_bootstrap_ci_contains_pooled_and_is_seeded(score):
    lo, hi = score.wer_ci
    assert lo <= score.wer <= hi
    # resampled pooled WERs lie between the smallest and largest per-utterance WER
    assert lo >= 0.0 and hi <= 1.0
    again = score_corpus(REFS, HYPS, n_boot=500, seed=0)
    assert again.wer_ci == score.wer_ci
    other = score_corpus(REFS, HYPS, n_boot=500, seed=1)
    assert other.wer_ci != score.wer_ci


def test_bootstrap_collapses_when_every_utterance_has_the_same_rate():
    refs = {f"u{i}": "w1 w2 w3 w4" for i in range(30)}
    hyps = {f"u{i}": "w1 w2 w3 xx" for i in range(30)}
    s = score_corpus(refs, hyps, n_boot=200, seed=3)
    assert s.wer == pytest.approx(0.25)
    assert s.wer_ci == pytest.approx((0.25, 0.25))


def test_by_speaker(score):
    t = score.by_speaker().set_index("speaker")
    assert list(t.index) == ["A", "B"]
    assert (t.loc["A", "utterances"], t.loc["A", "ref_words"], t.loc["A", "errors"]) == (2, 8, 3)
    assert t.loc["A", "wer"] == pytest.approx(3 / 8)
    assert t.loc["A", "mean_wer"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert t.loc["A", "sd_wer"] == pytest.approx(np.std([1 / 3, 1 / 2], ddof=1))
    assert t.loc["B", "wer"] == pytest.approx(3 / 7)
    assert t.loc["B", "median_wer"] == pytest.approx(0.5)
    assert t.loc["B", "sd_wer"] == pytest.approx(math.sqrt(0.5))
    assert t.loc["A", "wer_lo"] <= t.loc["A", "wer"] <= t.loc["A", "wer_hi"]


def test_substitution_deletion_insertion_tables():
    refs = {"a": "i saw the red car", "b": "the dog ran", "c": "big cat", "d": "so very good"}
    hyps = {"a": "i saw a red car", "b": "a dog ran off", "c": "pig cat", "d": "so good good"}
    s = score_corpus(refs, hyps, n_boot=0)
    subs = s.substitutions()
    assert subs.iloc[0].tolist() == ["THE", "A", 2]
    assert set(map(tuple, subs.values.tolist())) == {("THE", "A", 2), ("BIG", "PIG", 1), ("VERY", "GOOD", 1)}
    assert s.insertions().values.tolist() == [["OFF", 1]]
    assert s.deletions().empty
    assert s.substitutions(top=1).shape[0] == 1


def test_char_confusion_counts():
    s = score_corpus({"x": "ab ab", "y": "ba"}, {"x": "ac ab", "y": "b"}, n_boot=0)
    vocab = ["<pad>", "<s>", "</s>", "<unk>", "|", "A", "B", "C"]
    m = s.char_confusion(vocab)
    assert list(m.index) == ["|", "A", "B", "C", "∅"] and list(m.columns) == list(m.index)
    assert m.loc["A", "A"] == 2 and m.loc["B", "C"] == 1 and m.loc["B", "B"] == 2
    assert m.loc["A", "∅"] == 1  # "BA" -> "B": A deleted
    assert m.loc["|", "|"] == 1
    assert int(m.to_numpy().sum()) == 5 + 2  # every reference character once (no insertions here)
    # characters outside the vocabulary are counted, not lost
    m2 = s.char_confusion(["<pad>", "|", "A", "B"])
    assert "<other>" in m2.index and m2.loc["B", "<other>"] == 1


def test_word_alignment_and_diff(score):
    ops = score.word_alignment("u1")
    assert ops[2] == WordOp("substitute", 2, 2, "SAT", "SIT")
    assert ops[4] == WordOp("delete", 4, None, "THE", None)
    assert [o.op for o in ops] == ["equal", "equal", "substitute", "equal", "delete", "equal"]
    assert score.diff("u1") == ("REF:  THE CAT SAT ON THE MAT\n"
                                "HYP:  THE CAT SIT ON *** MAT\n"
                                "EVAL:         S      D")
    assert score.word_alignment("u2")[1] == WordOp("insert", None, 1, None, "BIG")
    with pytest.raises(KeyError):
        score.word_alignment("nope")


def test_html_diff_is_escaped():
    s = score_corpus({"x": "a <script> & b"}, {"x": "a <img> & c"}, normalizer="raw", n_boot=0)
    out = s.diff("x", html=True)
    assert "<script>" not in out and "<img>" not in out
    assert "&lt;script&gt;" in out and "&lt;img&gt;" in out and "&amp;" in out
    assert 'data-op="substitute"' in out


def test_empty_reference_unicode_and_digits():
    refs = {"e": "", "u": "Café au lait", "d": "I have 2 dogs", "n": "x y"}
    hyps = {"e": "uh huh", "u": "CAFE AU LAIT", "d": "I HAVE TWO DOGS", "n": "x y"}
    s = score_corpus(refs, hyps, n_boot=100)
    df = s.per_utterance.set_index("id")
    assert math.isnan(df.loc["e", "wer"]) and df.loc["e", "insertions"] == 2
    assert "WER undefined" in df.loc["e", "note"]
    assert df.loc["u", "errors"] == 0 and df.loc["d", "errors"] == 0
    # raw text: case, accent and digit all count ("I" matches "I")
    assert df.loc["u", "raw_errors"] == 3 and df.loc["d", "raw_errors"] == 3
    # the empty reference's insertions count in the pooled WER, not in the mean
    assert s.wer == pytest.approx(2 / (3 + 4 + 2))
    assert s.mean_wer == 0.0
    assert s.raw_wer == pytest.approx((2 + 3 + 3 + 0) / 9)
    assert any("empty reference" in n for n in s.notes)


def test_error_rows_are_kept_and_excluded():
    refs = {**REFS, "nr": None, "nh": "some words"}
    hyps = {**HYPS, "nr": "anything"}
    s = score_corpus(refs, hyps, errors={"u2": "AudioError: broken file"}, n_boot=0)
    df = s.per_utterance.set_index("id")
    assert set(s.failed["id"]) == {"u2", "nr", "nh"}
    assert df.loc["u2", "error"] == "AudioError: broken file" and pd.isna(df.loc["u2", "wer"])
    assert "no reference" in df.loc["nr", "error"] and "no hypothesis" in df.loc["nh", "error"]
    assert s.wer == pytest.approx((2 + 0 + 3) / (6 + 4 + 3))  # u2 left out
    assert s.diff("u2").startswith("not scored: AudioError")
    assert s.word_alignment("u2") == []


def test_normalizer_choice_changes_the_figures():
    refs, hyps = {"x": "Hello, world!"}, {"x": "HELLO WORLD"}
    assert score_corpus(refs, hyps, n_boot=0).wer == 0.0
    assert score_corpus(refs, hyps, normalizer="raw", n_boot=0).wer == 1.0


def test_save_writes_parseable_files(score, tmp_path):
    out = score.save(tmp_path / "s")
    per = pd.read_csv(out / "per_utterance.csv")
    assert list(per["id"]) == ["u1", "u2", "u3", "u4"] and per["errors"].sum() == 6
    lines = (out / "per_utterance.jsonl").read_text().splitlines()
    assert [json.loads(ln)["id"] for ln in lines] == ["u1", "u2", "u3", "u4"]
    corpus = json.loads((out / "corpus.json").read_text())
    assert corpus["figures"]["wer"] == pytest.approx(0.4) and corpus["figures"]["errors"] == 6
    assert pd.read_csv(out / "by_speaker.csv").shape[0] == 2
    assert "<table" in score._repr_html_()


def _pairs(n_utts: int, wrong: set[int], seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa"]
    refs, hyps = {}, {}
    for i in range(n_utts):
        ref = list(rng.choice(words, 5))
        hyp = list(ref)
        if i in wrong:
            hyp[1], hyp[3] = "zzz", "yyy"
        refs[f"u{i:02d}"], hyps[f"u{i:02d}"] = " ".join(ref), " ".join(hyp)
    return refs, hyps


def test_compare_systems_b_clearly_better():
    refs, hyps_a = _pairs(40, wrong=set(range(30)))
    _, hyps_b = _pairs(40, wrong={0, 1})
    a = score_corpus(refs, hyps_a, name="A", n_boot=500)
    b = score_corpus(refs, hyps_b, name="B", n_boot=500)
    cmp = compare_systems({"A": a, "B": b})
    t = cmp.test("B")
    assert t["utterances"] == 40
    assert t["wer_a"] == pytest.approx(60 / 200) and t["wer_b"] == pytest.approx(4 / 200)
    assert t["delta"] == pytest.approx(4 / 200 - 60 / 200)
    assert t["delta_hi"] < 0
    assert t["p_b_better"] > 0.99
    assert (t["mcnemar_a_only"], t["mcnemar_b_only"]) == (0, 28)
    assert t["mcnemar_p"] == pytest.approx(2 * 0.5 ** 28)
    assert (t["sign_plus"], t["sign_minus"], t["sign_ties"]) == (28, 0, 12)
    assert t["sign_p"] < 1e-6 and t["wilcoxon_p"] < 1e-4
    per = cmp.per_utterance.set_index("id")
    assert per.loc["u05", "delta_B"] == -2 and per.loc["u00", "delta_B"] == 0
    assert list(cmp.table["system"]) == ["A", "B"]


def test_compare_identical_systems_is_a_tie():
    refs, hyps = _pairs(20, wrong={1, 2, 3})
    a = score_corpus(refs, hyps, name="A", n_boot=200)
    b = score_corpus(refs, hyps, name="B", n_boot=200)
    t = compare_systems({"A": a, "B": b}).test("B")
    assert t["p_b_better"] == 0.5 and t["mcnemar_p"] == 1.0 and t["sign_p"] == 1.0 and t["delta"] == 0.0


def test_compare_leaves_out_utterances_not_scored_by_both(tmp_path):
    refs, hyps = _pairs(10, wrong={1})
    a = score_corpus(refs, hyps, name="A", n_boot=50)
    b = score_corpus(refs, hyps, name="B", errors={"u03": "AudioError: x"}, n_boot=50)
    cmp = compare_systems({"A": a, "B": b})
    assert cmp.test("B")["utterances"] == 9
    assert any("1 utterance" in n for n in cmp.notes)
    out = cmp.save(tmp_path)
    assert json.loads((out / "comparison.json").read_text())["tests"][0]["utterances"] == 9
    with pytest.raises(ValueError):
        compare_systems({"A": a})


def test_source_word_index_maps_normalised_words_back():
    s = score_corpus({"a": "It costs 42 dollars, Sir"}, {"a": "' IT COST FORTY TWO DOLLARS SIR"}, n_boot=0)
    assert s.ref_words("a") == ["IT", "COSTS", "FORTY", "TWO", "DOLLARS", "SIR"]
    assert s.source_word_index("a", "ref") == [0, 1, 2, 2, 3, 4]  # "42" -> FORTY TWO
    assert s.source_word_index("a", "hyp") == [1, 2, 3, 4, 5, 6]  # the lone apostrophe is dropped
    spanning = score_corpus({"a": "new york"}, {"a": "new york"},
                            normalizer=Normalizer(replacements={"new york": "newyork"}), n_boot=0)
    assert spanning.source_word_index("a") is None
