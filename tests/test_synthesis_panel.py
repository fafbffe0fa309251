"""SynthesisPanel without a browser: set widget values, click buttons, check the result and widgets."""
from __future__ import annotations

import pytest

from tests.conftest import requires_kokoro_assets

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def clicked(shared_registry):
    from workbench.panels.synthesis import SynthesisPanel
    from workbench.panels.session import Session

    session = Session(registry=shared_registry, asr_model="rand-ctc")
    panel = SynthesisPanel(registry=shared_registry, session=session, text="Hello [zork](/zØrk/) world.")
    panel.voice.value = "af_heart"
    panel.voice2.value = "af_bella"
    panel.blend.value = 0.25
    panel.speed.value = 1.1
    panel.synth_button.click()
    return panel, session


@requires_kokoro_assets
def test_synthesize_fills_every_view(clicked):
    panel, _ = clicked
    r = panel.result
    assert r is not None and r.voice_weights == {"af_heart": 0.75, "af_bella": 0.25} and r.speed == 1.1
    assert panel.audio.value[:4] == b"RIFF" and len(panel.audio.value) > 44 + 2 * r.num_samples - 100
    assert panel.tokens.value.count("<tr") == 1 + len(r.tokens)  # header + one row per token
    assert panel.tokens.value.count("background:#ffe0e0") == 1  # zork is flagged and highlighted
    assert panel.timing.value[:4] == b"\x89PNG" and panel.voice_map.value[:4] == b"\x89PNG"
    assert "zork" in panel.summary.value and not panel.transcribe_button.disabled


@requires_kokoro_assets
def test_transcribe_back_shows_the_diff(clicked):
    panel, _ = clicked
    panel.asr_model.value = "rand-ctc"
    panel.transcribe_button.click()
    rt = panel.roundtrip
    assert rt is not None and rt.model == "rand-ctc"
    wer = rt.per_utterance.wer.iloc[0]
    assert f"WER {wer:.1%}" in panel.diff.value and 'class="wb-diff"' in panel.diff.value
    assert "ZORK" in panel.diff.value  # the flagged word is listed apart


@requires_kokoro_assets
def test_send_to_session_adds_and_selects(clicked):
    panel, session = clicked
    before = len(session.corpus) if session.corpus is not None else 0
    seen = []
    session.observe(lambda ch: seen.append(ch.new), "selected_utterance")
    panel.send_button.click()
    uid = session.selected_utterance
    assert seen == [uid] and len(session.corpus) == before + 1
    utt = session.corpus[uid]
    assert utt.sample_rate == 16_000 and utt.text == "Hello zork world."
    assert len(utt.array) == pytest.approx(panel.result.num_samples * 16_000 / 24_000, abs=2)


@requires_kokoro_assets
def test_voice_follows_the_session_and_errors_show_in_the_status(clicked):
    panel, session = clicked
    session.tts_voice = "bm_george"
    assert panel.voice.value == "bm_george"
    panel.voice.value = "af_sky"
    assert session.tts_voice == "af_sky"
    previous = panel.result
    panel.text.value = "   "
    panel.synth_button.click()
    assert "empty" in panel.status.value and panel.result is previous
