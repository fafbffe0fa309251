"""``workbench align``: every good utterance written (TextGrid, JSON, CTM, words.csv); bad ones in errors.csv."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from workbench.asr.alignment_files import read_ctm, read_textgrid
from workbench.cli import main


def test_align_writes_every_utterance_and_logs_the_bad_ones(tiny_dirs, eval_corpus, tmp_path, capsys):
    rows = []
    for utt in list(eval_corpus)[:3]:
        rows.append({"id": utt.id, "audio_filepath": str(Path(utt.audio).resolve()), "text": utt.text})
    rows.append({"id": "too-long", "audio_filepath": rows[0]["audio_filepath"], "text": "word " * 400})
    rows.append({"id": "no-audio", "audio_filepath": str(tmp_path / "missing.flac"), "text": "hello"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"

    assert main(["align", "--model", str(tiny_dirs["ctc"]), "--data", str(manifest), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    good = [r["id"] for r in rows[:3]]
    assert sorted(p.stem for p in (out / "textgrid").glob("*.TextGrid")) == sorted(good)
    assert sorted(p.stem for p in (out / "json").glob("*.json")) == sorted(good)

    ctm = read_ctm(out / "alignments.ctm")
    words = pd.read_csv(out / "words.csv")
    assert list(ctm["utterance"].unique()) == good
    assert len(ctm) == len(words) == sum(len(eval_corpus[u].text.split()) for u in good)
    first = read_textgrid(out / "textgrid" / f"{good[0]}.TextGrid")
    assert [w for _, _, w in first["words"]] == list(words[words["utterance"] == good[0]]["word"])
    data = json.loads((out / "json" / f"{good[1]}.json").read_text())
    assert data["utterance"] == good[1] and data["frame_seconds"] == 0.02

    with open(out / "errors.csv", newline="") as fh:
        errors = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(errors) == {"too-long", "line 5"}  # the manifest row whose audio is missing
    assert errors["too-long"]["stage"] == "align" and "frames" in errors["too-long"]["error"]
    assert errors["line 5"]["stage"] == "load" and "missing.flac" in errors["line 5"]["error"]
    assert "aligned 3 of 5 utterances" in printed and "2 errors" in printed


def test_align_subset_of_formats(tiny_dirs, eval_corpus, tmp_path):
    utt = eval_corpus[0]
    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps({"id": utt.id, "audio_filepath": str(Path(utt.audio).resolve()),
                                    "text": utt.text}) + "\n")
    out = tmp_path / "o"
    assert main(["align", "--model", str(tiny_dirs["ctc"]), "--data", str(manifest), "--out", str(out),
                 "--format", "ctm", "--star"]) == 0
    assert (out / "alignments.ctm").exists() and not (out / "textgrid").exists() and not (out / "json").exists()
