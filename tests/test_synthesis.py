"""Kokoro synthesis: durations, timings, chunk offsets, Kokoro's chunker, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_kokoro_assets
from workbench.errors import TextError, VoiceError
from workbench.models.g2p import Token, tokens_to_ps
from workbench.models.kokoro import FRAME_SAMPLES, SAMPLE_RATE
from workbench.tts.synthesis import chunk_tokens, waterfall_last


def _tok(text: str, ps: str | None = None, ws: str = " ") -> Token:
    return Token(text=text, tag="NN", phonemes=text if ps is None else ps, source="gold", whitespace=ws)


def _sentence(n_words: int, mark: str = ".", word: str = "abcd") -> list[Token]:
    return [_tok(word) for _ in range(n_words - 1)] + [_tok(word, ws=""), _tok(mark)]


# ---------------------------------------------------------------------------- chunker (no model needed)
def test_waterfall_prefers_sentence_then_clause_then_comma():
    toks = [_tok("aa", ws=""), _tok(","), _tok("bb", ws=""), _tok(";"), _tok("cc", ws=""), _tok("."), _tok("dd")]
    # next_count small: the last sentence mark wins
    assert waterfall_last(toks, 20, limit=20) == 6
    assert waterfall_last(toks, 40, limit=20) == 7  # no cut leaves a short enough rest: cut before the next token
    later_clause = [_tok("aa", ws=""), _tok("."), _tok("bb", ws=""), _tok(";"), _tok("cc", ws="")]
    assert waterfall_last(later_clause, 15, limit=10) == 4  # after '.' 12 would remain; after ';' only 8
    only_commas = [_tok("aa", ws=""), _tok(","), _tok("bb")]
    assert waterfall_last(only_commas, 5, limit=5) == 2
    with_bump = [_tok("aa", ws=""), _tok("."), _tok("”"), _tok("bb")]
    assert waterfall_last(with_bump, 6, limit=6) == 3  # a closing quote stays with its sentence


def test_chunks_respect_the_limit_and_cut_at_sentences():
    tokens = _sentence(8) + _sentence(8, "!") + _sentence(8, "?") + _sentence(3)
    for limit, ends in ((100, ["!"]), (50, [".", "!", "?"])):
        chunks = chunk_tokens(tokens, limit=limit)
        assert [t for c in chunks for t in c] == tokens  # every token once, in order
        assert all(len(tokens_to_ps(c)) <= limit for c in chunks)
        assert [tokens_to_ps(c)[-1] for c in chunks[:-1]] == ends  # cut after sentence marks
    assert len(chunk_tokens(tokens, limit=510)) == 1


def test_a_word_longer_than_the_limit_is_split_not_truncated():
    big = _tok("x" * 5, " ".join(["abcdefghi"] * 30))  # 299 phoneme characters
    chunks = chunk_tokens([_tok("a"), big, _tok("b", ws="")], limit=100)
    assert all(len(tokens_to_ps(c)) <= 100 for c in chunks)
    parts = [t for c in chunks for t in c if t.text == "xxxxx"]
    assert len(parts) == 3 and parts[0].note.startswith("part 1/3")
    assert " ".join(p.phonemes for p in parts) == big.phonemes  # nothing lost


def test_chunker_is_linear_on_long_token_lists():
    import time

    tokens = (_sentence(12) + _sentence(12, ",")) * 800  # ~20k tokens, ~100k phoneme characters
    t0 = time.perf_counter()
    chunks = chunk_tokens(tokens)
    elapsed = time.perf_counter() - t0
    assert sum(len(c) for c in chunks) == len(tokens)
    assert all(len(tokens_to_ps(c)) <= 510 for c in chunks)
    assert elapsed < 5.0, f"chunking 20k tokens took {elapsed:.1f} s; the chunker should be linear"


@requires_kokoro_assets
def test_twenty_thousand_characters_phonemize_and_chunk(shared_registry):
    from workbench.tts.phonemize import phonemize

    base = ("The harbour was quiet in the early morning, and the boats rocked gently; nobody spoke. "
            "Then a bell rang twice! Who was it? ")
    text = (base * (20_000 // len(base) + 1))[:20_000]
    r = phonemize(text, registry=shared_registry)
    chunks = chunk_tokens(r.tokens)
    assert len(chunks) >= 20
    assert all(len(tokens_to_ps(c)) <= 510 for c in chunks)
    assert [t for c in chunks for t in c] == r.tokens
    assert sum(tokens_to_ps(c)[-1] in "!.?…" for c in chunks[:-1]) >= len(chunks) - 2  # cut at sentence ends


# ---------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="module")
def two_chunks(shared_registry):
    from workbench.tts.synthesis import synthesize

    return synthesize("The cat sat on the mat. Then it slept!", "af_heart", registry=shared_registry,
                      chunk_limit=30)


@requires_kokoro_assets
def test_durations_sum_to_the_audio_length(two_chunks):
    r = two_chunks
    for c in r.chunks:
        assert int(c.durations.sum()) * FRAME_SAMPLES == len(c.audio)
        assert len(c.durations) == len(c.tokens) + 2  # the two pad tokens
        assert c.durations.dtype == np.int64
        assert c.style_row == len(c.phonemes) - 1  # Kokoro's reference: pack[len(ps) - 1]
    assert len(r.audio) == sum(len(c.audio) for c in r.chunks) == r.num_samples


@requires_kokoro_assets
def test_chunk_offsets_and_word_times(two_chunks):
    r = two_chunks
    assert len(r.chunks) == 2 and r.chunks[0].phonemes.endswith(".")
    assert r.chunks[1].offset == pytest.approx(len(r.chunks[0].audio) / SAMPLE_RATE)
    words = r.word_timings()
    assert list(words.word) == ["The", "cat", "sat", "on", "the", "mat", "Then", "it", "slept"]
    assert (words.end > words.start).all() and (words.start.diff().dropna() > 0).all()
    assert words.end.max() <= r.duration
    # a second-chunk word starts at the chunk offset plus its own frames, all multiples of 25 ms
    c1 = r.chunks[1]
    first = c1.words[0]
    assert first.start == pytest.approx(c1.offset + c1.durations[0] * FRAME_SAMPLES / SAMPLE_RATE)
    phon = r.phoneme_timings()
    assert len(phon) == sum(len(c.tokens) for c in r.chunks)
    assert phon.end.iloc[-1] == pytest.approx(r.duration - r.chunks[-1].durations[-1] * FRAME_SAMPLES / SAMPLE_RATE)
    assert set(phon[phon.word == "cat"].symbol) == set("kˈæt")


@requires_kokoro_assets
def test_stream_yields_the_same_chunks(two_chunks, shared_registry):
    from workbench.tts.synthesis import stream

    chunks = list(stream("The cat sat on the mat. Then it slept!", "af_heart", registry=shared_registry,
                         chunk_limit=30))
    assert [c.phonemes for c in chunks] == [c.phonemes for c in two_chunks.chunks]
    np.testing.assert_array_equal(np.concatenate([c.audio for c in chunks]), two_chunks.audio)


@requires_kokoro_assets
def test_flagged_words_are_noted_and_not_timed(shared_registry):
    from workbench.tts.synthesis import synthesize

    r = synthesize("Say [zork](/zØrk/) 🙂 now.", "bf_emma", registry=shared_registry)
    assert r.language == "en-gb"  # British voice -> GB G2P
    assert any("zork" in n and "Ø" in n for n in r.notes)
    assert [t.text for t in r.flagged] == ["zork"]
    words = r.word_timings()
    assert words[words.word == "zork"].flag.iloc[0]  # zork keeps its z, r, k: timed but flagged
    assert next(t for t in r.tokens if t.text == "🙂").source == "espeak"  # espeak reads the emoji's name
    assert "🙂" in list(words.word)  # ... so it is spoken and timed
    assert r.plain_text == "Say zork 🙂 now."


@requires_kokoro_assets
def test_blend_weights_not_summing_to_one_are_normalised(shared_registry):
    from workbench.tts.synthesis import synthesize

    r = synthesize("Hi.", "af_heart:2,af_bella:2", registry=shared_registry)
    assert r.voice_weights == {"af_heart": 0.5, "af_bella": 0.5}
    assert any("normalised" in n for n in r.notes)


@requires_kokoro_assets
@pytest.mark.parametrize("text, match", [
    ("", "empty"), ("   \n\t ", "empty"), ("?! ... ;", "nothing Kokoro can say"), (None, "must be a string"),
])
def test_bad_text(text, match, shared_registry):
    from workbench.tts.synthesis import synthesize

    with pytest.raises(TextError, match=match):
        synthesize(text, "af_heart", registry=shared_registry)


@requires_kokoro_assets
@pytest.mark.parametrize("speed", [0.0, 0.49, 2.5, float("nan"), "fast"])
def test_speed_out_of_range(speed, shared_registry):
    from workbench.tts.synthesis import synthesize

    with pytest.raises(TextError, match="speed="):
        synthesize("Hello.", "af_heart", speed=speed, registry=shared_registry)


@requires_kokoro_assets
def test_unknown_voice_names_close_matches(shared_registry):
    from workbench.tts.synthesis import synthesize

    with pytest.raises(VoiceError, match="Close matches: am_adam"):
        synthesize("Hello.", "am_adan", registry=shared_registry)


@requires_kokoro_assets
def test_save_writes_audio_and_timings(two_chunks, tmp_path):
    import json

    import soundfile as sf

    path = tmp_path / "out.wav"
    two_chunks.save(path)
    info = sf.info(str(path))
    assert info.samplerate == SAMPLE_RATE and info.frames == two_chunks.num_samples
    meta = json.loads((tmp_path / "out.wav.json").read_text())
    assert meta["voice"] == "af_heart" and len(meta["words"]) == 9 and meta["model_revision"]


@requires_kokoro_assets
def test_timing_plot_returns_the_figure(two_chunks):
    import matplotlib.pyplot as plt

    from workbench.plots.synthesis import plot_timings

    fig, ax = plt.subplots()
    assert plot_timings(two_chunks, ax=ax, kind="spectrogram") is fig
    assert any(t.get_text() == "mat" for t in ax.texts)
    both = two_chunks.plot(kind="both")
    assert len(both.axes) == 2
    plt.close("all")


def test_pipeline_timestamps_follow_kpipelines_rule_on_hand_counted_durations():
    from workbench.tts.synthesis import _pipeline_times

    # pad 10 frames, word 0 (2 + 3 frames), a space of 2, word 1 (4 frames), end pad
    times = _pipeline_times([0, 0, -1, 1], np.array([10, 2, 3, 2, 4, 5]), start_sample=0)
    # half-frames: start 2 * (10 - 3) = 14; word 0 ends 14 + 2 * 5 + 2 = 26 (half the space), word 1
    # starts there and ends 28 + 2 * 4 = 36; one half-frame is 300 samples at 24 kHz = 12.5 ms
    assert times[0] == pytest.approx((0.175, 0.325)) and times[1] == pytest.approx((0.325, 0.45))
    later = _pipeline_times([0, 0, -1, 1], np.array([2, 2, 3, 2, 4, 5]), start_sample=24_000)
    assert later[0][0] == pytest.approx(1.0)  # a pad under 3 frames starts at the chunk's start


@requires_kokoro_assets
def test_pipeline_timestamps_lead_the_duration_edges(two_chunks):
    words = two_chunks.word_timings()
    lead = words.start - words.pipeline_start
    # three frames (75 ms) plus half the space before the word (none before a chunk's first word)
    assert lead.min() >= 0.075 - 1e-9 and (lead.round(4) == 0.075).sum() >= 2
    assert (words.pipeline_end <= words.end + 0.05).all()


def test_energy_onset_finds_a_burst_after_silence():
    from workbench.tts.onsets import energy_onset

    rng = np.random.default_rng(0)
    sr = 24_000
    audio = np.zeros(sr)
    audio[: int(0.2 * sr)] = 0.3 * rng.standard_normal(int(0.2 * sr))  # the word before
    audio[int(0.5 * sr):int(0.8 * sr)] = 0.3 * rng.standard_normal(int(0.3 * sr))  # the word, at 0.500 s
    assert energy_onset(audio, sr, near=0.55) == pytest.approx(0.5, abs=0.004)  # a stamp 50 ms late
    assert energy_onset(audio, sr, near=0.45) == pytest.approx(0.5, abs=0.004)  # or 50 ms early
    with pytest.raises(ValueError, match="outside"):
        energy_onset(audio, sr, near=3.0)
