"""Finding asset files: the asset search path, then the Hugging Face cache, then the hub.

Nothing here downloads unless the caller asks for it (``allow_download=True``) and
``HF_HUB_OFFLINE`` is not set.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .. import settings
from ..errors import AssetIntegrityError, ModelNotAvailableError


def find_asset(*candidates: str) -> Path | None:
    """First file or folder matching any relative candidate on the asset search path."""
    for root in settings.asset_path():
        for rel in candidates:
            path = root / rel
            try:
                if path.exists():
                    return path
            except OSError:  # an unreadable folder on the path is skipped, not fatal
                continue
    return None


def asset_path_report() -> str:
    """A one-line description of the asset search path for error messages."""
    folders = settings.asset_path()
    if not folders:
        return "WORKBENCH_ASSET_PATH is not set"
    return "WORKBENCH_ASSET_PATH=" + os.pathsep.join(str(f) for f in folders)


def hf_cached_file(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """A file already in the Hugging Face cache, without any network call."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(hit) if isinstance(hit, str) and os.path.exists(hit) else None


def hf_download(repo_id: str, filename: str, *, revision: str | None = None, what: str) -> Path:
    """``hf_hub_download`` honouring ``HF_HUB_OFFLINE``, with a clear error when it cannot."""
    cached = hf_cached_file(repo_id, filename, revision)
    if cached is not None:
        return cached
    if settings.hf_offline():
        raise ModelNotAvailableError(
            f"{what}: {repo_id}/{filename} is not in the Hugging Face cache and HF_HUB_OFFLINE is set "
            f"({asset_path_report()}). Run `workbench fetch {what}` on a machine with internet, "
            "or put the file in a folder on WORKBENCH_ASSET_PATH."
        )
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as exc:  # network errors come in many classes
        raise ModelNotAvailableError(
            f"{what}: could not download {repo_id}/{filename} from the Hugging Face hub ({exc.__class__.__name__}: "
            f"{exc}). Check the network, or set WORKBENCH_ASSET_PATH to a folder holding the file "
            f"({asset_path_report()})."
        ) from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, chunks, *, expected_sha256: str | None = None) -> Path:
    """Write an iterable of byte chunks to ``path`` atomically, checking the sha256 first.

    The file appears under its final name only when complete and verified, so a crash or a
    concurrent writer never leaves a half-written file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            for block in chunks:
                digest.update(block)
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise AssetIntegrityError(
                f"{path.name}: sha256 {digest.hexdigest()} does not match the expected {expected_sha256}; "
                "the data it was built from is corrupted or incomplete; reinstall or re-fetch that source."
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
