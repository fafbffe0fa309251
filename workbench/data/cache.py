"""The on-disk cache of derived arrays (emissions, hidden states, projections).

Entries are ``.npz`` files under ``<cache>/derived/<namespace>/``, keyed by a hash of the
model revision, the input's content hash and the options, and written atomically (temp
file + rename) so concurrent writers and crashes never leave a torn entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .. import settings


def hash_array(audio: np.ndarray) -> str:
    """Content hash of an array (dtype, shape and bytes)."""
    arr = np.ascontiguousarray(audio)
    digest = hashlib.sha256()
    digest.update(str(arr.dtype).encode())
    digest.update(str(arr.shape).encode())
    digest.update(memoryview(arr).cast("B"))  # no copy of the audio
    return digest.hexdigest()[:32]


def make_key(**parts) -> str:
    """A stable key from JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


class DiskCache:
    """A folder of ``.npz`` entries with atomic writes; ``None`` root disables it."""

    def __init__(self, namespace: str, root: Path | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.root = (Path(root) if root is not None else settings.cache_dir() / "derived") / namespace
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                out = {k: data[k] for k in data.files}
        except Exception:
            path.unlink(missing_ok=True)  # corrupted entry: recompute rather than fail
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)
