"""Comparative evaluation reports (workbench.reports.evaluation, `workbench report`) and manifest word timings
(workbench.asr.reference_timing), on the random tiny checkpoints and real Kokoro-eval audio."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from workbench.data.corpus import Corpus, Utterance
from workbench.errors import WorkbenchError
from workbench.asr.reference_timing import compare_word_timings, timing_summary
from workbench.evaluation.systems import System, evaluate_systems, parse_system, parse_systems
from workbench.reports.evaluation import build_evaluation_report


@pytest.mark.parametrize("value, expected", [
    ("w2v2-tiny-ctc", System("w2v2-tiny-ctc", "float32", "auto")),
    ("w2v2-tiny-ctc@int8", System("w2v2-tiny-ctc", "int8", "cpu")),
    ("m@bf16", System("m", "bfloat16", "cpu")),
    ("m@fp32", System("m", "float32", "auto")),
    ("m@float16", System("m", "float16", "auto")),
    ("org/model@int8", System("org/model", "int8", "cpu")),
    (("m", "int8", "cpu"), System("m", "int8", "cpu")),
])
def test_parse_system(value, expected):
    got = parse_system(value)
    assert got == expected
    assert got.name == (expected.model if expected.dtype == "float32" else f"{expected.model}@{expected.dtype}")


@pytest.mark.parametrize("value, message", [
    ("m@int4", "unknown precision 'int4'"),
    ("@int8", "no model name"),
])
def test_parse_system_errors(value, message):
    with pytest.raises(WorkbenchError, match=message):
        parse_system(value)


def test_parse_systems_rejects_duplicates_and_empty():
    with pytest.raises(WorkbenchError, match="given twice"):
        parse_systems(["a@int8", "a@int8"])
    with pytest.raises(WorkbenchError, match="no systems"):
        parse_systems([])
    assert [s.name for s in parse_systems(["a", "a@int8"])] == ["a", "a@int8"]


@pytest.fixture(scope="module")
def small_corpus(eval_corpus):
    return eval_corpus.subset(4)


@pytest.fixture(scope="module")
def fp32_vs_int8(small_corpus, shared_registry):
    return evaluate_systems(small_corpus, ["rand-ctc", "rand-ctc@int8"], registry=shared_registry, n_boot=50,
                            progress=False)


def test_evaluate_systems_scores_each_precision_on_its_own(fp32_vs_int8, small_corpus, shared_registry):
    from workbench.evaluation.evaluate import evaluate

    ev = fp32_vs_int8
    assert ev.models == ["rand-ctc", "rand-ctc@int8"]
    # the float32 system is exactly what `workbench evaluate` computes for the model
    plain = evaluate(small_corpus, "rand-ctc", registry=shared_registry, n_boot=50, progress=False)
    assert ev["rand-ctc"].wer == pytest.approx(plain.score.wer)
    assert list(ev["rand-ctc"].per_utterance["hypothesis"]) == list(plain.score.per_utterance["hypothesis"])
    # int8 really ran a quantized model: the emissions differ from float32 on every utterance
    for uid in small_corpus.ids():
        a32, a8 = ev.analyses["rand-ctc"][uid], ev.analyses["rand-ctc@int8"][uid]
        assert a32.log_probs.shape == a8.log_probs.shape
        assert np.abs(a32.log_probs - a8.log_probs).max() > 0
    # hypotheses of the int8 system are its own transcripts
    assert dict(zip(ev["rand-ctc@int8"].per_utterance["id"], ev["rand-ctc@int8"].per_utterance["hypothesis"])) == {
        a.id: a.transcript for a in ev.analyses["rand-ctc@int8"]}
    t = ev.comparison.test("rand-ctc@int8")
    assert (t["a"], t["b"], t["utterances"]) == ("rand-ctc", "rand-ctc@int8", len(small_corpus))
    systems = ev.provenance["systems"]
    assert systems["rand-ctc@int8"]["dtype"] == "int8" and systems["rand-ctc@int8"]["device"] == "cpu"
    assert systems["rand-ctc"]["revision"] == ev.analyses["rand-ctc"][0].revision


def test_report_is_self_contained_with_systems_alignments_and_provenance(fp32_vs_int8):
    rep = build_evaluation_report(fp32_vs_int8, worst=2, audio=1, alignments=2)
    doc = rep.to_html()
    assert doc.startswith("<!DOCTYPE html>")
    assert "<script" not in doc and not re.search(r'(src|href)="(https?:)?//', doc)
    assert doc.index("<h2>Systems</h2>") < doc.index("<h2>Corpus figures</h2>")
    assert "rand-ctc@int8" in doc and ">int8<" in doc
    assert "<h2>Comparison</h2>" in doc and "paired tests against the baseline" in doc
    assert "per speaker" in doc
    assert "Alignments of the 2 worst utterances (rand-ctc)" in doc
    worst = list(fp32_vs_int8.score.worst(2)["id"])
    for uid in worst:
        assert f"<h3>{uid}: WER" in doc
    assert doc.count("data:image/png;base64,") >= 2 + 2 * 2  # histograms/speakers per system + 2 alignment figures
    assert doc.count("data:audio/wav;base64,") >= 1
    assert "package torch" in doc and re.search(r"<td>date</td><td>\d{4}-\d\d-\d\dT", doc)
    assert f"model rand-ctc@int8</td><td>{fp32_vs_int8.analyses['rand-ctc@int8'][0].revision}" in doc


def test_report_escapes_transcript_and_id_text(eval_corpus, shared_registry):
    src = eval_corpus[0]
    nasty = Corpus([Utterance(id="u<1>&", audio=src.audio, text="Tom & <b>Jerry</b> said \"hi\"",
                              speaker="<i>spk</i>")], name="esc<corpus>")
    ev = evaluate_systems(nasty, ["rand-ctc"], registry=shared_registry, n_boot=20, progress=False)
    doc = build_evaluation_report(ev, worst=1, audio=0, alignments=1).to_html()
    assert "<b>Jerry</b>" not in doc and "<i>spk</i>" not in doc and "u<1>&" not in doc
    assert "&lt;b&gt;Jerry&lt;/b&gt;" in doc or "&lt;b&gt;jerry" in doc.lower()
    assert "u&lt;1&gt;&amp;" in doc
    assert "esc&lt;corpus&gt;" in doc


def test_cli_report_writes_the_document(tiny_dirs, eval_corpus, tmp_path, capsys):
    from workbench.cli import main

    manifest = tmp_path / "m.jsonl"
    with manifest.open("w") as f:
        for u in eval_corpus.subset(3):
            f.write(json.dumps({"id": u.id, "audio_filepath": u.audio, "text": u.text, "speaker": u.speaker}) + "\n")
        f.write('{"id": "broken", "audio_filepath": "missing.flac", "text": "x"}\n')
    out = tmp_path / "out" / "report.html"
    rc = main(["report", "--model", str(tiny_dirs["ctc"]), "--model", f"{tiny_dirs['ctc']}@int8",
               "--data", str(manifest), "--out", str(out), "--n-boot", "20", "--worst", "3", "--audio", "1",
               "--alignments", "1"])
    captured = capsys.readouterr()
    printed = captured.out
    assert rc == 0
    doc = out.read_text()
    # the folder is registered under its name ("ctc", or its full path when "ctc" is taken)
    name = re.search(r"<td>([^<]*ctc)@int8</td>\s*<td>([^<]*)</td>\s*<td>int8</td>", doc)
    assert name and name.group(1) == name.group(2)
    assert re.search(rf"<td>{re.escape(name.group(1))}</td>\s*<td>{re.escape(name.group(1))}</td>\s*<td>float32</td>", doc)
    assert re.search(r"Alignments of the 1 worst utterances \([^)]*ctc\)", doc)
    assert "skipped line 4" in captured.err and "missing.flac" in captured.err  # skipped rows: on stderr
    assert f"wrote {out}" in printed
    for u in eval_corpus.subset(3):
        assert u.id in doc


def test_cli_report_bad_precision_is_a_clear_error(tmp_path, capsys):
    from workbench.cli import main

    rc = main(["report", "--model", "w2v2-tiny-ctc@int3", "--data", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert rc == 2
    assert "unknown precision 'int3'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ word timings
def _alignment(uid, words):
    return SimpleNamespace(utterance=uid, words=[SimpleNamespace(word=w, start=s, end=e, confidence=c)
                                                 for w, s, e, c in words])


def test_compare_word_timings_matches_words_and_skips_what_cannot_be_timed():
    utt = Utterance(id="u1", audio=None, text="Hello, 42 big worlds!", speaker="af_x", extra={"words": [
        {"word": "Hello,", "start": 0.10, "end": 0.40},
        {"word": "42", "start": 0.45, "end": 0.90},  # normalises to two words: no per-word time
        {"word": "big", "start": 0.95, "end": 1.20},
        {"word": "worlds!", "start": 1.25, "end": 1.80}]})
    other = Utterance(id="u2", audio=None, text="no timings")
    corpus = Corpus([utt, other])
    fa = _alignment("u1", [("HELLO", 0.12, 0.38, 0.9), ("FORTY", 0.46, 0.6, 0.5), ("TWO", 0.6, 0.88, 0.5),
                           ("BIG", 0.94, 1.24, 0.8), ("WORLDS", 1.30, 1.78, 0.7)])
    table = compare_word_timings([fa, _alignment("u2", [("NO", 0.0, 0.1, 1.0)]), _alignment("zz", [])], corpus)
    assert list(table["word"]) == ["HELLO", "BIG", "WORLDS"]  # in the model alphabet, as aligned
    assert np.allclose(table["start_diff"], [0.02, -0.01, 0.05])
    assert np.allclose(table["end_diff"], [-0.02, 0.04, -0.02])
    assert list(table["confidence"]) == [0.9, 0.8, 0.7]
    s = timing_summary(table)
    assert s["words"] == 3 and s["utterances"] == 1
    assert s["start_mae"] == pytest.approx((0.02 + 0.01 + 0.05) / 3)
    assert s["start_median"] == pytest.approx(0.02)
    assert s["end_median"] == pytest.approx(0.02)
    assert s["start_within_20ms"] == pytest.approx(2 / 3)
    assert s["start_within_50ms"] == pytest.approx(1.0)
    assert timing_summary(table.iloc[:0])["words"] == 0


def test_manifest_timings_against_forced_alignment(eval_corpus, shared_registry):
    """On the real corpus every reference word is matched (the forced alignment aligns the same text)."""
    from workbench.asr.alignment import forced_align
    from workbench.asr.engine import analyze
    from workbench.asr.reference_timing import reference_words

    corpus = eval_corpus.subset(2)
    result = analyze(corpus, "rand-ctc", registry=shared_registry, progress=False)
    alignments = [forced_align(a, drop_unknown=True) for a in result.ok]
    table = compare_word_timings(alignments, corpus)
    expected = sum(len(reference_words(u)) for u in corpus)
    assert len(table) == expected > 0
    fa = alignments[0]
    first = table[table["id"] == fa.utterance].iloc[0]
    assert first["ctc_start"] == pytest.approx(fa.words[0].start)
    assert first["ref_start"] == pytest.approx(corpus[fa.utterance].extra["words"][0]["start"])
