"""Parity with the kokoro-onnx package on the same phonemes, voice, speed and model file."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_kokoro_assets

pytest.importorskip("kokoro_onnx")


@pytest.fixture(scope="module")
def table(shared_registry):
    from workbench.tts.parity import parity_table

    return parity_table(voice="af_heart", registry=shared_registry,
                        cases=("same", "unknown-symbol", "same-row", "whitespace")).set_index("case")


@requires_kokoro_assets
def test_same_phonemes_give_the_same_audio(table):
    same = table.loc["same"]
    assert same.equal and same.max_abs_diff <= 1e-5
    assert same.samples_ours == same.samples_kokoro_onnx > 0
    assert same.row_ours == same.row_kokoro_onnx == same.chars - 1


@requires_kokoro_assets
def test_style_row_differs_by_design_for_unknown_symbols(table):
    odd = table.loc["unknown-symbol"]
    # "Ø" is dropped by both tokenizers, but Kokoro's reference counts it for the style row
    assert odd.tokens_ours == odd.tokens_kokoro_onnx == odd.chars - 1
    assert odd.row_ours == odd.chars - 1 and odd.row_kokoro_onnx == odd.chars - 2
    assert not odd.equal
    same_row = table.loc["same-row"]  # kokoro-onnx's own _infer with our row: equal again
    assert same_row.equal and same_row.max_abs_diff <= 1e-5


@requires_kokoro_assets
def test_whitespace_is_collapsed_by_kokoro_onnx(table):
    ws = table.loc["whitespace"]
    assert ws.tokens_ours == ws.tokens_kokoro_onnx + 1
    assert not ws.equal and "collapses" in ws.note


@requires_kokoro_assets
def test_voices_archive_has_kokoro_onnx_layout(shared_registry, tmp_path):
    from workbench.tts.parity import voices_archive

    path = voices_archive(["af_heart", "bm_george"], registry=shared_registry, folder=tmp_path)
    with np.load(path) as data:
        assert sorted(data.files) == ["af_heart", "bm_george"]
        assert data["af_heart"].shape == (510, 1, 256)
        np.testing.assert_array_equal(data["bm_george"][:, 0], shared_registry.voice("bm_george").pack)
