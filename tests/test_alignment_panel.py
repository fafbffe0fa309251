"""AlignmentPanel without a browser: pick an utterance, toggle views, click a word, follow the session."""
from __future__ import annotations

import io

import pytest
import soundfile as sf

pytest.importorskip("ipywidgets")

from workbench.asr.engine import store_for  # noqa: E402
from workbench.panels.alignment import AlignmentPanel  # noqa: E402
from workbench.panels.session import Session  # noqa: E402


@pytest.fixture(scope="module")
def corpus(eval_corpus):
    return eval_corpus.subset(2)


@pytest.fixture
def panel(shared_registry, corpus):
    session = Session(registry=shared_registry, corpus=corpus)
    return AlignmentPanel(corpus, model="rand-ctc", registry=shared_registry, session=session)


def decoded(audio_widget) -> tuple[int, int]:
    data, sr = sf.read(io.BytesIO(audio_widget.value))
    return len(data), sr


def test_opens_on_the_first_utterance_with_a_forced_alignment(panel, corpus):
    uid = corpus.ids()[0]
    assert panel.utterance.value == uid and panel.session.selected_utterance == uid
    assert panel.result.mode == "forced" and panel.result.utterance == uid
    assert [b.description for b in panel.words_box.children[:len(panel.result.words)]] == \
           [w.word for w in panel.result.words]
    assert panel.zoom.max == pytest.approx(panel.analysis.duration)
    assert panel.figure.value[:4] == b"\x89PNG"
    assert "reference:" in panel.info.value


def test_word_buttons_are_coloured_by_their_wer_operation(panel):
    ops = panel._word_ops()
    styles = {"substitute": "warning", "delete": "danger", "equal": ""}
    for w, b in zip(panel.result.words, panel.words_box.children):
        assert b.button_style == styles[ops.get(w.index, "equal")]
    errors = panel.errors[panel.errors["op"] != "equal"]
    assert set(ops) == set(panel.errors["ref_index"].dropna().astype(int))
    assert len(errors) > 0  # a random model gets words wrong


def test_clicking_a_word_plays_just_that_word(panel):
    w = panel.result.words[2]
    panel.words_box.children[2].click()
    n, sr = decoded(panel.audio)
    assert sr == 16_000
    assert n == (w.end_frame - w.start_frame) * 320 == len(panel.segment)
    assert panel.selected_word["word"] == w.word and panel.selected_word["index"] == 2
    assert panel.session.selected_word is panel.selected_word  # other panels hear about it
    assert panel.zoom.value == (0.0, panel.zoom.max)  # its own click does not move the zoom


def test_greedy_toggle_and_char_view(panel):
    before = panel.figure.value
    panel.mode.value = "greedy"
    assert panel.result.mode == "greedy" and panel.result.text == panel.analysis.transcript
    assert [b.description for b in panel.words_box.children] == [w.word for w in panel.result.words]
    panel.view.value = "char"
    assert panel.figure.value != before
    panel.words_box.children[0].click()
    w = panel.result.words[0]
    assert decoded(panel.audio)[0] == (w.end_frame - w.start_frame) * 320


def test_session_word_from_the_transcribe_panel_zooms_and_plays(panel, corpus):
    other = corpus.ids()[1]
    calls = store_for(panel.registry).forward_calls
    panel.session.selected_word = {"utterance": other, "ref_index": 3, "hyp_index": 3, "op": "substitute",
                                   "word": "X", "ref": "X", "hyp": "Y", "system": "rand-ctc"}
    assert panel.utterance.value == other and panel.result.utterance == other
    w = panel.result.words[3]
    assert panel.zoom.value == pytest.approx((max(0.0, w.start - 0.15), min(panel.zoom.max, w.end + 0.15)), abs=0.011)
    assert decoded(panel.audio)[0] == round((w.end - w.start) * 16_000)
    assert panel.selected_word["start"] == w.start and panel.selected_word["end"] == w.end
    # the analysis came from the engine's cache after the first look
    panel.show(corpus.ids()[0])
    panel.show(other)
    assert store_for(panel.registry).forward_calls <= calls + 1


def test_session_utterance_and_span(panel, corpus):
    other = corpus.ids()[1]
    panel.session.select(other)
    assert panel.utterance.value == other
    panel.session.selected_span = (0.5, 1.25)
    assert panel.zoom.value == pytest.approx((0.5, 1.25), abs=0.011)
    panel.reset_zoom.click()
    assert panel.zoom.value == (0.0, panel.zoom.max)


def test_a_single_analysis_needs_no_corpus(shared_registry, corpus):
    from workbench.asr.engine import analyze

    a = analyze(corpus.subset(1), "rand-ctc", registry=shared_registry)[0]
    p = AlignmentPanel(a, registry=shared_registry)
    assert p.utterance.options == (a.id,) and p.result.utterance == a.id and p.model == "rand-ctc"
    p.words_box.children[0].click()  # audio comes from the analysis's file
    assert decoded(p.audio)[0] == len(p.segment) > 0
