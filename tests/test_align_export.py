"""Alignment files parse back: Praat TextGrid (praatio), sclite CTM columns, JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest
from ctc_helpers import analysis_of, peaked, spoken

from workbench.asr.alignment_files import read_ctm, read_textgrid, save_alignment, write_ctm
from workbench.asr.alignment import forced_align, greedy_alignment
from workbench.errors import WorkbenchError

WORDS = ["SHE", "SELLS", "SEA", "SHELLS"]


@pytest.fixture(scope="module")
def alignment():
    frames, _ = spoken(WORDS)
    return forced_align(analysis_of(peaked(frames), "She sells sea-shells", uid="utt 1"))


def test_textgrid_has_word_and_char_tiers_that_parse_back(alignment, tmp_path):
    path = alignment.save(tmp_path / "a.TextGrid")
    tiers = read_textgrid(path)
    assert list(tiers) == ["words", "chars"]
    assert [(round(s, 6), round(e, 6), w) for s, e, w in tiers["words"]] == \
           [(round(w.start, 6), round(w.end, 6), w.word) for w in alignment.words]
    letters = [t for t in alignment.tokens if t.char != "|"]
    assert [c for _, _, c in tiers["chars"]] == [t.char for t in letters] == list("".join(WORDS))
    text = path.read_text()
    assert 'File type = "ooTextFile"' in text and "size = 2" in text
    assert f"xmax = {alignment.analysis.num_samples / 16000:g}" in text  # tiers span the whole audio


def test_ctm_has_six_columns_per_word(alignment, tmp_path):
    path = alignment.save(tmp_path / "a.ctm")
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(";;")]
    assert len(lines) == len(alignment.words)
    for line, w in zip(lines, alignment.words):
        cols = line.split()
        assert len(cols) == 6
        assert cols[0] == "utt_1" and cols[1] == "1" and cols[4] == w.word
        assert float(cols[2]) == pytest.approx(w.start, abs=5e-4)
        assert float(cols[3]) == pytest.approx(w.end - w.start, abs=1e-3)
        assert float(cols[5]) == pytest.approx(w.confidence, abs=1e-4)
    df = read_ctm(path)
    assert list(df.columns) == ["utterance", "channel", "start", "duration", "word", "confidence"]
    assert list(df["word"]) == WORDS


def test_one_ctm_for_many_utterances(alignment, tmp_path):
    frames, _ = spoken(["HELLO"])
    other = greedy_alignment(analysis_of(peaked(frames), "hello", uid="utt2"))
    path = write_ctm([alignment, other], tmp_path / "all.ctm")
    df = read_ctm(path)
    assert list(df["utterance"]) == ["utt_1"] * 4 + ["utt2"]
    assert np.all(df.groupby("utterance")["start"].apply(lambda s: s.is_monotonic_increasing))
    bad = tmp_path / "bad.ctm"
    bad.write_text("u 1 0.1 HELLO\n")
    with pytest.raises(WorkbenchError, match="5 or 6 columns, found 4"):
        read_ctm(bad)


def test_json_round_trip_with_provenance(alignment, tmp_path):
    path = alignment.save(tmp_path / "a.json")
    data = json.loads(path.read_text())
    assert [w["word"] for w in data["words"]] == WORDS
    assert data["words"][1]["start"] == alignment.words[1].start
    assert len(data["tokens"]) == len(alignment.tokens)
    assert data["frame_seconds"] == 0.02 and data["mode"] == "forced"
    assert data["provenance"]["models"] == {"constructed": "-"} and "numpy" in data["provenance"]["packages"]


def test_star_spans_and_format_choice(tmp_path):
    frames, _ = spoken(["CAT", "DOG", "SUN"], dur=3)
    fa = forced_align(analysis_of(peaked(frames, blank_floor=0.02), "cat sun"), star=True)
    tiers = read_textgrid(save_alignment(fa, tmp_path / "x.txt", format="textgrid"))
    assert [w for _, _, w in tiers["words"]] == ["CAT", "*", "SUN"]
    with pytest.raises(WorkbenchError, match="cannot tell the format"):
        fa.save(tmp_path / "x.txt")
