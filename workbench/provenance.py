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
