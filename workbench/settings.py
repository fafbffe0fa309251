"""Settings read from the environment at call time (never frozen at import).

``WORKBENCH_ASSET_PATH``  colon-separated folders searched for assets (Kokoro voices and
                          config, wav2vec2 facts, speech samples). ``.ci/run`` points it
                          at ``../shared/assets``.
``WORKBENCH_CACHE``       the workbench cache folder (assembled models, derived arrays);
                          default ``~/.cache/workbench``.
``HF_HUB_OFFLINE``        when truthy, nothing is fetched from the Hugging Face hub.
``WORKBENCH_PROGRESS``    set to 0 to switch off progress bars everywhere.
"""
from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def asset_path() -> list[Path]:
    """Folders of the asset search path, in order (missing ones are skipped by the lookups)."""
    raw = os.environ.get("WORKBENCH_ASSET_PATH", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def cache_dir() -> Path:
    """The workbench cache folder (created on demand)."""
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "workbench"
    )
    path = Path(root).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a file there, read-only, disk full: each writer reports it (the derived cache warns, goes on)
        pass
    return path


def hf_offline() -> bool:
    """True when the Hugging Face hub must not be contacted."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def progress_enabled(default: bool = True) -> bool:
    """Progress bars on unless ``WORKBENCH_PROGRESS=0``."""
    raw = os.environ.get("WORKBENCH_PROGRESS")
    if raw is None:
        return default
    return raw.strip().lower() in _TRUE
