"""Audio loading: formats, downmix, resampling lengths and content, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from workbench.data.audio import duration_of, load_audio, read_audio, resample
from workbench.errors import AudioError

SR = 16_000


def _tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(round(seconds * sr))) / sr)).astype(np.float32)


def _peak_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


def test_mono_float_wav_at_the_model_rate_is_returned_unchanged(tmp_path):
    tone = _tone(440, 0.5, SR)
    sf.write(tmp_path / "a.wav", tone, SR, subtype="FLOAT")
    audio = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32
    np.testing.assert_array_equal(audio, tone)


def test_pcm16_is_scaled_to_float(tmp_path):
    sf.write(tmp_path / "a.wav", np.full(1600, 0.5), SR, subtype="PCM_16")
    np.testing.assert_allclose(load_audio(tmp_path / "a.wav"), 0.5, atol=1 / 32768)


def test_stereo_is_downmixed_to_the_channel_mean(tmp_path):
    left, right = _tone(440, 0.25, SR), _tone(660, 0.25, SR) * 0.5
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    data, sr = read_audio(tmp_path / "st.wav")
    assert data.shape == (4000, 2) and sr == SR
    np.testing.assert_allclose(load_audio(tmp_path / "st.wav"), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("orig_sr, seconds", [(8_000, 0.5), (44_100, 1.0), (44_100, 0.3), (22_050, 0.75),
                                              (48_000, 0.2)])
def test_resampled_length_and_pitch(orig_sr, seconds, tmp_path):
    tone = _tone(1000, seconds, orig_sr)
    sf.write(tmp_path / "t.flac", tone, orig_sr, format="FLAC")
    audio = load_audio(tmp_path / "t.flac", sample_rate=SR)
    assert len(audio) == int(np.ceil(len(tone) * SR / orig_sr))
    assert _peak_hz(audio, SR) == pytest.approx(1000, abs=SR / len(audio) + 1)
    core = slice(len(audio) // 4, 3 * len(audio) // 4)  # away from the filter's edges
    assert np.sqrt(np.mean(audio[core] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


def test_resample_matches_librosa_soxr_hq():
    import librosa

    x = np.random.default_rng(0).standard_normal(44_100 + 7).astype(np.float32)
    for orig in (44_100, 8_000, 48_000, 24_000):
        ours = resample(x, orig, SR)
        theirs = librosa.resample(x, orig_sr=orig, target_sr=SR, res_type="soxr_hq")
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_arrays_with_a_source_rate(tmp_path):
    audio = load_audio(_tone(500, 1.0, 24_000), source_rate=24_000, sample_rate=SR)
    assert audio.shape == (SR,) and _peak_hz(audio, SR) == pytest.approx(500, abs=2)
    stereo = np.stack([np.ones(100), np.zeros(100)], axis=1)
    np.testing.assert_allclose(load_audio(stereo), 0.5)
    with pytest.raises(AudioError, match=r"shape \(2, 3, 4\)"):
        load_audio(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("fmt, ext", [("OGG", "ogg"), ("MP3", "mp3"), ("FLAC", "flac")])
def test_compressed_formats(fmt, ext, tmp_path):
    tone = _tone(440, 1.0, SR)
    path = tmp_path / f"c.{ext}"
    sf.write(path, tone, SR, format=fmt)
    audio = load_audio(path)
    assert abs(len(audio) - SR) <= 1152  # mp3 frames may pad the end
    assert _peak_hz(audio, SR) == pytest.approx(440, abs=2)
    assert duration_of(path) == pytest.approx(1.0, abs=0.08)


# ------------------------------------------------------------------------------------------ bad files
def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: the file is empty \(0 bytes\)"):
        load_audio(tmp_path / "empty.wav")


def test_header_only_wav_has_zero_samples(tmp_path):
    sf.write(tmp_path / "none.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match=r"none\.wav: the audio is empty \(0 samples\)"):
        load_audio(tmp_path / "none.wav")
    with pytest.raises(AudioError, match="empty"):
        load_audio(np.zeros(0, np.float32))


@pytest.mark.parametrize("content", [b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64), b"this is a text file, not audio\n"],
                         ids=["broken-riff-header", "text-renamed-wav"])
def test_corrupt_file(content, tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"bad\.wav: cannot be decoded as audio.*Convert it to WAV or FLAC"):
        load_audio(path)


def test_truncated_flac(tmp_path):
    sf.write(tmp_path / "whole.flac", _tone(300, 2.0, SR), SR, format="FLAC")
    blob = (tmp_path / "whole.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(blob[:60])  # inside the header
    with pytest.raises(AudioError, match=r"cut\.flac"):
        load_audio(tmp_path / "cut.flac")


def test_nan_and_inf(tmp_path):
    tone = _tone(440, 0.1, SR)
    tone[10] = np.nan
    tone[20] = np.inf
    sf.write(tmp_path / "nan.wav", tone, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: 2 samples are NaN or inf"):
        load_audio(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="utt7: 2 samples are NaN or inf"):
        load_audio(tone, name="utt7")


def test_directory_and_missing_path(tmp_path):
    with pytest.raises(AudioError, match="is a directory, not an audio file"):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match=r"nothere\.flac: no such file"):
        load_audio(tmp_path / "nothere.flac")
