"""Audio loading: any common format to mono float32 at the model's rate, with clear errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import AudioError


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling with soxr (HQ); a no-op when the rates match.

    Calls soxr directly, exactly as ``librosa.resample(res_type="soxr_hq")`` does, with librosa's
    output length ``ceil(n * target / orig)`` — without importing librosa and scipy.signal
    (seconds of start-up) just to resample.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if int(orig_sr) == int(target_sr):
        return audio
    import soxr

    out = soxr.resample(audio, int(orig_sr), int(target_sr), quality="soxr_hq").astype(np.float32, copy=False)
    size = int(np.ceil(audio.shape[0] * int(target_sr) / int(orig_sr)))
    if out.shape[0] < size:
        out = np.pad(out, [(0, size - out.shape[0])] + [(0, 0)] * (out.ndim - 1))
    return out[:size]


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels; accepts (n,), (n, channels)."""
    audio = np.asarray(audio)
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2:
        return audio.mean(axis=1)
    raise AudioError(f"audio array has shape {audio.shape}; expected (samples,) or (samples, channels)")


def check_audio(audio: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Reject empty or non-finite audio with a message naming the source."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples); check the file was written completely")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(f"{name}: {bad} samples are NaN or inf; the file is corrupt or was written with a bug — "
                         "re-export it, or clean it with np.nan_to_num before passing it in")
    return audio


#: sample rates outside this range are a damaged or hostile header, not a recording
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
#: longer than this is refused before decoding (memory is ~64 MB per hour at 16 kHz float32)
MAX_SECONDS = 24 * 3600.0


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ('a named pipe (FIFO)', 'a character device', ...)."""
    import stat

    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def check_regular_file(path: str | os.PathLike) -> os.stat_result:
    """``os.stat`` of ``path`` when it is a regular file; otherwise an :class:`AudioError` naming what it is.

    Checked without opening: opening a FIFO blocks until a writer comes, and ``/dev/zero`` never ends.
    """
    import stat

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise AudioError(f"{p}: no such file; check the path (relative paths resolve against the manifest's "
                         "folder)") from None
    except OSError as exc:
        raise AudioError(f"{p}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{p}: is a directory, not an audio file; load a folder with Corpus.from_folder()")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(f"{p}: is {file_kind(st.st_mode)}, not a regular file; only audio files on disk are "
                         "read (copy the audio into a .wav/.flac file first)")
    return st


def check_header(p: Path, samplerate: int, frames: int) -> None:
    """Refuse implausible sample rates and durations before anything is decoded or resampled."""
    if not MIN_SAMPLE_RATE <= int(samplerate) <= MAX_SAMPLE_RATE:
        raise AudioError(f"{p}: the header claims a sample rate of {samplerate} Hz, outside the plausible "
                         f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; the header is damaged — re-export the file "
                         "with its real rate")
    seconds = frames / float(samplerate)
    if seconds > MAX_SECONDS:
        raise AudioError(f"{p}: the header claims {seconds / 3600:.1f} hours of audio, more than the "
                         f"{MAX_SECONDS / 3600:g}-hour limit; split the recording into shorter files")


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Samples (any channels, float32) and rate; soundfile first, librosa/audioread for the rest.

    Only regular files are opened; the header's rate and length are checked before decoding, so a
    damaged header cannot make a tiny file decode (or resample) into gigabytes.
    """
    p = Path(path)
    st = check_regular_file(p)
    if st.st_size == 0:
        raise AudioError(f"{p}: the file is empty (0 bytes)")
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except Exception:
        info = None
    if info is not None:
        check_header(p, info.samplerate, info.frames)
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=False)
    except Exception as sf_exc:  # soundfile cannot read it: try librosa (audioread / ffmpeg)
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(str(p), sr=None, mono=False)
            data = data.T if data.ndim == 2 else data
        except Exception as exc:
            raise AudioError(f"{p}: cannot be decoded as audio ({sf_exc}); is it really a {p.suffix or 'sound'} file? "
                             "Convert it to WAV or FLAC (e.g. ffmpeg -i in out.flac)") from exc
        check_header(p, sr, len(data))
    return np.asarray(data, dtype=np.float32), int(sr)


def pcm_to_float(data: np.ndarray) -> np.ndarray:
    """Float32 in [-1, 1]: integer PCM is scaled as soundfile scales it when reading a file.

    int16 / 32768, int32 / 2**31, int8 / 128, uint8 as (x - 128) / 128 (8-bit WAV is unsigned);
    floating-point input is only cast.
    """
    if data.dtype.kind == "u":
        half = float(2 ** (8 * data.dtype.itemsize - 1))
        return ((data.astype(np.float64) - half) / half).astype(np.float32)
    if data.dtype.kind == "i":
        return (data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))).astype(np.float32)
    if data.dtype.kind == "b":
        raise AudioError("a boolean array is not audio; pass samples as float in [-1, 1] or integer PCM")
    return data.astype(np.float32, copy=False)


def load_audio(source, *, sample_rate: int = 16_000, source_rate: int | None = None,
               name: str | None = None) -> np.ndarray:
    """Mono float32 audio at ``sample_rate`` from a path or an array (give ``source_rate`` for arrays)."""
    if isinstance(source, (str, os.PathLike)):
        data, sr = read_audio(source)
        label = name or str(source)
    else:
        data = pcm_to_float(np.asarray(source))
        sr = int(source_rate or sample_rate)
        label = name or "array"
    data = to_mono(data)
    check_audio(data, name=label)
    return check_audio(resample(data, sr, sample_rate), name=label)


def duration_of(path: str | os.PathLike) -> float:
    """Length in seconds from the header (no decoding when soundfile can read it)."""
    import soundfile as sf

    check_regular_file(path)
    try:
        return float(sf.info(str(path)).duration)
    except Exception:
        data, sr = read_audio(path)
        return len(data) / sr


def pad_batch(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Right-pad normalised clips with zeros: (batch [B, N] float32, mask [B, N] int64, lengths)."""
    lengths = [len(v) for v in values]
    batch = np.zeros((len(values), max(lengths)), dtype=np.float32)
    mask = np.zeros(batch.shape, dtype=np.int64)
    for i, v in enumerate(values):
        batch[i, : len(v)] = v
        mask[i, : len(v)] = 1
    return batch, mask, lengths
