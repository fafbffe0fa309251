"""`workbench demo`: every step runs on the random tiny checkpoints; a failing step is reported, the
others still run, and the exit code says so."""
from __future__ import annotations

import re

from conftest import requires_kokoro_assets

STEPS = ["corpus", "evaluate", "align", "codebook", "embeddings", "synthesis", "roundtrip", "report"]


@requires_kokoro_assets
def test_demo_runs_every_step_and_writes_the_report(registry, tmp_path):
    from workbench.demo import QUICK_UTTERANCES, run_demo

    lines: list[str] = []
    result = run_demo(tmp_path / "demo", quick=True, asr_model="rand-ctc", pretraining_model="rand-pt",
                      voices=("af_heart",), sentences=("The cat sat on the mat.",), registry=registry,
                      echo=lines.append)
    assert [s.name for s in result.steps] == STEPS
    assert result.ok, result.to_frame().to_string()
    # one printed line per step, with its key figure
    assert len(lines) == len(STEPS)
    for line, name in zip(lines, STEPS):
        assert line.startswith(f"[ ok ] {name}")
    v = result.values
    assert len(v["corpus"]) == QUICK_UTTERANCES
    assert f"{QUICK_UTTERANCES} utterances" in lines[0]
    ev = v["evaluate"]
    assert ev.models == ["rand-ctc", "rand-ctc@int8"]
    assert f"WER {100 * ev.score.wer:.1f}%" in lines[1]
    # the same forward pass decoded again with beam search + the demo LM, scored beside greedy
    from workbench.asr.decoding import decode_result
    from workbench.scoring.wer import score_corpus

    analyses = ev.analyses["rand-ctc"]
    beam = decode_result(analyses, registry=registry, decoder="beam", lm="demo-lm")
    assert set(beam) == {a.id for a in analyses if a.ok}
    beam_wer = score_corpus({a.id: a.reference for a in analyses if a.ok}, beam).wer
    assert f"beam + demo-lm: WER {100 * beam_wer:.1f}%" in lines[1]
    # alignment: every utterance aligned, the CTM has one line per aligned word
    alignments = v["align"]["alignments"]
    ctm = [ln for ln in (tmp_path / "demo" / "alignments.ctm").read_text().splitlines() if not ln.startswith(";;")]
    assert len(ctm) == sum(len(fa.words) for fa in alignments.values())
    assert f"{len(alignments)} utterances, {len(ctm)} words" in lines[2]
    # codebook figures are the usage object's own
    assert f"perplexity {v['codebook']['usage'].summary()['hard_perplexity_sum']:.0f} (hard)" in lines[3]
    probe = v["embeddings"]["probe"]
    assert f"best layer {probe.best_layer}" in lines[4] and v["embeddings"]["embedding"].method == "pca"
    wavs = sorted((tmp_path / "demo" / "synthesis").glob("*.wav"))
    assert [w.name for w in wavs] == ["af_heart-000.wav"]
    rt = v["roundtrip"]
    assert f"WER {100 * rt.score.wer:.1f}%" in lines[6] and "beam + demo-lm: WER" in lines[6]
    # the report holds every part and is self-contained
    doc = result.report_path.read_text()
    for heading in ("Systems", "Corpus figures", "Comparison", "Forced alignment vs Kokoro", "Quantizer codebook",
                    "What each layer encodes", "Kokoro synthesis", "Round trip"):
        assert f"<h2>{heading}" in doc, heading
    assert "<script" not in doc and "data:audio/wav;base64," in doc
    assert re.search(r"<td>model rand-pt</td><td>sha256:", doc)
    assert (tmp_path / "demo" / "evaluation" / "corpus.csv").exists()


@requires_kokoro_assets
def test_cli_demo_reports_a_failing_step_and_runs_the_others(tiny_dirs, tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--out", str(out), "--model", str(tiny_dirs["ctc"]),
               "--pretraining-model", "no-such-model", "--voice", "af_heart"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"\[FAIL\] codebook +FAILED: UnknownModelError: no model named 'no-such-model'", printed)
    for name in ("corpus", "evaluate", "align", "embeddings", "synthesis", "roundtrip", "report"):
        assert re.search(rf"\[ ok \] {name} ", printed), name
    assert "1 of 8 steps did not complete: codebook" in printed
    assert (out / "report.html").exists()
    assert "Steps that did not run" in (out / "report.html").read_text()
    assert "jupyter lab" in printed and "voila" in printed and "01_tour.ipynb" in printed


def test_demo_skips_steps_whose_input_failed(registry, tmp_path):
    from workbench.demo import run_demo

    lines: list[str] = []
    result = run_demo(tmp_path / "demo", quick=True, data=tmp_path / "nope.jsonl", asr_model="rand-ctc",
                      pretraining_model="rand-pt", voices=(), sentences=(), registry=registry, echo=lines.append)
    by_name = {s.name: s for s in result.steps}
    assert by_name["corpus"].ok is False and "CorpusError" in by_name["corpus"].line
    for name in ("evaluate", "align", "codebook", "embeddings"):
        assert by_name[name].ok is None and "skipped: needs the" in by_name[name].line
    assert by_name["report"].ok is True  # the report still says what ran and what did not
    assert not result.ok
