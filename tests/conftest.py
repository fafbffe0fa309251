"""Shared fixtures.  HF_HUB_OFFLINE is set before anything imports the hub; the asset path
comes from WORKBENCH_ASSET_PATH (``.ci/run`` points it at ../shared/assets); each test session
gets its own workbench cache folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("WORKBENCH_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
if "WORKBENCH_CACHE" not in os.environ or os.environ.get("WORKBENCH_TEST_FRESH_CACHE"):
    os.environ["WORKBENCH_CACHE"] = tempfile.mkdtemp(prefix="wb-test-cache-")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL_MANIFEST = ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl"


def _asset(rel: str) -> Path | None:
    from workbench.models.assets import find_asset

    return find_asset(rel)


requires_kokoro_assets = pytest.mark.skipif(
    _asset("kokoro/config.json") is None,
    reason="Kokoro voices/config not on WORKBENCH_ASSET_PATH (set it to ../shared/assets)")
requires_librispeech = pytest.mark.skipif(
    _asset("speech/librispeech") is None,
    reason="LibriSpeech samples not on WORKBENCH_ASSET_PATH (set it to ../shared/assets)")
requires_w2v2_assets = pytest.mark.skipif(
    _asset("wav2vec2/wav2vec2-base-960h.config.json") is None,
    reason="wav2vec2 facts not on WORKBENCH_ASSET_PATH (set it to ../shared/assets)")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """Small random-weight CTC and pretraining checkpoints in Hugging Face format."""
    from workbench.recipe.build import new_model, save_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "ctc": save_model(new_model("ctc", seed=0), root / "ctc", kind="ctc"),
        "pretraining": save_model(new_model("pretraining", seed=0), root / "pretraining", kind="pretraining"),
    }


@pytest.fixture
def registry(tiny_dirs):
    """A fresh registry with the random tiny models registered as 'rand-ctc' / 'rand-pt'."""
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    reg.register("rand-ctc", tiny_dirs["ctc"])
    reg.register("rand-pt", tiny_dirs["pretraining"], paired_ctc="rand-ctc")
    return reg


@pytest.fixture(scope="session")
def shared_registry(tiny_dirs):
    """One registry for the whole session (models load once) — use for read-only tests."""
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    reg.register("rand-ctc", tiny_dirs["ctc"])
    reg.register("rand-pt", tiny_dirs["pretraining"], paired_ctc="rand-ctc")
    return reg


@pytest.fixture(scope="session")
def eval_corpus():
    """The project's own held-out Kokoro evaluation set (datasets/kokoro-eval)."""
    from workbench.data.corpus import Corpus

    return Corpus.load(EVAL_MANIFEST)


def trained_available() -> bool:
    from workbench.models.registry import ModelRegistry

    return ModelRegistry().available_offline("w2v2-tiny-ctc")


requires_trained = pytest.mark.skipif(not trained_available(),
                                      reason="the demo checkpoints are not built yet (workbench train)")
