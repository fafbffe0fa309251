from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.corpus import Corpus
from ..errors import (
    ModelNotAvailableError,
    UnknownModelError,
    WorkbenchError,
)
from ..models.registry import ModelRegistry

FORMAT = "workbench-run/1"


TASKS = ("evaluate", "analyze")


ROW_FIELDS = ("index", "id", "audio", "speaker", "reference", "transcript", "samples", "duration", "frames",
              "chunked", "error", "arrays", "scores", "stamp")

#: the lock file that keeps two runs out of one folder (removed when the run ends)
LOCK_NAME = "run.lock"


SCORE_FIELDS = ("ref_words", "hyp_words", "hits", "substitutions", "deletions", "insertions", "errors", "wer",
                "ref_chars", "char_errors", "cer", "raw_wer", "note")


#: analyze() options that cannot change a result (left out when a restart is compared with run.json)
NEUTRAL_OPTIONS = ("progress", "cache")


_SHARD = re.compile(r"^shard-(\d{5,})\.jsonl(\.partial)?$")


class RunMismatchError(WorkbenchError):
    """The run folder holds a run started with other arguments, or is not a run folder."""


class RunLockedError(WorkbenchError):
    """Another run is writing into the same run folder."""


def input_stamp(utt) -> dict:
    """What a row's result depends on besides its id and text: the audio file's path, size and
    modification time (ns), or the sha256 of an in-memory array.  A resumed run recomputes a row
    whose stamp (or speaker) differs from the one stored with it."""
    if getattr(utt, "array", None) is not None:
        from ..data.cache import hash_array

        return {"array_sha256": hash_array(np.asarray(utt.array)), "rate": utt.sample_rate}
    try:
        path = os.path.abspath(utt.audio)
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return {"audio": utt.audio, "missing": True}
    return {"audio": path, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def row_changes(row: dict, utt, stamp: dict) -> list[str]:
    """Why a stored row no longer matches its utterance (empty: it still does)."""
    why = []
    old = row.get("stamp")
    if old is None:
        why.append("no input stamp (written by an older workbench)")
    elif old.get("audio") != stamp.get("audio"):
        why.append("audio path changed")
    elif old != stamp:
        why.append("audio content changed")
    if row.get("speaker") != utt.speaker:
        why.append("speaker changed")
    if row.get("reference") != utt.text:
        why.append("reference text changed")
    return why


@dataclass(frozen=True)
class ModelRef:
    """How a worker process finds a model: the registry name plus the spec's source and location.

    Catalogue models travel by name; checkpoints registered at run time (a local folder, an
    ``.onnx`` file, a hub id) travel as (name, kind, location) and are registered in the
    worker's own registry — the path must exist on every worker (a shared file system or the
    same path on each machine).
    """

    name: str
    kind: str
    source: str
    location: str
    pinned_revision: str | None = None

    @classmethod
    def from_registry(cls, registry: ModelRegistry, name: str) -> "ModelRef":
        spec = registry.spec(name)
        return cls(spec.name, spec.kind, spec.source, spec.location, spec.revision)

    def ensure(self, registry: ModelRegistry) -> str:
        """Register this model in ``registry`` unless it already has the same spec; returns its name."""
        try:
            spec = registry.spec(self.name)
        except UnknownModelError:
            spec = None
        if spec is not None and (spec.kind, spec.source, spec.location) == (self.kind, self.source, self.location):
            return spec.name
        if self.source not in ("local", "onnx", "hub"):
            raise ModelNotAvailableError(
                f"model {self.name!r} ({self.source}: {self.location}) is not in this process's catalogue; "
                "install the same workbench version (with its checkpoints) on every worker")
        if self.source != "hub" and not Path(self.location).exists():
            raise ModelNotAvailableError(
                f"model {self.name!r}: {self.location} does not exist on this machine ({_host()}); copy the "
                "checkpoint to the same path on every worker, or put it on a shared file system")
        registry.register(self.name, self.location, kind=self.kind, revision=self.pinned_revision,
                          replace_existing=True, description=f"registered for a corpus run from {self.location}")
        return self.name

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "location": self.location,
                "pinned_revision": self.pinned_revision}


def _host() -> str:
    import socket

    return f"{socket.gethostname()} pid {os.getpid()}"


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def model_info(bundle) -> dict:
    """The facts of a loaded wav2vec2 bundle a run folder needs to rebuild analyses."""
    return {"revision": bundle.revision, "kind": bundle.kind, "vocab": list(bundle.vocab),
            "blank_id": int(bundle.blank_id), "word_delimiter": bundle.word_delimiter,
            "frame_stride": int(bundle.frame_stride), "sample_rate": int(bundle.sample_rate)}


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _append(path: Path, data: bytes) -> None:
    """Append ``data`` with one write and fsync it (a SIGKILL leaves all of it or none)."""
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        _fsync_dir(path.parent)


def _read_rows(path: Path, *, repair: bool) -> list[dict]:
    """Complete rows of a shard file; with ``repair`` a torn last line (power loss) is cut off."""
    data = path.read_bytes()
    rows, good = [], 0
    for line in data.split(b"\n")[:-1]:  # the piece after the last newline is incomplete
        try:
            row = json.loads(line)
        except ValueError:
            break
        if not isinstance(row, dict) or "index" not in row:
            break
        rows.append(row)
        good += len(line) + 1
    if good != len(data):
        if not repair:
            raise RunMismatchError(f"{path}: a finished shard is damaged after byte {good}; delete it and resume "
                                   "(its utterances are recomputed)")
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())
    return rows


class RunFolder:
    """The files of one run: manifest, shards, arrays and the computed log."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.shards = self.root / "shards"
        self.arrays = self.root / "arrays"
        self.manifest_path = self.root / "run.json"
        self.log_path = self.root / "computed.log"

    # ----------------------------------------------------------------- manifest
    def read_manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunMismatchError(f"{self.manifest_path}: not readable as JSON ({exc}); use another out folder "
                                   "or --overwrite") from exc

    def write_manifest(self, manifest: dict) -> None:
        _atomic_write(self.manifest_path, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))

    def prepare(self, manifest: dict, *, overwrite: bool) -> dict:
        """The manifest to continue with: the stored one when it matches, else a clear refusal.

        ``overwrite`` always starts clean: the run's own files go first, whether run.json is
        there, missing or unreadable, so no old shard can be read back.
        """
        if overwrite:
            self.wipe()
        old = self.read_manifest()
        if old is None:
            if self.root.exists() and any(p.name != LOCK_NAME for p in self.root.iterdir()) and not overwrite:
                raise RunMismatchError(
                    f"{self.root} is not empty and holds no run.json, so it is not a run folder; give a new or "
                    "empty folder for the run")
            self.root.mkdir(parents=True, exist_ok=True)
            self.write_manifest(manifest)
            return manifest
        diffs = compare_manifests(old, manifest)
        if diffs:
            lines = "\n".join(f"  - {d}" for d in diffs)
            raise RunMismatchError(
                f"{self.root} holds a run started with other arguments:\n{lines}\n"
                "Resume it with the same arguments (`workbench run --resume DIR` reads them from run.json), "
                "use another out folder, or pass --overwrite (overwrite=True) to delete its results and start afresh")
        return old

    def wipe(self) -> None:
        """Delete this run's own files (only those: a run folder may sit beside other things)."""
        import shutil

        for sub in (self.shards, self.arrays, self.root / "scores"):
            shutil.rmtree(sub, ignore_errors=True)
        for name in ("run.json", "computed.log", "problems.jsonl", "results.jsonl"):
            (self.root / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``run.lock`` (an exclusive ``flock``) for the whole run; a second run into the same
        folder is refused at once with a :class:`RunLockedError` naming the holder."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise RunLockedError(
                    f"{self.root} is in use by another run ({holder}); wait for it to finish, or give another out "
                    f"folder. If no run is alive, the lock is already free (it is released when its process "
                    f"ends) and {path.name} can be deleted") from None
            try:  # the holder before us may have removed the file it locked: lock the one that is there
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{_host()} since {_now()}".encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)

    # ----------------------------------------------------------------- rows
    def reopen(self, shard: int, keep: list[dict]) -> None:
        """Turn a finished shard back into a partial one holding only ``keep`` (its other rows are
        recomputed): the partial is written first, so a crash in between loses nothing."""
        final = self.shard_path(shard, partial=False)
        if not final.exists():
            return
        data = b"".join(_dumps(r) + b"\n" for r in sorted(keep, key=lambda r: r["index"]))
        _atomic_write(self.shard_path(shard, partial=True), data)
        final.unlink()
        _fsync_dir(self.shards)

    def shard_path(self, shard: int, *, partial: bool) -> Path:
        return self.shards / (f"shard-{shard:05d}.jsonl" + (".partial" if partial else ""))

    def load_rows(self, *, repair: bool = True) -> dict[int, dict]:
        """Every durable row by corpus index (finished shards, then partial ones; the last copy wins)."""
        rows: dict[int, dict] = {}
        if not self.shards.exists():
            return rows
        finals, partials = {}, {}
        for path in self.shards.iterdir():
            m = _SHARD.match(path.name)
            if m is None:
                if path.name.endswith(".tmp") and repair:
                    path.unlink(missing_ok=True)  # an interrupted finalisation; its partial is still there
                continue
            (partials if m.group(2) else finals)[int(m.group(1))] = path
        for shard, path in sorted(partials.items()):
            if shard in finals:  # killed between the rename and the unlink
                if repair:
                    path.unlink(missing_ok=True)
                continue
            for row in _read_rows(path, repair=repair):
                rows[int(row["index"])] = row
        for shard, path in sorted(finals.items()):
            for row in _read_rows(path, repair=False):
                rows[int(row["index"])] = row
        return rows

    def append_rows(self, shard: int, rows: list[dict]) -> None:
        self.shards.mkdir(parents=True, exist_ok=True)
        _append(self.shard_path(shard, partial=True), b"".join(_dumps(r) + b"\n" for r in rows))

    def finalize(self, shard: int, rows: list[dict]) -> None:
        """Write the whole shard sorted, fsync, rename it into place, then drop the partial file."""
        data = b"".join(_dumps(r) + b"\n" for r in sorted(rows, key=lambda r: r["index"]))
        _atomic_write(self.shard_path(shard, partial=False), data)
        self.shard_path(shard, partial=True).unlink(missing_ok=True)
        _fsync_dir(self.shards)

    def write_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _atomic_write(self.arrays / name, buf.getvalue())

    def log(self, record: dict) -> None:
        _append(self.log_path, _dumps(record) + b"\n")

    def log_records(self) -> list[dict]:
        """The computed log: ``{"event": "start", "invocation": n, ...}`` and ``{"event": "chunk", ...}``."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_bytes().split(b"\n"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def _sha(items) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(_dumps(item))
        digest.update(b"\n")
    return digest.hexdigest()


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, (tuple, set)) else str(v)))


def _normalizer_label(normalizer) -> str:
    from ..scoring.normalize import resolve_normalizer

    norm = resolve_normalizer(normalizer)
    describe = getattr(norm, "describe", None)
    return describe() if callable(describe) else repr(norm)


def build_manifest(corpus: Corpus, ref: ModelRef, *, task: str, shard_size: int, chunk_size: int, normalizer,
                   analyze_kw: dict, revision: str | None) -> dict:
    """What a run was asked to do; a restart compares its own with the stored one."""
    import datetime

    from ..provenance import package_versions

    source = corpus.source
    if source is not None and Path(source).exists():
        source = str(Path(source).resolve())
    return {
        "format": FORMAT, "task": task,
        "model": {**ref.to_json(), "revision": revision},
        "corpus": {"name": corpus.name, "source": source, "utterances": len(corpus),
                   "ids_sha256": _sha(corpus.ids()), "references_sha256": _sha([u.text for u in corpus]),
                   "speakers_sha256": _sha([u.speaker for u in corpus]), "skipped_rows": len(corpus.problems)},
        "options": {"shard_size": shard_size, "chunk_size": chunk_size,
                    "normalizer": normalizer if isinstance(normalizer, str) or normalizer is None else None,
                    "normalizer_description": _normalizer_label(normalizer),
                    "analyze": _jsonable(analyze_kw)},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "packages": package_versions(),
    }


def compare_manifests(old: dict, new: dict) -> list[str]:
    """Human-readable differences that matter to the results ('what: stored vs now')."""
    diffs = []
    if old.get("format") != FORMAT:
        diffs.append(f"format: {old.get('format')!r} (this workbench writes {FORMAT!r})")

    def cmp(label, a, b):
        if a != b:
            diffs.append(f"{label}: {a!r} in run.json vs {b!r} now")

    cmp("task", old.get("task"), new.get("task"))
    om, nm = old.get("model", {}), new.get("model", {})
    for key in ("name", "kind", "source", "location", "pinned_revision"):
        cmp(f"model {key}", om.get(key), nm.get(key))
    if om.get("revision") and nm.get("revision"):
        cmp("model revision (the weights changed)", om.get("revision"), nm.get("revision"))
    oc, nc = old.get("corpus", {}), new.get("corpus", {})
    cmp("corpus source", oc.get("source"), nc.get("source"))
    cmp("corpus utterances", oc.get("utterances"), nc.get("utterances"))
    if oc.get("utterances") == nc.get("utterances"):
        cmp("corpus ids (sha256)", oc.get("ids_sha256"), nc.get("ids_sha256"))
    cmp("corpus reference texts (sha256)", oc.get("references_sha256"), nc.get("references_sha256"))
    oo, no = old.get("options", {}), new.get("options", {})
    for key in ("shard_size", "chunk_size", "normalizer_description"):
        cmp(key, oo.get(key), no.get(key))
    oa = {k: v for k, v in (oo.get("analyze") or {}).items() if k not in NEUTRAL_OPTIONS}
    na = {k: v for k, v in (no.get("analyze") or {}).items() if k not in NEUTRAL_OPTIONS}
    for key in sorted(set(oa) | set(na)):
        cmp(f"analyze option {key}", oa.get(key, "(default)"), na.get(key, "(default)"))
    return diffs
