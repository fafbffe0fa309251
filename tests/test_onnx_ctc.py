"""ONNX export of a CTC model: numerics against torch, int8, registry loading, the engine, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.asr.engine import analyze, store_for
from workbench.models.ctc import CTCBundle
from workbench.errors import CapabilityError, ModelNotAvailableError
from workbench.models.onnx_ctc import OnnxCTCBundle
from workbench.asr.onnx_export import export_onnx

SR = 16_000


@pytest.fixture(scope="module")
def exported(shared_registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return export_onnx("rand-ctc", folder, registry=shared_registry)


@pytest.fixture(scope="module")
def batch(eval_corpus) -> list[np.ndarray]:
    """Three normalised clips of unequal length (the engine pads them)."""
    out = []
    for i, u in enumerate(eval_corpus.subset(3)):
        a = u.load(SR)[: int((1.2 + 0.4 * i) * SR)]
        out.append(((a - a.mean()) / np.sqrt(a.var() + 1e-7)).astype(np.float32))
    return out


def test_export_writes_graph_and_processor_files(exported):
    names = {p.name for p in exported.parent.iterdir()}
    assert exported.name == "model.onnx"
    assert {"preprocessor_config.json", "vocab.json", "tokenizer_config.json"} <= names
    assert "config.json" not in names  # the folder must not look like a torch checkpoint


def test_fp32_export_matches_torch(shared_registry, exported, batch):
    reg = shared_registry
    reg.register("rand-onnx", exported, replace_existing=True)
    onnx_bundle = reg.get("rand-onnx")
    assert isinstance(onnx_bundle, OnnxCTCBundle) and onnx_bundle.dtype == "float32"
    torch_bundle = reg.get("rand-ctc")
    assert isinstance(onnx_bundle, CTCBundle) and isinstance(torch_bundle, CTCBundle)  # one interface, two backends
    for attr in ("frame_stride", "receptive_field", "vocab", "blank_id", "word_delimiter", "num_layers",
                 "sample_rate", "do_normalize", "uses_attention_mask"):
        assert getattr(onnx_bundle, attr) == getattr(torch_bundle, attr), attr
    assert onnx_bundle.num_frames(12345) == torch_bundle.num_frames(12345)
    want = torch_bundle.forward_batch(batch, layers=(0, 4), codes=False)
    got = onnx_bundle.forward_batch(batch, layers=(0, 4))
    for w, g in zip(want, got):
        assert w["log_probs"].shape == g["log_probs"].shape
        np.testing.assert_allclose(g["log_probs"], w["log_probs"], atol=1e-4)
        np.testing.assert_allclose(g["h4"], w["h4"], atol=1e-4)
        np.testing.assert_allclose(g["h0"], w["h0"], atol=1e-4)


def test_registered_onnx_model_runs_through_analyze(shared_registry, exported, eval_corpus):
    reg = shared_registry
    reg.register("rand-onnx-a", exported, replace_existing=True)
    corpus = eval_corpus.subset(3)
    calls = store_for(reg).forward_calls
    via_onnx = analyze(corpus, "rand-onnx-a", registry=reg, cache=False, layers=[2])
    via_torch = analyze(corpus, "rand-ctc", registry=reg, cache=False, layers=[2])
    assert store_for(reg).forward_calls > calls
    assert len(via_onnx.ok) == 3 and via_onnx.model == "rand-onnx-a"
    assert via_onnx[0].revision.startswith("onnx-float32:sha256:")
    for a, b in zip(via_onnx, via_torch):
        np.testing.assert_allclose(a.log_probs, b.log_probs, atol=1e-4)
        np.testing.assert_allclose(a.layer(2), b.layer(2), atol=1e-4)
    assert via_onnx.transcripts() == via_torch.transcripts()
    with pytest.raises(CapabilityError, match="quantizer"):
        analyze(corpus, "rand-onnx-a", registry=reg, codes=True)


def test_int8_export_via_cli(shared_registry, tiny_dirs, exported, batch, tmp_path, capsys):
    from workbench.cli import main

    assert main(["export", str(tiny_dirs["ctc"]), "--onnx", "--int8", "--out", str(tmp_path), "--check"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "model.int8.onnx"
    assert f"wrote {path}" in out and "max |log-prob difference|" in out
    assert path.stat().st_size < 0.6 * exported.stat().st_size  # int8 MatMul weights
    shared_registry.register("rand-onnx8", path, replace_existing=True)
    q = shared_registry.get("rand-onnx8")
    assert q.dtype == "int8"
    want = shared_registry.get("rand-ctc").forward_batch(batch, layers=(), codes=False)
    got = q.forward_batch(batch)
    for w, g in zip(want, got):
        assert g["log_probs"].shape == w["log_probs"].shape
        assert np.isfinite(g["log_probs"]).all()
        np.testing.assert_allclose(np.exp(g["log_probs"]).sum(-1), 1.0, atol=1e-4)
        assert 0 < np.abs(g["log_probs"] - w["log_probs"]).max() < 1.0  # quantized: close, not equal


def test_folder_with_two_exports_is_ambiguous(shared_registry, exported, tmp_path):
    import shutil

    folder = tmp_path / "two"
    shutil.copytree(exported.parent, folder)
    shutil.copy(exported, folder / "other.onnx")
    shared_registry.register("rand-onnx-two", folder, replace_existing=True)
    with pytest.raises(ModelNotAvailableError, match="several ONNX files"):
        shared_registry.get("rand-onnx-two")


def test_pretraining_models_are_not_exported(shared_registry, tmp_path):
    with pytest.raises(CapabilityError, match="only CTC"):
        export_onnx("rand-pt", tmp_path, registry=shared_registry)


def test_compare_models_reports_onnx_agreement(shared_registry, exported, eval_corpus):
    from workbench.evaluation.precision import compare_models

    shared_registry.register("rand-onnx-p", exported, replace_existing=True)
    small = eval_corpus.subset(2)
    df = compare_models(small, {"exact": ("rand-ctc", "float32"), "onnx": ("rand-onnx-p", "float32")},
                        registry=shared_registry)
    assert list(df["mode"]) == ["exact", "onnx"] and df.loc[1, "dtype"] == "float32"
    assert df.loc[1, "identical"] == 1.0 and df.loc[1, "wer_vs_exact"] == 0.0 and df.loc[1, "max_logprob_diff"] < 1e-4
