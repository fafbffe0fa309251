"""Corpus loaders on fixtures with bad rows (reported, never fatal) and on the real LibriSpeech samples."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import requires_librispeech
from workbench.data.corpus import Corpus, Utterance
from workbench.errors import CorpusError

SR = 16_000


def _wav(path: Path, seconds: float, *, sr: int = SR, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * sr))
    sf.write(path, 0.1 * np.sin(np.arange(n) * 2 * np.pi * 220 / sr), sr, format=fmt)
    return path


# ------------------------------------------------------------------------------------------ LibriSpeech
def test_librispeech_layout_with_a_missing_flac(tmp_path):
    chapter = tmp_path / "ls" / "19" / "198"
    _wav(chapter / "19-198-0000.flac", 0.5, fmt="FLAC")
    _wav(chapter / "19-198-0001.flac", 0.25, fmt="FLAC")
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 NORTHANGER ABBEY\n19-198-0001 THIS LITTLE WORK\n19-198-0002 WAS FINISHED IN THE YEAR\n\n")
    other = tmp_path / "ls" / "26" / "495"
    _wav(other / "26-495-0004.flac", 1.0, fmt="FLAC")
    (other / "26-495.trans.txt").write_text("26-495-0004 I HAD A COUSIN\n")

    corpus = Corpus.load(tmp_path / "ls")  # layout guessed from the *.trans.txt files
    assert corpus.ids() == ["19-198-0000", "19-198-0001", "26-495-0004"]
    assert [u.speaker for u in corpus] == ["19", "19", "26"]
    assert corpus["19-198-0001"].text == "THIS LITTLE WORK"
    assert [u.duration for u in corpus] == [0.5, 0.25, 1.0]
    assert corpus["26-495-0004"].extra["chapter"] == "495"
    assert len(corpus.problems) == 1
    problem = corpus.problems[0]
    assert problem.row == "line 3" and "19-198-0002.flac is missing" in problem.reason

    frame = corpus.to_frame()
    assert list(frame.columns[:5]) == ["id", "audio", "text", "speaker", "duration"]
    assert frame["duration"].sum() == pytest.approx(1.75)
    assert corpus.problems_frame().shape == (1, 3)


def test_librispeech_folder_without_transcripts_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no \\*.trans.txt files"):
        Corpus.from_librispeech(tmp_path / "empty")


# ------------------------------------------------------------------------------------------ JSONL
def test_jsonl_manifest_with_bad_rows(tmp_path):
    _wav(tmp_path / "audio" / "a.wav", 0.5)
    _wav(tmp_path / "audio" / "b.wav", 0.75)
    abs_c = _wav(tmp_path / "elsewhere" / "c.wav", 0.25)
    manifest = tmp_path / "sub" / "manifest.jsonl"
    manifest.parent.mkdir()
    lines = [
        json.dumps({"audio_filepath": "../audio/a.wav", "text": "HELLO", "duration": 0.5, "speaker": "s1", "lang": "en"}),
        "{this is not json",
        json.dumps({"audio_filepath": "../audio/missing.wav", "text": "GONE"}),
        json.dumps(["a", "list"]),
        json.dumps({"text": "NO AUDIO KEY"}),
        "",
        json.dumps({"audio_filepath": str(abs_c), "text": "ABSOLUTE", "duration": "n/a"}),
        json.dumps({"id": "a", "audio_filepath": "../audio/b.wav", "text": "DUPLICATE ID"}),
        json.dumps({"audio_filepath": "../audio/b.wav", "text": "WORLD"}),
    ]
    manifest.write_text("\n".join(lines) + "\n")

    corpus = Corpus.load(manifest)
    assert corpus.ids() == ["a", "c", "b"]
    a, c, b = corpus
    assert Path(a.audio) == (manifest.parent / "../audio/a.wav")  # relative to the manifest, not the cwd
    assert Path(a.audio).resolve() == (tmp_path / "audio" / "a.wav").resolve()
    assert (a.text, a.speaker, a.duration, a.extra) == ("HELLO", "s1", 0.5, {"lang": "en"})
    assert c.duration == 0.25  # "n/a" reported, then read from the header
    assert b.duration == 0.75 and b.text == "WORLD"

    reasons = {(p.row, p.reason.split(" (")[0].split(";")[0]) for p in corpus.problems}
    assert ("line 2", "bad JSON") in reasons
    assert any(r == "line 3" and "missing.wav does not exist" in p.reason
               for p in corpus.problems for r in [p.row])
    assert ("line 4", "bad JSON") in reasons  # a list is not an object
    assert any(p.row == "line 5" and "no audio column" in p.reason for p in corpus.problems)
    assert any(p.row == "line 7" and "'n/a' is not a number" in p.reason for p in corpus.problems)
    assert any("duplicate id 'a'" in p.reason for p in corpus.problems)
    assert len(corpus.problems) == 6


def test_missing_manifest_is_a_corpus_error(tmp_path):
    for loader in (Corpus.load, Corpus.from_jsonl, Corpus.from_csv, Corpus.from_folder, Corpus.from_librispeech):
        with pytest.raises(CorpusError, match="no such"):
            loader(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(CorpusError, match="unknown manifest type '.txt'"):
        Corpus.load(tmp_path / "x.txt")


# ------------------------------------------------------------------------------------------ CSV
def test_csv_manifest_with_alternative_columns_and_bad_rows(tmp_path):
    _wav(tmp_path / "wavs" / "one.wav", 0.5)
    _wav(tmp_path / "wavs" / "two.flac", 0.25, fmt="FLAC")
    (tmp_path / "m.csv").write_text(
        "utt_id,path,text,speaker,duration,split\n"
        "u1,wavs/one.wav,\"HELLO, THERE\",spk1,0.5,test\n"
        "u2,wavs/nothing.wav,LOST,spk1,1.0,test\n"
        "u3,,NO PATH,spk2,,test\n"
        "u4,wavs/two.flac,SECOND,spk2,,dev\n")
    corpus = Corpus.load(tmp_path / "m.csv")
    assert corpus.ids() == ["u1", "u4"]
    assert corpus["u1"].text == "HELLO, THERE" and corpus["u1"].extra == {"split": "test"}
    assert corpus["u4"].duration == 0.25 and corpus["u4"].speaker == "spk2"
    assert [p.row for p in corpus.problems] == ["line 3", "line 4"]
    frame = corpus.to_frame()
    assert frame["split"].tolist() == ["test", "dev"]

    (tmp_path / "m.tsv").write_text("audio\ttext\nwavs/one.wav\tTAB SEPARATED\n")
    assert Corpus.load(tmp_path / "m.tsv")[0].text == "TAB SEPARATED"


def test_csv_line_that_is_not_utf8_is_one_problem_row(tmp_path):
    for name in "abc":
        _wav(tmp_path / f"{name}.wav", 0.5)
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbfaudio,text\na.wav,FIRST\nb.wav,caf\xe9\nc.wav,THIRD\n")
    corpus = Corpus.load(tmp_path / "m.csv")
    assert [u.text for u in corpus] == ["FIRST", "THIRD"]  # the BOM is not part of the first column's name
    assert [p.row for p in corpus.problems] == ["line 3"] and "UTF-8" in corpus.problems[0].reason
    (tmp_path / "bad.csv").write_bytes(b"aud\xe9o,text\na.wav,X\n")
    with pytest.raises(CorpusError, match="header"):
        Corpus.load(tmp_path / "bad.csv")


# ------------------------------------------------------------------------------------------ folder
def test_folder_of_audio_with_same_named_txt_references(tmp_path):
    root = tmp_path / "clips"
    _wav(root / "x.wav", 0.5)
    (root / "x.txt").write_text("  FIRST CLIP \n")
    _wav(root / "nested" / "y.flac", 0.25, fmt="FLAC")
    (root / "nested" / "y.txt").write_text("SECOND")
    _wav(root / "z.ogg", 0.5, fmt="OGG")  # no reference text
    (root / "notes.md").write_text("not audio")
    corpus = Corpus.load(root)
    assert corpus.ids() == ["nested/y", "x", "z"]
    assert [u.text for u in corpus] == ["SECOND", "FIRST CLIP", None]
    assert corpus["nested/y"].duration == 0.25
    assert corpus["z"].load().shape == (8000,)


def test_folder_without_audio_is_an_error(tmp_path):
    (tmp_path / "a.txt").write_text("text only")
    with pytest.raises(CorpusError, match="no audio files"):
        Corpus.from_folder(tmp_path)


# ------------------------------------------------------------------------------------------ in-memory + API
def test_arrays_subset_add_and_lookup():
    corpus = Corpus.from_arrays([np.zeros(800, np.float32), np.ones(1600, np.float32) * 0.1],
                                sample_rate=8000, texts=["A", "B"])
    assert corpus.ids() == ["utt0000", "utt0001"]
    assert [u.duration for u in corpus] == [0.1, 0.2]
    assert corpus[1].load(16_000).shape == (3200,)
    assert corpus.to_frame()["audio"].tolist() == ["<array>", "<array>"]
    assert corpus.subset(1).ids() == ["utt0000"] and corpus.subset(["utt0001"]).ids() == ["utt0001"]
    corpus.add(Utterance(id="extra", array=np.zeros(160, np.float32), sample_rate=16_000))
    with pytest.raises(CorpusError, match="already in corpus"):
        corpus.add(Utterance(id="extra"))
    with pytest.raises(KeyError, match="no utterance 'nope'"):
        corpus["nope"]
    with pytest.raises(CorpusError, match="neither an audio path nor an array"):
        Utterance(id="empty").load()


# ------------------------------------------------------------------------------------------ real data
@requires_librispeech
def test_real_librispeech_samples_from_the_asset_path():
    from workbench.models.assets import find_asset

    corpus = Corpus.load(find_asset("speech/librispeech"))
    assert len(corpus) == 23 and corpus.problems == []
    assert set(u.speaker for u in corpus) == {"1088", "1089", "1221", "1272", "1988", "1995", "2412", "251",
                                              "3536", "3752"}
    assert all(u.text and u.text == u.text.upper() for u in corpus)
    rates = {u.id: sf.info(u.audio).samplerate for u in corpus}
    assert [k for k, v in rates.items() if v != SR] == ["1272-128104-0004"]
    assert rates["1272-128104-0004"] == 8000
    low = corpus["1272-128104-0004"]
    frames = sf.info(low.audio).frames
    audio = low.load(SR)
    assert audio.dtype == np.float32 and len(audio) == 2 * frames  # resampled 8 kHz -> 16 kHz
    assert low.duration == pytest.approx(frames / 8000)
    assert corpus.to_frame()["duration"].between(1, 40).all()
