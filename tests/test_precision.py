"""Precision modes through the registry (int8, bfloat16 on the CPU) and their reported WER effect."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.data.corpus import Corpus
from workbench.asr.engine import analyze
from workbench.evaluation.precision import compare_precisions

SR = 16_000


@pytest.fixture(scope="module")
def small(eval_corpus) -> Corpus:
    utts = list(eval_corpus.subset(3))
    return Corpus.from_arrays({u.id: u.load(SR)[: 2 * SR] for u in utts}, texts={u.id: u.text for u in utts})


def test_int8_is_dynamic_quantization_and_close(shared_registry, small):
    import torch

    bundle = shared_registry.get("rand-ctc", dtype="int8")
    assert bundle.dtype == "int8" and bundle.device == "cpu"
    kinds = {type(m) for m in bundle.model.modules()}
    assert torch.ao.nn.quantized.dynamic.Linear in kinds and torch.nn.Linear not in kinds
    exact = analyze(small, "rand-ctc", registry=shared_registry, cache=False)
    quant = analyze(small, "rand-ctc", registry=shared_registry, cache=False, dtype="int8")
    for a, b in zip(exact, quant):
        d = np.abs(a.log_probs - b.log_probs).max()
        assert 0 < d < 1.0


def test_bfloat16_on_cpu_runs(shared_registry, small):
    clip = small[0].array[: SR // 2]  # emulated bf16 is slow on CPUs without bf16 instructions
    exact = analyze(clip, "rand-ctc", registry=shared_registry, cache=False)[0]
    half = analyze(clip, "rand-ctc", registry=shared_registry, cache=False, dtype="bfloat16")[0]
    assert half.log_probs.dtype == np.float32 and half.log_probs.shape == exact.log_probs.shape
    assert 0 < np.abs(half.log_probs - exact.log_probs).max() < 0.5


def test_compare_precisions_reports_wer_effect(shared_registry, small):
    import jiwer

    df = compare_precisions(small, "rand-ctc", dtypes=("float32", "int8", "float16"), registry=shared_registry)
    assert list(df["mode"]) == ["float32", "int8", "float16"]
    exact, int8, fp16 = (df.iloc[i] for i in range(3))
    assert exact["identical"] == 1.0 and exact["wer_vs_exact"] == 0.0 and exact["delta_wer"] == 0.0
    assert exact["speedup"] == 1.0 and exact["audio_s"] == pytest.approx(6.0)
    assert "CUDA" in fp16["error"]  # float16 on the CPU is refused, and the other rows survive
    # the WER columns are real scores: recompute int8 vs exact with jiwer on the same transcripts
    hyp_exact = analyze(small, "rand-ctc", registry=shared_registry, cache=False).transcripts()
    hyp_int8 = analyze(small, "rand-ctc", registry=shared_registry, cache=False, dtype="int8").transcripts()
    ids = [k for k in hyp_exact if hyp_exact[k]]
    assert int8["wer_vs_exact"] == pytest.approx(jiwer.wer([hyp_exact[k] for k in ids], [hyp_int8[k] for k in ids]))
    assert int8["identical"] == np.mean([hyp_exact[k] == hyp_int8[k] for k in hyp_exact])
    assert np.isfinite(int8["wer"]) and int8["delta_wer"] == pytest.approx(100 * (int8["wer"] - exact["wer"]))
