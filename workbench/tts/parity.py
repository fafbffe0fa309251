"""Parity with the ``kokoro-onnx`` package: same phonemes, voice, speed and model file, same audio.

``kokoro-onnx`` (``Kokoro.create(phonemes, is_phonemes=True, ...)``) runs the very ONNX file the
registry assembles, so for a phoneme string whose symbols are all in the vocabulary and a style
row both pick alike, the two outputs must agree to float precision.  Where they differ it is by
design, and :func:`parity_table` shows each case with the reason:

* **style row** — Kokoro's reference pipeline (and the workbench) uses ``pack[len(phonemes) - 1]``,
  counting every character of the phoneme string; kokoro-onnx uses ``len(tokens) - 1``, counting
  only symbols in the vocabulary.  They differ when the string holds symbols the model lacks.
* **whitespace** — kokoro-onnx collapses runs of whitespace (and newlines) to one space before
  tokenizing; Kokoro's pipeline keeps a double space as two space tokens.
* **trimming** — ``create(trim=True)`` (its default) cuts leading/trailing silence off every batch
  (librosa-style, 60 dB below peak) and adds a pause between batches; the workbench keeps the
  model's audio untouched so that ``sum(durations) * 600 == len(audio)`` holds.
* **chunking** — over 510 phonemes kokoro-onnx splits the phoneme string into balanced batches at
  punctuation; Kokoro's pipeline (and the workbench) cuts the G2P token list with its waterfall.
* **pauses** — with a model that outputs ``duration``, kokoro-onnx lengthens the silence after
  every punctuation mark; the registry's graph names that output differently, so none is added.

kokoro-onnx reads voices from an ``.npz``/``.bin`` archive; :func:`voices_archive` writes one in a
temporary folder from the ``.pt`` packs (nothing is downloaded).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import ModelNotAvailableError
from ..models.registry import ModelRegistry, resolve

DEFAULT_PHONEMES = "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ."
PARITY_COLUMNS = ["case", "phonemes", "chars", "tokens_ours", "tokens_kokoro_onnx", "row_ours", "row_kokoro_onnx",
                  "samples_ours", "samples_kokoro_onnx", "max_abs_diff", "equal", "note"]


def voices_archive(names: list[str], *, registry: ModelRegistry | None = None, folder: str | Path | None = None) -> Path:
    """An ``.npz`` of voice packs shaped [510, 1, 256] (kokoro-onnx's format) built from the ``.pt`` files."""
    reg = resolve(registry)
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="wb-kokoro-voices-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "voices.npz"
    np.savez(path, **{name: reg.voice(name).pack.reshape(-1, 1, reg.voice(name).pack.shape[-1]) for name in names})
    return path


def kokoro_onnx_engine(voices: tuple[str, ...] = ("af_heart",), *, registry: ModelRegistry | None = None):
    """A ``kokoro_onnx.Kokoro`` on the registry's ONNX file and config, cached per registry."""
    reg = resolve(registry)
    try:
        import kokoro_onnx
    except ImportError as exc:
        raise ModelNotAvailableError("parity needs the kokoro-onnx package: pip install kokoro-onnx==0.6.1 "
                                     "(the dev extra)") from exc
    from ..models.kokoro import locate_config

    def build():
        model = reg.get("kokoro-82m")
        return kokoro_onnx.Kokoro(str(model.path), str(voices_archive(list(voices), registry=reg)),
                                  vocab_config=str(locate_config()))

    return reg.resource(("kokoro-onnx", tuple(voices)), build)


def _row(case: str, phonemes: str, ours: np.ndarray, theirs: np.ndarray, *, tokens_ours: int, tokens_theirs: int,
         row_ours: int, row_theirs: int, note: str, atol: float) -> dict:
    same_len = len(ours) == len(theirs)
    diff = float(np.max(np.abs(ours - theirs))) if same_len and len(ours) else float("nan")
    return {"case": case, "phonemes": phonemes if len(phonemes) <= 60 else phonemes[:57] + "...",
            "chars": len(phonemes), "tokens_ours": tokens_ours, "tokens_kokoro_onnx": tokens_theirs,
            "row_ours": row_ours, "row_kokoro_onnx": row_theirs, "samples_ours": len(ours),
            "samples_kokoro_onnx": len(theirs), "max_abs_diff": diff, "equal": bool(same_len and diff <= atol),
            "note": note}


def parity_table(phonemes: str = DEFAULT_PHONEMES, *, voice: str = "af_heart", speed: float = 1.0,
                 registry: ModelRegistry | None = None, atol: float = 1e-5, cases: tuple[str, ...] | None = None):
    """Our audio vs kokoro-onnx's for one phoneme string, plus the by-design differences.

    Cases: ``same`` (create(trim=False): equal), ``speed`` (x1.25), ``unknown-symbol`` (a symbol
    outside the vocabulary: the style rows differ; then ``same-row``: kokoro-onnx's ``_infer`` with
    our row is equal again), ``whitespace`` (a double space), ``trim`` (create's default).
    Returns a DataFrame with :data:`PARITY_COLUMNS`.
    """
    import pandas as pd

    from .synthesis import check_speed, synthesize_phonemes

    reg = resolve(registry)
    model = reg.get("kokoro-82m")
    pack = reg.voice(voice).pack
    engine = kokoro_onnx_engine((voice,), registry=reg)
    wanted = cases or ("same", "speed", "unknown-symbol", "same-row", "whitespace", "trim")
    speed = check_speed(speed)
    rows = []

    def ours(ps: str, s: float) -> np.ndarray:
        return synthesize_phonemes(ps, reg.voice(voice), speed=s, registry=reg)[0]

    def theirs(ps: str, s: float, *, trim: bool = False) -> np.ndarray:
        return np.asarray(engine.create(ps, voice=voice, speed=s, is_phonemes=True, trim=trim)[0], dtype=np.float32)

    def counts(ps: str) -> tuple[int, int, int, int]:
        mine = len(model.tokenize(ps))
        collapsed = " ".join(ps.split())
        other = len(engine.tokenizer.tokenize(collapsed))
        return mine, other, min(len(ps), len(pack)) - 1, min(other, len(pack)) - 1

    if "same" in wanted:
        rows.append(_row("same", phonemes, ours(phonemes, speed), theirs(phonemes, speed), **_kw(counts(phonemes)),
                         note="same phonemes, voice, speed and model file: equal", atol=atol))
    if "speed" in wanted:
        s2 = min(2.0, speed * 1.25)
        rows.append(_row(f"speed {s2:g}", phonemes, ours(phonemes, s2), theirs(phonemes, s2),
                         **_kw(counts(phonemes)), note="speed is passed through unchanged: equal", atol=atol))
    odd = phonemes.rstrip(".") + " Ø."
    if "unknown-symbol" in wanted:
        rows.append(_row("unknown-symbol", odd, ours(odd, speed), theirs(odd, speed), **_kw(counts(odd)),
                         note="Ø is not in the vocabulary: both drop it, but Kokoro's reference counts it for the "
                              "style row (len(phonemes) - 1), kokoro-onnx does not (len(tokens) - 1)", atol=atol))
    if "same-row" in wanted:
        ids = engine.tokenizer.tokenize(" ".join(odd.split()))
        row = min(len(odd), len(pack)) - 1
        other, _ = engine._infer(ids, pack[row].reshape(1, -1), speed)
        rows.append(_row("same-row", odd, ours(odd, speed), np.asarray(other, dtype=np.float32),
                         tokens_ours=len(model.tokenize(odd)), tokens_theirs=len(ids), row_ours=row, row_theirs=row,
                         note="kokoro-onnx's _infer given our style row: equal again", atol=atol))
    if "whitespace" in wanted:
        spaced = phonemes.replace(" ", "  ", 1)
        rows.append(_row("whitespace", spaced, ours(spaced, speed), theirs(spaced, speed), **_kw(counts(spaced)),
                         note="kokoro-onnx collapses the double space to one; Kokoro's pipeline keeps both "
                              "space tokens", atol=atol))
    if "trim" in wanted:
        rows.append(_row("trim", phonemes, ours(phonemes, speed), theirs(phonemes, speed, trim=True),
                         **_kw(counts(phonemes)), note="create(trim=True), kokoro-onnx's default, cuts the model's "
                                                      "leading/trailing silence; we keep it (durations sum to length)",
                         atol=atol))
    return pd.DataFrame(rows, columns=PARITY_COLUMNS)


def _kw(c: tuple[int, int, int, int]) -> dict:
    return {"tokens_ours": c[0], "tokens_theirs": c[1], "row_ours": c[2], "row_theirs": c[3]}
