"""`workbench phonemize` and `workbench synthesize` (in-process through cli.main)."""
from __future__ import annotations

import csv

import pytest

from tests.conftest import requires_kokoro_assets
from workbench.cli import main


@requires_kokoro_assets
def test_phonemize_prints_phonemes_and_table(capsys):
    assert main(["phonemize", "Hello world."]) == 0
    assert capsys.readouterr().out.strip() == "həlˈO wˈɜɹld."
    assert main(["phonemize", "Say [zork](/zØrk/).", "--language", "en-gb", "--table"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split("\t") == ["text", "tag", "phonemes", "source", "flag"]
    zork = next(line.split("\t") for line in lines if line.startswith("zork"))
    assert zork[2:4] == ["zØrk", "override"] and "Ø" in zork[4]
    assert "would be dropped" in err


@requires_kokoro_assets
def test_synthesize_streams_file_to_wav_with_timings(tmp_path, capsys):
    import soundfile as sf

    text = tmp_path / "in.txt"
    text.write_text("Good morning.\nThe bells are ringing!\n", encoding="utf-8")
    out, timings = tmp_path / "out.wav", tmp_path / "t.csv"
    assert main(["synthesize", "--file", str(text), "--voice", "af_heart", "--speed", "1.2", "--out", str(out),
                 "--timings", str(timings)]) == 0
    info = sf.info(str(out))
    rows = list(csv.DictReader(timings.open(encoding="utf-8")))
    assert [r["word"] for r in rows] == ["Good", "morning", "The", "bells", "are", "ringing"]
    assert {r["chunk"] for r in rows} == {"0", "1"}  # one chunk per line
    assert info.samplerate == 24_000 and float(rows[-1]["end"]) <= info.duration
    starts = [float(r["start"]) for r in rows]
    assert starts == sorted(starts)
    assert "2 chunk(s), 6 words" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.part"))


@requires_kokoro_assets
@pytest.mark.parametrize("argv, message", [
    (["synthesize", "Hi.", "--voice", "af_hart"], "Close matches: af_heart"),
    (["synthesize", "Hi.", "--speed", "3"], "speed=3.0 is outside"),
    (["synthesize", "   "], "empty"),
    (["synthesize", "Hi.", "--voice", "af_heart:2,af_bella:x"], "not a number"),
])
def test_synthesize_bad_input(argv, message, tmp_path, capsys):
    out = tmp_path / "x.wav"
    assert main([*argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
