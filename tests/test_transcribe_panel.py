"""TranscribePanel without a browser: Run, click a row, click an error word, session links."""
from __future__ import annotations

import datetime
import html
import io

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("ipywidgets")

from workbench.panels.transcribe import TranscribePanel  # noqa: E402
from workbench.panels.session import Session  # noqa: E402


@pytest.fixture
def panel(registry, eval_corpus):
    session = Session(registry=registry)
    p = TranscribePanel(eval_corpus.subset(4), models=("rand-ctc",), registry=registry, session=session, n_boot=100)
    p.run_button.click()
    return p


def test_run_fills_result_progress_and_table(panel):
    ev = panel.result
    assert ev is not None and ev.models == ["rand-ctc"]
    assert panel.progress.value == panel.progress.max == 4
    assert len(panel.table.options) == 4
    # worst first: the table order follows the per-utterance WER, descending
    wers = [ev.score.row(uid)["wer"] for _, uid in panel.table.options]
    assert wers == sorted(wers, reverse=True)
    assert "rand-ctc" in panel.summary.value and "<table" in panel.summary.value
    assert panel.session.results["transcribe"] is ev
    assert panel.diff.value == "" and panel.table.value is None  # nothing selected yet


def test_clicking_a_row_shows_diff_numbers_audio_and_tells_the_session(panel):
    uid = panel.table.options[-1][1]
    panel.table.value = uid  # what a click in the list does
    row = panel.result.score.row(uid)
    assert uid in panel.diff.value and 'class="wb-diff"' in panel.diff.value
    assert f"{row['wer']:.1%}" in panel.numbers.value
    assert str(row["ref_words"]) in panel.numbers.value
    assert panel.audio.value[:4] == b"RIFF"
    back, sr = sf.read(io.BytesIO(panel.audio.value))
    assert sr == 16000 and abs(len(back) / sr - panel.corpus[uid].duration) < 0.05
    assert panel.session.selected_utterance == uid

    first = panel.diff.value
    other = panel.table.options[0][1]
    panel.session.select(other)  # another panel selects an utterance
    assert panel.table.value == other and panel.diff.value != first and other in panel.diff.value


def test_error_word_buttons_set_the_selected_word(panel):
    uid = panel.table.options[0][1]
    panel.select(uid)
    ops = [op for op in panel.result.score.word_alignment(uid) if op.is_error]
    assert len(panel.error_words.children) == len(ops) > 0
    panel.error_words.children[0].click()
    word = panel.session.selected_word
    assert word["utterance"] == uid and word["op"] == ops[0].op
    assert (word["ref_index"], word["hyp_index"]) == (ops[0].ref_index, ops[0].hyp_index)
    assert word["word"] == (ops[0].ref if ops[0].ref is not None else ops[0].hyp)
    assert panel.selected_word == word


def test_sorting_changes_the_order(panel):
    panel.sort.value = "utterance id"
    ids = [uid for _, uid in panel.table.options]
    assert ids == sorted(ids)


def test_upload_adds_an_utterance_and_bad_input_shows_in_status(registry):
    p = TranscribePanel(None, models=(), registry=registry)
    p.run_button.click()
    assert "no utterances" in p.status.value and p.result is None
    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32), 16000, format="WAV")
    p.upload.value = ({"name": "mine.wav", "type": "audio/wav", "size": len(buf.getvalue()),
                       "content": memoryview(buf.getvalue()),
                       "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)},)
    assert [u.id for u in p.corpus] == ["mine"]
    p.run_button.click()
    assert "choose at least one model" in p.status.value
    p.model_select.value = ("rand-ctc",)
    p.run_button.click()
    row = p.result.score.row("mine")
    assert row["error"].startswith("no reference") and row["hypothesis"] is not None
    assert "(no reference)" in p.table.options[0][0]
    p.select("mine")
    assert "transcript only" in p.diff.value and p.audio.value[:4] == b"RIFF"


def test_greedy_and_beam_with_the_demo_lm_side_by_side(registry, eval_corpus):
    """The decoder switch: "both" scores greedy and beam + demo-lm as two systems; the selected
    utterance shows both transcripts with their WER."""
    p = TranscribePanel(eval_corpus.subset(3), models=("w2v2-tiny-ctc",), registry=registry, n_boot=50)
    if "both" not in [v for _, v in p.decoder.options]:
        pytest.skip("the demo LM (demo-lm) is not available here")
    p.decoder.value = "both"
    p.run_button.click()
    ev = p.result
    assert ev.models == ["w2v2-tiny-ctc · greedy", "w2v2-tiny-ctc · beam + LM"]
    assert p.progress.value == p.progress.max == 6
    assert "w2v2-tiny-ctc · beam + LM" in p.summary.value and ev.comparison is not None
    uid = p.table.options[0][1]
    p.select(uid)
    for name in ev.models:
        row = ev[name].row(uid)
        assert f"{row['wer']:.1%}" in p.numbers.value and html.escape(row["hypothesis"]) in p.numbers.value


def test_the_panel_can_start_in_beam_mode_with_an_lm_file(registry, eval_corpus, tmp_path):
    """``decoder="beam", lm=<ARPA file>`` (what ``workbench app --decoder beam --lm FILE`` passes): the
    toggle starts on beam + LM and the run decodes with that file, giving the engine's own beam transcripts."""
    from workbench.asr.engine import transcribe
    from workbench.errors import WorkbenchError
    from workbench.models.specs import PACKAGE_CHECKPOINTS

    arpa = PACKAGE_CHECKPOINTS / "demo-lm" / "demo-lm.arpa"
    copy = tmp_path / "my.arpa"
    copy.write_bytes(arpa.read_bytes())
    corpus = eval_corpus.subset(2)
    try:
        p = TranscribePanel(corpus, models=("w2v2-tiny-ctc",), registry=registry, n_boot=20, decoder="beam",
                            lm=str(copy))
    except WorkbenchError as exc:  # kenlm / pyctcdecode missing: the panel says so instead of offering beam
        pytest.skip(str(exc))
    assert p.decoder.value == "beam + LM" and str(copy) in p.decoder.tooltips[1]
    p.run_button.click()
    expected = transcribe(corpus, "w2v2-tiny-ctc", registry=registry, decoder="beam", lm=str(copy))
    per = p.result.score.per_utterance
    assert dict(zip(per.id, per.hypothesis)) == expected
    with pytest.raises(WorkbenchError, match="decoder='fast'"):
        TranscribePanel(corpus, models=("w2v2-tiny-ctc",), registry=registry, decoder="fast")
    with pytest.raises(WorkbenchError, match="needs the language model"):
        TranscribePanel(corpus, models=("w2v2-tiny-ctc",), registry=registry, decoder="beam",
                        lm=str(tmp_path / "missing.arpa"))
