"""The model registry: catalogue, caching identity, one load under concurrency, LRU eviction by
bytes, registering a local Hugging Face folder (same code path as hub ids), offline errors."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import ModelNotAvailableError, UnknownModelError
from workbench.models.registry import ModelRegistry, default_registry, resolve

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "N": 9}
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    """A small CTC checkpoint written with save_pretrained (config, safetensors, processor files)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    folder = tmp_path_factory.mktemp("hf") / "tiny-ctc"
    torch.manual_seed(3)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                         vocab_size=len(VOCAB), pad_token_id=0)
    Wav2Vec2ForCTC(cfg).save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=False).save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|").save_pretrained(folder)
    return folder


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache (the one huggingface_hub and transformers read at call time)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _logits(model, seed: int = 0) -> np.ndarray:
    import torch

    audio = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 8000)).astype(np.float32))
    with torch.no_grad():
        return model(audio).logits.numpy()


def _param_bytes(bundle) -> int:
    return sum(t.numel() * t.element_size() for t in [*bundle.model.parameters(), *bundle.model.buffers()])


# ------------------------------------------------------------------------------------------ catalogue
def test_catalog_has_day_one_entries_and_offline_column(empty_hf_cache):
    reg = ModelRegistry()
    table = reg.catalog()
    rows = table.set_index("name")
    assert {"name", "kind", "source", "location", "sample_rate", "license", "description",
            "available_offline", "loaded"} <= set(table.columns)
    assert rows.loc["wav2vec2-base-960h", ["kind", "source", "location"]].tolist() == [
        "ctc", "hub", "facebook/wav2vec2-base-960h"]
    assert rows.loc["wav2vec2-base", ["kind", "location"]].tolist() == ["pretraining", "facebook/wav2vec2-base"]
    assert rows.loc["kokoro-82m", "kind"] == "tts" and rows.loc["kokoro-82m", "sample_rate"] == 24000
    assert (table["kind"] == "voice").sum() == 54
    # nothing is in the (empty) HF cache and no asset folder holds the hub models
    assert not rows.loc["wav2vec2-base-960h", "available_offline"]
    assert not rows.loc["wav2vec2-base", "available_offline"]
    assert not table["loaded"].any()
    assert set(reg.catalog(include_voices=False)["kind"]) <= {"ctc", "pretraining", "tts", "lm"}
    assert set(reg.catalog(kind="ctc")["kind"]) == {"ctc"}


def test_aliases_and_unknown_names_list_close_matches():
    reg = ModelRegistry()
    assert reg.spec("base-960h").name == "wav2vec2-base-960h"
    assert reg.spec("facebook/wav2vec2-base").name == "wav2vec2-base"
    with pytest.raises(UnknownModelError, match="wav2vec2-base-960h") as err:
        reg.get("wav2vec2-base-96h")
    assert "workbench models" in str(err.value)


def test_default_registry_is_process_wide():
    assert default_registry() is default_registry()
    assert resolve(None) is default_registry()
    mine = ModelRegistry()
    assert resolve(mine) is mine


# ------------------------------------------------------------------------------------------ register + load
def test_register_local_hf_folder_loads_like_from_pretrained(hf_folder):
    from transformers import Wav2Vec2ForCTC

    from workbench.models.assets import sha256_file

    reg = ModelRegistry()
    spec = reg.register("mine", hf_folder)
    assert (spec.kind, spec.source) == ("ctc", "local")
    assert reg.available_offline("mine")
    bundle = reg.get("mine", device="cpu")
    reference = Wav2Vec2ForCTC.from_pretrained(hf_folder).eval()
    np.testing.assert_array_equal(_logits(bundle.model), _logits(reference))
    assert bundle.vocab[:5] == ["<pad>", "<s>", "</s>", "<unk>", "|"] and bundle.blank_id == 0
    assert bundle.revision == "sha256:" + sha256_file(hf_folder / "model.safetensors")[:16]
    assert bundle.num_frames(8000) == _logits(bundle.model).shape[1]


def test_a_half_precision_checkpoint_loads_in_the_requested_dtype(hf_folder, tmp_path):
    import torch
    from transformers import Wav2Vec2ForCTC

    half = tmp_path / "half"
    Wav2Vec2ForCTC.from_pretrained(hf_folder).half().save_pretrained(half)
    for name in ("preprocessor_config.json", "vocab.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (hf_folder / name).exists():
            (half / name).write_bytes((hf_folder / name).read_bytes())
    reg = ModelRegistry()
    reg.register("half", half)
    bundle = reg.get("half", device="cpu")
    assert next(bundle.model.parameters()).dtype == torch.float32  # not fp16 on the CPU
    reference = Wav2Vec2ForCTC.from_pretrained(hf_folder).eval()
    np.testing.assert_allclose(_logits(bundle.model), _logits(reference), atol=0.05)
    assert next(reg.get("half", device="cpu", dtype="bfloat16").model.parameters()).dtype == torch.bfloat16


def test_hub_id_loads_offline_from_the_hf_cache_through_the_same_path(hf_folder, empty_hf_cache):
    """A hub id resolves in the HF cache layout (snapshots/<commit>) with local_files_only."""
    repo = empty_hf_cache / "models--someone--tiny-ctc"
    shutil.copytree(hf_folder, repo / "snapshots" / SNAPSHOT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)

    reg = ModelRegistry()
    reg.register("local", hf_folder)
    spec = reg.register("hubbed", "someone/tiny-ctc", kind="ctc")
    assert spec.source == "hub" and reg.available_offline("hubbed")
    bundle = reg.get("hubbed", device="cpu")
    assert bundle.revision == SNAPSHOT  # the hub commit, read from the cache layout
    np.testing.assert_array_equal(_logits(bundle.model), _logits(reg.get("local", device="cpu").model))


def test_hub_model_found_as_folder_on_the_asset_path(hf_folder, empty_hf_cache, tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    shutil.copytree(hf_folder, assets / "models" / "wav2vec2-base-960h")
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(assets))
    reg = ModelRegistry()
    assert reg.available_offline("wav2vec2-base-960h")
    bundle = reg.get("wav2vec2-base-960h", device="cpu")
    assert bundle.source_path == str(assets / "models" / "wav2vec2-base-960h")
    assert bundle.config.hidden_size == 32


def test_register_pretraining_folder_infers_kind(tiny_dirs):
    reg = ModelRegistry()
    assert reg.register("pt", tiny_dirs["pretraining"]).kind == "pretraining"
    bundle = reg.get("pt", device="cpu")
    assert bundle.tokenizer is None and bundle.config.num_codevector_groups == 2


def test_register_rejects_bad_sources_and_name_clashes(hf_folder, tmp_path):
    reg = ModelRegistry()
    reg.register("mine", hf_folder)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("mine", hf_folder)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("base-960h", hf_folder)  # an alias of wav2vec2-base-960h
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        reg.register("empty", tmp_path / "empty")
    with pytest.raises(ModelNotAvailableError, match="neither an existing path nor a hub id"):
        reg.register("nowhere", "./no/such/folder")
    with pytest.raises(ValueError, match="kind= is needed"):
        reg.register("hub-no-kind", "someone/model")


def test_replacing_a_registration_drops_the_old_loaded_copy(hf_folder, tiny_dirs):
    reg = ModelRegistry()
    reg.register("mine", hf_folder)
    first = reg.get("mine", device="cpu")
    reg.register("mine", tiny_dirs["ctc"], replace_existing=True)
    assert reg.loaded() == []
    second = reg.get("mine", device="cpu")
    assert second is not first and second.config.hidden_size != first.config.hidden_size


# ------------------------------------------------------------------------------------------ caching
def test_second_get_returns_the_same_object(hf_folder):
    reg = ModelRegistry()
    reg.register("mine", hf_folder, aliases=("my-alias",))
    a = reg.get("mine", device="cpu")
    assert reg.get("mine", device="cpu") is a
    assert reg.get("my-alias", device="cpu") is a
    assert reg.load_count == 1
    q = reg.get("mine", device="cpu", dtype="bfloat16")  # another (device, dtype) is another entry
    assert q is not a and reg.load_count == 2
    assert reg.loaded() == [("mine", "cpu", "float32"), ("mine", "cpu", "bfloat16")]
    assert reg.catalog(include_voices=False).set_index("name").loc["mine", "loaded"]


def test_concurrent_get_loads_once(hf_folder):
    reg = ModelRegistry()
    reg.register("mine", hf_folder)
    n = 8
    barrier = threading.Barrier(n)
    got: list = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        got[i] = reg.get("mine", device="cpu")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.load_count == 1
    assert all(g is got[0] for g in got) and got[0] is not None


def test_concurrent_failing_get_raises_for_every_caller_and_caches_nothing(tmp_path, empty_hf_cache):
    reg = ModelRegistry()
    errors: list[Exception] = []

    def worker() -> None:
        try:
            reg.get("wav2vec2-base", device="cpu")
        except ModelNotAvailableError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 4 and reg.loaded() == [] and reg.load_count == 0


def test_lru_eviction_under_a_byte_budget(hf_folder):
    probe = ModelRegistry()
    probe.register("probe", hf_folder)
    size = _param_bytes(probe.get("probe", device="cpu"))
    assert size > 0

    reg = ModelRegistry(memory_budget=int(2.5 * size))
    for name in ("a", "b", "c"):
        reg.register(name, hf_folder)
    a = reg.get("a", device="cpu")
    reg.get("b", device="cpu")
    assert reg.get("a", device="cpu") is a  # touching "a" makes "b" the least recently used
    reg.get("c", device="cpu")
    assert [n for n, _, _ in reg.loaded()] == ["a", "c"]
    assert reg.loaded_bytes() == 2 * size <= reg.memory_budget
    assert reg.load_count == 3
    reg.get("b", device="cpu")  # evicted, so it loads again and pushes out "a"
    assert reg.load_count == 4 and [n for n, _, _ in reg.loaded()] == ["c", "b"]
    assert reg.evict("c") == 1 and [n for n, _, _ in reg.loaded()] == ["b"]
    reg.clear()
    assert reg.loaded() == [] and reg.loaded_bytes() == 0


def test_a_model_larger_than_the_budget_still_loads_alone(hf_folder):
    reg = ModelRegistry(memory_budget=1)
    reg.register("a", hf_folder)
    reg.register("b", hf_folder)
    reg.get("a", device="cpu")
    reg.get("b", device="cpu")
    assert [n for n, _, _ in reg.loaded()] == ["b"]


def test_resource_is_built_once():
    reg = ModelRegistry()
    calls = []
    first = reg.resource(("thing",), lambda: calls.append(1) or object())
    assert reg.resource(("thing",), lambda: calls.append(1) or object()) is first
    assert calls == [1]


# ------------------------------------------------------------------------------------------ offline errors
@pytest.mark.parametrize("name, repo", [("wav2vec2-base-960h", "facebook/wav2vec2-base-960h"),
                                        ("wav2vec2-base", "facebook/wav2vec2-base")])
def test_offline_error_for_an_uncached_hub_model(name, repo, empty_hf_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WORKBENCH_ASSET_PATH", str(tmp_path / "assets"))
    reg = ModelRegistry()
    assert not reg.available_offline(name)
    with pytest.raises(ModelNotAvailableError) as err:
        reg.get(name, device="cpu")
    msg = str(err.value)
    assert msg.startswith(f"{name}: hub model {repo} is not on this machine")
    assert "HF_HUB_OFFLINE is set" in msg
    assert str(empty_hf_cache) in msg  # where it looked: the HF cache ...
    assert f"WORKBENCH_ASSET_PATH={tmp_path / 'assets'}" in msg  # ... and the asset path
    assert f"workbench fetch {name}" in msg  # how to get it
    assert reg.loaded() == [] and reg.load_count == 0


def test_fetch_offline_says_it_needs_the_network(empty_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="needs the network but HF_HUB_OFFLINE is set"):
        ModelRegistry().fetch("wav2vec2-base-960h")
