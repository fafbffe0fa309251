"""Where a result came from: models and revisions, package versions, date and machine."""
from __future__ import annotations

PACKAGES = ("workbench", "numpy", "pandas", "scipy", "jiwer", "torch", "transformers", "onnxruntime", "misaki",
            "umap-learn", "scikit-learn", "matplotlib", "soundfile", "librosa")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions (from package metadata, nothing imported); missing packages are left out."""
    from importlib import metadata

    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine() -> dict[str, str | int | None]:
    import os
    import platform

    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "python": platform.python_version(), "host": platform.node()}


def collect(models: dict[str, str | None] | None = None, **extra) -> dict:
    """A provenance record: ``models`` maps model name -> revision; ``extra`` is added as is."""
    import datetime

    return {"models": dict(models or {}), **extra, "packages": package_versions(), "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def json_default(value):
    """``json.dumps`` fallback for numpy scalars/arrays, paths and NaN-like values."""
    import math
    from pathlib import PurePath

    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


class JsonResult:
    """Mixin for result objects saved as one JSON document.

    A subclass implements :meth:`to_json` (a plain dict, provenance included); ``save(path)``
    writes it (creating the folder) and returns the path, so every such result saves alike.
    """

    def to_json(self) -> dict:  # pragma: no cover - each result defines its own
        raise NotImplementedError

    def save(self, path):
        """Write :meth:`to_json` to ``path`` (UTF-8 JSON) and return the path."""
        import json
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=json_default),
                        encoding="utf-8")
        return path
