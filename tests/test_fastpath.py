"""The engine's fast CPU path: the cached ONNX fp32 export gives torch's results (within float error).

Each test gets its own WORKBENCH_CACHE, so an export made here never reaches other tests.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_trained

from workbench.asr.engine import analyze, store_for
from workbench.asr.fastpath import ONNX_BACKEND, export_folder, runner_for
from workbench.data.corpus import Corpus

SR = 16_000


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def clips(eval_corpus) -> dict[str, np.ndarray]:
    return {u.id: u.load(SR)[: int((1.2 + 0.4 * i) * SR)] for i, u in enumerate(eval_corpus.subset(3))}


def test_onnx_backend_matches_torch_and_auto_uses_the_cached_export(registry, clips, fresh_cache):
    corpus = Corpus.from_arrays(clips)
    bundle = registry.get("rand-ctc")
    assert runner_for("rand-ctc", bundle, registry) == (bundle, None)  # nothing cached yet: torch
    torch_run = analyze(corpus, "rand-ctc", registry=registry, backend="torch", layers=[0, 2], cache=False)
    onnx_run = analyze(corpus, "rand-ctc", registry=registry, backend="onnx", layers=[0, 2], cache=False)
    assert (export_folder(bundle) / "model.onnx").exists()
    for a, b in zip(torch_run, onnx_run):
        assert a.log_probs.shape == b.log_probs.shape
        np.testing.assert_allclose(b.log_probs, a.log_probs, atol=1e-4)
        for layer in (0, 2):
            np.testing.assert_allclose(b.layer(layer), a.layer(layer), atol=1e-3)
    runner, name = runner_for("rand-ctc", bundle, registry)  # the default now finds the export
    assert name == ONNX_BACKEND and runner is not bundle
    auto = analyze(corpus, "rand-ctc", registry=registry, layers=[0, 2], cache=False)
    for a, b in zip(onnx_run, auto):
        np.testing.assert_array_equal(a.log_probs, b.log_probs)


def test_the_backend_is_part_of_the_cache_key(registry, clips, fresh_cache):
    corpus = Corpus.from_arrays(dict(list(clips.items())[:2]))
    store = store_for(registry)
    analyze(corpus, "rand-ctc", registry=registry, backend="torch")
    assert store.forward_calls == 2
    analyze(corpus, "rand-ctc", registry=registry, backend="onnx")  # not answered from the torch entries
    assert store.forward_calls == 4
    analyze(corpus, "rand-ctc", registry=registry)  # auto -> onnx: its own entries are hits
    analyze(corpus, "rand-ctc", registry=registry, backend="torch")
    assert store.forward_calls == 4


def test_a_damaged_export_falls_back_to_torch_with_a_warning(registry, clips, fresh_cache):
    bundle = registry.get("rand-ctc")
    folder = export_folder(bundle)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not an onnx graph")
    audio = next(iter(clips.values()))
    with pytest.warns(RuntimeWarning, match="could not be opened"):
        got = analyze(audio, "rand-ctc", registry=registry, cache=False)[0]
    want = analyze(audio, "rand-ctc", registry=registry, cache=False, backend="torch")[0]
    np.testing.assert_array_equal(got.log_probs, want.log_probs)


def test_unknown_backend_is_refused(registry, clips):
    with pytest.raises(ValueError, match="backend='tensorrt'"):
        analyze(next(iter(clips.values())), "rand-ctc", registry=registry, backend="tensorrt")


@requires_trained
def test_onnx_transcripts_equal_torch_on_the_trained_checkpoint(eval_corpus, fresh_cache):
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    corpus = eval_corpus.subset(8)
    torch_run = analyze(corpus, "w2v2-tiny-ctc", registry=reg, backend="torch", cache=False)
    onnx_run = analyze(corpus, "w2v2-tiny-ctc", registry=reg, backend="onnx", cache=False)
    assert onnx_run.transcripts() == torch_run.transcripts()
    worst = max(float(np.abs(a.log_probs - b.log_probs).max()) for a, b in zip(torch_run, onnx_run))
    assert worst < 1e-4
