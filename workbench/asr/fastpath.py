"""The engine's fast CPU path: an ONNX fp32 export of the same checkpoint, used once it is cached.

On a CPU, onnxruntime runs the fp32 graph of a wav2vec2 CTC checkpoint faster than eager
torch (fused attention and GELU, pre-packed matmul weights) with the same weights and the
same float32 arithmetic up to summation order: log-probabilities differ by about 1e-5 and
transcripts are identical (``benchmarks/bench_asr.py`` measures both, each run).  So the
engine uses it where it is exact in this sense and available:

- ``backend="auto"`` (the default): the export in the workbench cache when there is one for
  this model name *and* revision (torch, CPU, float32, CTC checkpoints only); otherwise torch.
- ``backend="onnx"``: make the export first when it is missing (about a minute for a
  base-size model, once), then use it.
- ``backend="torch"``: always eager torch.

Exports live in ``$WORKBENCH_CACHE/onnx-fp32/<name>-<revision hash>/`` and are written to a
temporary folder that is renamed into place, so a half-written export is never read.  The
analysis cache key names the backend that computed an entry, so torch and ONNX results are
never mixed up.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import warnings
from pathlib import Path

from .. import settings
from ..errors import CapabilityError
from ..models.registry import ModelRegistry
from ..models.specs import ModelSpec

BACKENDS = ("auto", "torch", "onnx")
ONNX_BACKEND = "onnx-fp32"  # the name the analysis cache key records


def export_folder(bundle) -> Path:
    """Where the ONNX fp32 export of ``bundle`` (its name and revision) is cached."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", bundle.name)[:80]
    digest = hashlib.sha256(f"{bundle.name}\n{bundle.revision}".encode()).hexdigest()[:16]
    return settings.cache_dir() / "onnx-fp32" / f"{slug}-{digest}"


def eligible(bundle) -> bool:
    """True for a torch CTC checkpoint loaded on the CPU in float32 (what the export reproduces)."""
    return (getattr(bundle, "kind", None) == "ctc" and hasattr(bundle, "model")
            and str(getattr(bundle, "device", "cpu")).split(":")[0] == "cpu"
            and getattr(bundle, "dtype", "float32") == "float32")


def ensure_export(name: str, bundle, registry: ModelRegistry) -> Path:
    """The cached export of ``bundle``, made first when missing; returns the ``model.onnx`` path."""
    from .onnx_export import export_onnx

    folder = export_folder(bundle)
    target = folder / "model.onnx"
    if target.exists():
        return target
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        export_onnx(name, tmp, registry=registry)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same export first: use theirs
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def runner_for(name: str, bundle, registry: ModelRegistry, backend: str = "auto"):
    """(the object whose ``forward_batch`` the engine calls, the backend name for the cache key).

    ``(bundle, None)`` means eager torch (or a bundle that is not a torch CPU fp32 CTC model).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; use 'auto' (ONNX fp32 when its export is cached, else torch), "
                         "'torch' or 'onnx'")
    if backend == "torch" or not eligible(bundle):
        if backend == "onnx" and hasattr(bundle, "model"):
            raise CapabilityError(f"{bundle.name}: backend='onnx' needs a CTC checkpoint on the CPU in float32 "
                                  f"(got kind={bundle.kind}, device={bundle.device}, dtype={bundle.dtype})")
        return bundle, None
    target = export_folder(bundle) / "model.onnx"
    if backend == "onnx":
        target = ensure_export(name, bundle, registry)
    elif not target.exists():
        return bundle, None
    try:
        onnx_bundle = registry.resource(("onnx-fp32", bundle.name, bundle.revision, str(target)),
                                        lambda: _open(target, bundle))
    except Exception as exc:  # a damaged export: say so, run torch (auto) or fail (asked for onnx)
        if backend == "onnx":
            raise
        warnings.warn(f"{target}: the cached ONNX export could not be opened ({exc}); running torch. Delete "
                      f"{target.parent} to export again.", RuntimeWarning, stacklevel=3)
        return bundle, None
    return onnx_bundle, ONNX_BACKEND


def _open(path: Path, bundle):
    from ..models.onnx_ctc import load_onnx_ctc

    spec = ModelSpec(name=f"{bundle.name}@onnx-fp32", kind="ctc", source="onnx", location=str(path),
                     description=f"cached ONNX fp32 export of {bundle.name}")
    onnx_bundle = load_onnx_ctc(spec)
    if (onnx_bundle.meta.get("source_revision") != bundle.revision or onnx_bundle.vocab != bundle.vocab
            or onnx_bundle.num_frames(48_000) != bundle.num_frames(48_000)):
        raise CapabilityError(f"{path}: the export does not match {bundle.name} (revision, vocabulary or frames "
                              "differ)")
    return onnx_bundle
