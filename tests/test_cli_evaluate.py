"""``workbench evaluate`` and ``workbench transcribe`` on a 4-utterance manifest with one bad file."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from workbench.cli import main


@pytest.fixture(scope="module")
def small_manifest(tmp_path_factory, eval_corpus):
    """4 real utterances, one unreadable audio file (an error row) and one missing file (a load problem)."""
    root = tmp_path_factory.mktemp("cli-data")
    rows = [{"id": u.id, "audio_filepath": u.audio, "text": u.text, "speaker": u.speaker}
            for u in eval_corpus.subset(4)]
    bad = root / "bro<ken>&.wav"  # file-name text must come out escaped in the report
    bad.write_text("this is not audio")
    rows.append({"id": "broken", "audio_filepath": str(bad), "text": "a <b>broken</b> file", "speaker": "x"})
    rows.append({"id": "missing", "audio_filepath": "nowhere.wav", "text": "gone"})
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return manifest


@pytest.fixture(scope="module")
def two_checkpoints(tiny_dirs, tmp_path_factory):
    """The random CTC checkpoint under two folder names (two 'systems' with identical output)."""
    copy = tmp_path_factory.mktemp("ckpt") / "rand-ctc-copy"
    shutil.copytree(tiny_dirs["ctc"], copy)
    return [str(tiny_dirs["ctc"]), str(copy)]


def test_evaluate_writes_tables_comparison_and_report(small_manifest, two_checkpoints, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(["evaluate", "--model", two_checkpoints[0], "--model", two_checkpoints[1], "--data",
               str(small_manifest), "--out", str(out), "--n-boot", "50", "--audio", "1"])
    assert rc == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "1 manifest row(s) skipped" in printed and "report.html" in printed
    assert "skipped line 6" in captured.err and "skipped line 6" not in printed  # listed once, on stderr

    per = pd.read_csv(out / "per_utterance.csv")
    assert len(per) == 2 * 5 and set(per["system"]) == {"ctc", "rand-ctc-copy"}
    broken = per[per["id"] == "broken"]
    assert broken["error"].str.startswith("AudioError").all() and broken["wer"].isna().all()
    ok = per[per["id"] != "broken"]
    assert ok["error"].isna().all() and (ok["wer"] >= 0).all() and (ok["ref_words"] > 0).all()
    assert [json.loads(ln)["id"] for ln in (out / "per_utterance.jsonl").read_text().splitlines()][:5] == \
        list(per["id"][:5])

    corpus = pd.read_csv(out / "corpus.csv")
    assert list(corpus["system"]) == ["ctc", "rand-ctc-copy"]
    assert (corpus["scored"] == 4).all() and (corpus["failed"] == 1).all()
    first = ok[ok["system"] == "ctc"]
    assert corpus.loc[0, "wer"] == pytest.approx(first["errors"].sum() / first["ref_words"].sum())
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["provenance"]["models"]["ctc"] and meta["provenance"]["packages"]["jiwer"]

    tests = pd.read_csv(out / "comparison_tests.csv")
    assert tests.loc[0, "utterances"] == 4 and tests.loc[0, "delta"] == 0  # same weights: a tie
    assert (out / "ctc" / "by_speaker.csv").exists() and (out / "rand-ctc-copy" / "substitutions.csv").exists()

    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.startswith("<!DOCTYPE html>") and "Provenance" in report
    assert "bro&lt;ken&gt;&amp;.wav" in report and "bro<ken>" not in report
    assert report.count("data:audio/wav;base64,") == 2  # --audio 1, per model
    assert report.count("data:image/png;base64,") >= 4


def test_transcribe_prints_the_engine_transcripts(eval_corpus, tiny_dirs, capsys):
    files = [u.audio for u in eval_corpus.subset(2)]
    assert main(["transcribe", *files, "--model", str(tiny_dirs["ctc"]), "--json"]) == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [ln["id"] for ln in lines] == [u.id for u in eval_corpus.subset(2)]
    assert all(ln["error"] is None and ln["transcript"] for ln in lines)
    assert all(set(ln["transcript"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ' ") for ln in lines)
    assert main(["transcribe", *files, "--model", str(tiny_dirs["ctc"])]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert plain == [f"{ln['id']}\t{ln['transcript']}" for ln in lines]
