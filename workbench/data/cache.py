"""The on-disk cache of derived arrays (emissions, hidden states, projections).

Entries are ``.npz`` files under ``<cache>/derived/<namespace>/``, keyed by a hash of the
model revision, the input's content hash and the options, and written atomically (temp
file + rename) so concurrent writers and crashes never leave a torn entry.

The cache is an accelerator, never a requirement: each entry carries a checksum of its arrays
(names, dtypes, shapes, bytes) and an entry that fails it, holds NaN/inf or cannot be read is
dropped and recomputed; a write that fails (disk full, read-only or misplaced cache folder)
warns once and the cache turns itself off for the rest of the process's use of it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .. import settings

#: the key under which an entry stores the checksum of its other arrays
CHECKSUM_KEY = "__checksum__"


class CacheWriteWarning(UserWarning):
    """A derived-array cache entry could not be written; results are unaffected."""


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        digest.update(str(arr.dtype).encode())
        digest.update(str(arr.shape).encode())
        digest.update(memoryview(arr).cast("B") if arr.size else b"")
    return digest.hexdigest()


def _sound(arrays: dict[str, np.ndarray]) -> bool:
    """The entry's stored checksum matches, and no floating-point array holds NaN or inf."""
    stored = arrays.pop(CHECKSUM_KEY, None)
    if stored is None or str(stored) != checksum(arrays):
        return False
    return all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind in "fc")


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
        self.rejected = 0  # entries that loaded but failed their checksum / held NaN (recomputed)
        self.write_error: str | None = None  # why writing was turned off, if it was

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
            sound = _sound(out)
        except Exception:
            sound = False
        if not sound:  # unreadable, tampered, truncated or NaN: recompute rather than fail or mislead
            self.rejected += 1
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store an entry; a failed write (disk full, unwritable folder) warns once and turns writing off."""
        if not self.enabled or self.write_error is not None:
            return
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays, **{CHECKSUM_KEY: np.array(checksum(arrays))})
            os.replace(tmp, path)
        except OSError as exc:
            self._disable_writes(exc)
        finally:
            if tmp is not None and os.path.exists(tmp):
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _disable_writes(self, exc: OSError) -> None:
        self.write_error = f"{exc.__class__.__name__}: {exc}"
        key = (str(self.root), exc.__class__.__name__)
        if key in _WARNED:
            return
        _WARNED.add(key)
        message = (f"the workbench cache cannot be written under {self.root} ({self.write_error}); results are "
                   "computed and returned as usual, without caching. Free disk space, or point WORKBENCH_CACHE "
                   "at a writable folder")
        warnings.warn(message, CacheWriteWarning, stacklevel=3)

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


#: (cache folder, error class) already warned about in this process
_WARNED: set[tuple[str, str]] = set()

