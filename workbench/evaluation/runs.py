"""Resumable corpus runs: every finished utterance is on disk, a restart recomputes none of them.

    res = run_corpus(corpus, "w2v2-tiny-ctc", "runs/tiny-eval")   # writes as it goes
    res.score.summary()                                           # pooled WER, from the shards
    # killed half-way?  Call it again with the same arguments: finished utterances are read back.
    res = run_corpus(corpus, "w2v2-tiny-ctc", "runs/tiny-eval", executor=client)   # Dask

The corpus is cut into fixed *chunks* of ``chunk_size`` consecutive utterances (one
:func:`workbench.asr.engine.analyze` call, one executor task) inside *shards* of ``shard_size``
utterances (one file).  Chunk boundaries depend only on corpus positions, so a resumed or
distributed run batches every utterance with the same neighbours as an uninterrupted local
run and gets identical results.  The run folder::

    run.json                          what was asked: task, model + revision, corpus source + id hash, options
    run.lock                          held (flock) by the run writing here; a second run is refused
    shards/shard-00000.jsonl          a finished shard: sorted rows, written to a temp file, fsynced, renamed
    shards/shard-00001.jsonl.partial  the shard being filled: append-only, one write + fsync per chunk
    arrays/u000000016-n16.npz         task="analyze": log-probs (and hidden states / codes) of one chunk
    computed.log                      one JSON line per invocation and per chunk computed (ids, forward calls)
    problems.jsonl                    manifest rows the corpus loader skipped (missing audio, bad JSON, ...)
    results.jsonl                     all rows in corpus order (rewritten at the end of each invocation)
    scores/                           the corpus tables of :func:`workbench.scoring.score_corpus` over the rows

A row is one JSON object per utterance: ``index``, ``id``, ``audio``, ``speaker``,
``reference``, ``transcript``, ``samples``, ``duration``, ``frames``, ``chunked``, ``error``,
``scores`` (per-utterance WER counts when a reference exists) and ``stamp`` (the audio's absolute
path, size and mtime, or an array's hash: a resumed run recomputes a row whose stamp or speaker
no longer matches its utterance).  A utterance that fails is
an error row, never a failed run; only model-level problems (model not available, wrong
capability) stop a run, and the rows written so far stay.

With ``executor`` (a ``distributed.Client`` or any ``concurrent.futures.Executor``) chunks run
as tasks of :func:`compute_chunk`; each worker process loads the model through its own
:func:`~workbench.models.registry.default_registry` from a :class:`ModelRef` (name + where the files
are), never from a pickled model.  A task that fails as a whole (a worker killed by the
out-of-memory killer) is retried utterance by utterance, and an utterance whose own task
fails becomes an error row.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import math
import os
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .run_folder import (
    ROW_FIELDS, SCORE_FIELDS, TASKS, ModelRef, RunFolder, RunMismatchError, _atomic_write, _dumps, _host,
    build_manifest, input_stamp, model_info, row_changes,
)
from ..data.corpus import Corpus, Problem, Utterance
from ..errors import CapabilityError, CorpusError, ModelNotAvailableError, UnknownModelError
from ..models.registry import ModelRegistry, resolve

#: problems of the model or the request, not of one utterance: they stop the run
FATAL = (ModelNotAvailableError, UnknownModelError, CapabilityError)


# --------------------------------------------------------------------------- model reference


# --------------------------------------------------------------------------- one chunk (runs on workers)
@dataclass
class ChunkJob:
    """Utterances at consecutive corpus positions, analysed in one engine call."""

    chunk: int
    indices: list[int]
    utterances: list[Utterance] = field(repr=False)
    model: ModelRef
    task: str
    analyze_kw: dict
    normalizer: Any = None

    def split(self) -> list["ChunkJob"]:
        return [replace(self, indices=[i], utterances=[u]) for i, u in zip(self.indices, self.utterances)]

    @property
    def arrays_name(self) -> str:
        return f"u{self.indices[0]:09d}-n{len(self.indices)}.npz"


@dataclass
class ChunkResult:
    """What one chunk gave: its rows (corpus order), arrays (task "analyze") and the model's facts."""

    chunk: int
    rows: list[dict]
    model_info: dict | None
    arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)
    forward_calls: int = 0
    worker: str = ""


def _clean(value):
    """JSON-safe scalars: NaN/NA -> None, numpy/pandas numbers -> int/float/bool."""
    if value is None:
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _score_rows(rows: list[dict], normalizer) -> None:
    """Fill each row's ``scores`` with its per-utterance WER figures (rows with a reference only)."""
    from ..scoring.wer import score_corpus

    todo = [r for r in rows if r["error"] is None and r["reference"] is not None and r["transcript"] is not None]
    if not todo:
        return
    sc = score_corpus({r["id"]: r["reference"] for r in todo}, {r["id"]: r["transcript"] for r in todo},
                      normalizer=normalizer, n_boot=0)
    per = sc.per_utterance.set_index("id")
    for r in todo:
        rec = per.loc[r["id"]]
        r["scores"] = {k: _clean(rec[k]) for k in SCORE_FIELDS}


def compute_chunk(job: ChunkJob, registry: ModelRegistry | None = None, *, keep_in_memory: bool = True) -> ChunkResult:
    """Analyse one chunk and turn it into rows (and arrays); the task an executor runs.

    ``registry=None`` uses the process's default registry (on a worker: its own), into which
    ``job.model`` is registered when needed.  ``keep_in_memory=False`` empties the engine's
    in-memory store of that registry afterwards (workers keep no analyses between tasks).
    """
    from ..asr import engine

    reg = resolve(registry)
    name = job.model.ensure(reg)
    store = engine.store_for(reg)
    before = store.forward_calls
    from ..asr.decoding import decode_result, split_options

    decoding, kw = split_options(dict(job.analyze_kw))  # decoder=/lm=/... travel with the engine options
    result = engine.analyze(Corpus(list(job.utterances), name=f"chunk-{job.chunk}"), name, registry=reg,
                            progress=False, **kw)
    texts = decode_result(result, registry=reg, options=decoding) if decoding.beam else None
    bundle = reg.get(name, device=kw.get("device", "auto"), dtype=kw.get("dtype", "float32"))
    info = model_info(bundle)
    by_id = {a.id: a for a in result}
    rows, arrays = [], {} if job.task == "analyze" else None
    for index, utt in zip(job.indices, job.utterances):
        a = by_id[utt.id]
        ok = a.error is None
        rows.append({
            "index": index, "id": a.id, "audio": a.audio_path, "speaker": a.speaker, "reference": a.reference,
            "transcript": (a.transcript if texts is None else texts.get(a.id)) if ok and a.log_probs is not None
            else None,
            "samples": int(a.num_samples) if a.num_samples else None,
            "duration": float(a.duration) if a.num_samples else None,
            "frames": int(a.num_frames) if ok else None, "chunked": bool(a.chunked), "error": a.error,
            "arrays": job.arrays_name if (arrays is not None and ok) else None, "scores": None,
        })
        if arrays is not None and ok:
            for key, value in engine._to_arrays(a).items():
                arrays[f"{index}/{key}"] = value
    if info["kind"] == "ctc":
        _score_rows(rows, job.normalizer)
    forward = store.forward_calls - before
    if not keep_in_memory:
        store.clear()
    return ChunkResult(chunk=job.chunk, rows=rows, model_info=info, arrays=arrays, forward_calls=forward,
                       worker=_host())


def _error_rows(job: ChunkJob, exc: BaseException) -> ChunkResult:
    """Error rows for a task that failed as a whole (the worker died, an unexpected exception)."""
    name = exc.__class__.__name__
    hint = " (the worker running it died — out of memory?)" if "Killed" in name else ""
    rows = [{"index": i, "id": u.id, "audio": u.audio, "speaker": u.speaker, "reference": u.text,
             "transcript": None, "samples": None, "duration": None, "frames": None, "chunked": False,
             "error": f"{name}: {exc}{hint}", "arrays": None, "scores": None}
            for i, u in zip(job.indices, job.utterances)]
    return ChunkResult(chunk=job.chunk, rows=rows, model_info=None)


# --------------------------------------------------------------------------- the run folder


# --------------------------------------------------------------------------- manifest


# --------------------------------------------------------------------------- result
@dataclass
class RunResult:
    """A run folder's rows in corpus order, the corpus scores, and what this call computed."""

    out_dir: Path
    manifest: dict
    rows: list[dict] = field(repr=False)
    computed: int = 0
    reused: int = 0
    problems: list[Problem] = field(default_factory=list)
    changed_rows: int = 0  # rows read back from an earlier run but recomputed: their input changed
    changed: dict[str, int] = field(default_factory=dict)  # why (reason -> rows; a row may have two reasons)
    score: Any = None  # scoring.CorpusScore when the model is CTC and references exist

    @property
    def complete(self) -> bool:
        return len(self.rows) == int(self.manifest["corpus"]["utterances"])

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.rows if r["error"] is not None]

    def transcripts(self) -> dict[str, str]:
        return {r["id"]: r["transcript"] for r in self.rows if r["transcript"] is not None}

    def to_frame(self):
        """One row per utterance; the per-utterance scores as columns."""
        import pandas as pd

        flat = []
        for r in self.rows:
            row = {k: v for k, v in r.items() if k not in ("scores", "stamp")}
            row.update({k: (r["scores"] or {}).get(k) for k in SCORE_FIELDS})
            flat.append(row)
        cols = [c for c in ROW_FIELDS if c not in ("scores", "stamp")] + list(SCORE_FIELDS)
        return pd.DataFrame(flat, columns=cols)

    def analyses(self):
        """The stored analyses (task "analyze") as an :class:`~workbench.asr.engine.AnalysisResult`."""
        from ..asr.engine import AnalysisResult, UtteranceAnalysis, _from_arrays

        if self.manifest.get("task") != "analyze":
            raise CapabilityError(f"{self.out_dir} is an 'evaluate' run; arrays are kept by task='analyze' runs")
        info = self.manifest.get("model_info") or {}
        folder = RunFolder(self.out_dir)
        files: dict[str, dict] = {}
        items = []
        for r in self.rows:
            base = UtteranceAnalysis(
                id=r["id"], model=self.manifest["model"]["name"], revision=info.get("revision", ""),
                num_samples=r["samples"] or 0, sample_rate=info.get("sample_rate", 16000),
                frame_stride=info.get("frame_stride", 320), reference=r["reference"], speaker=r["speaker"],
                vocab=list(info.get("vocab", [])), blank_id=info.get("blank_id", 0),
                word_delimiter=info.get("word_delimiter", "|"), error=r["error"], audio_path=r["audio"])
            if r.get("arrays"):
                if r["arrays"] not in files:
                    with np.load(folder.arrays / r["arrays"], allow_pickle=False) as data:
                        files[r["arrays"]] = {k: data[k] for k in data.files}
                prefix = f"{r['index']}/"
                arrays = {k[len(prefix):]: v for k, v in files[r["arrays"]].items() if k.startswith(prefix)}
                base = _from_arrays(arrays, base)
            items.append(base)
        return AnalysisResult(items, model=self.manifest["model"]["name"])

    def summary(self) -> str:
        m = self.manifest
        done = f"{len(self.rows)}/{m['corpus']['utterances']} utterances"
        head = (f"run {self.out_dir}: {m['task']} {m['model']['name']} on {m['corpus']['name']}: {done} "
                f"({self.computed} computed now, {self.reused} read back), {len(self.errors)} error rows")
        if self.changed_rows:
            why = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.changed.items()))
            head += (f"; {self.changed_rows} of the computed rows were recomputed because their input changed "
                     f"since they were written ({why})")
        if self.problems:
            head += f", {len(self.problems)} manifest rows skipped (problems.jsonl)"
        return head + ("" if self.score is None else "\n" + self.score.summary())

    def __repr__(self) -> str:
        return f"RunResult({self.summary()})"

    def _repr_html_(self) -> str:
        import html

        body = f"<pre>{html.escape(self.summary())}</pre>"
        if self.score is not None:
            body += self.score._repr_html_()
        return body

    def plot(self, ax=None):
        """Histogram of per-utterance WER (needs scores)."""
        if self.score is None:
            raise CapabilityError("this run has no scores (no references, or not a CTC model)")
        return self.score.plot(ax=ax)

    def save(self, directory: str | os.PathLike | None = None) -> Path:
        """Write ``results.jsonl`` (all rows, corpus order) and the score tables (default: the run folder)."""
        out = Path(directory) if directory is not None else self.out_dir
        _atomic_write(out / "results.jsonl", b"".join(_dumps(r) + b"\n" for r in self.rows))
        if self.score is not None:
            self.score.save(out / "scores")
        return out

    @classmethod
    def load(cls, out_dir: str | os.PathLike, *, normalizer=None, n_boot: int = 1000) -> "RunResult":
        """A run folder as it is now (finished or not), without computing anything."""
        folder = RunFolder(out_dir)
        manifest = folder.read_manifest()
        if manifest is None:
            raise RunMismatchError(f"{out_dir}: no run.json; this is not a run folder")
        rows = [r for _, r in sorted(folder.load_rows(repair=False).items())]
        norm = normalizer if normalizer is not None else manifest["options"].get("normalizer")
        return cls(Path(out_dir), manifest, rows, reused=len(rows),
                   score=_score_run(rows, manifest, norm, n_boot=n_boot))


def _score_run(rows: list[dict], manifest: dict, normalizer, *, n_boot: int):
    """The corpus table over all rows (pooled WER etc.), or None without references / CTC."""
    if manifest["model"].get("kind") != "ctc" or not any(r["reference"] is not None for r in rows):
        return None
    from ..scoring.wer import score_corpus

    return score_corpus({r["id"]: r["reference"] for r in rows},
                        {r["id"]: r["transcript"] for r in rows if r["transcript"] is not None},
                        errors={r["id"]: r["error"] for r in rows if r["error"] is not None},
                        speakers={r["id"]: r["speaker"] for r in rows}, normalizer=normalizer,
                        name=manifest["model"]["name"], n_boot=n_boot,
                        provenance={"run": str(manifest.get("created")), "model": manifest["model"],
                                    "corpus": manifest["corpus"], "options": manifest["options"]})


# --------------------------------------------------------------------------- executors
def _as_executor(executor) -> tuple[cf.Executor | None, int]:
    """A concurrent.futures executor and how many tasks to keep in flight."""
    if executor is None:
        return None, 0
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is an optional extra
        Client = ()
    if Client and isinstance(executor, Client):
        workers = len(executor.scheduler_info().get("workers", {})) or 1
        return executor.get_executor(pure=False), max(4, 2 * workers)
    if isinstance(executor, cf.Executor):
        workers = getattr(executor, "_max_workers", None) or 4
        return executor, max(4, 2 * int(workers))
    raise TypeError(f"executor={executor!r}: give a distributed.Client or a concurrent.futures.Executor")


@contextlib.contextmanager
def dask_client(address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1) -> Iterator:
    """A ``distributed.Client``: to the scheduler at ``address``, or to a loopback ``LocalCluster``
    of ``n_workers`` processes (started from importable code; workers inherit this environment)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ModelNotAvailableError("Dask runs need the dist extra: pip install 'workbench[dist]'") from exc
    if address:
        with Client(address) as client:
            yield client
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


# --------------------------------------------------------------------------- the run
def _check_analyze_kw(analyze_kw: dict) -> None:
    from ..asr.decoding import OPTION_NAMES
    from ..asr.engine import analyze

    params = inspect.signature(analyze).parameters
    allowed = {k for k, p in params.items() if p.kind == p.KEYWORD_ONLY} - {"registry", "progress"}
    allowed |= set(OPTION_NAMES)  # decoding options (workbench.asr.decoding), applied after analyze
    bad = sorted(set(analyze_kw) - allowed)
    if bad:
        raise TypeError(f"run_corpus got unknown option(s) {', '.join(bad)}; engine.analyze takes "
                        f"{', '.join(sorted(allowed))}")


def _plan(n: int, shard_size: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(shard, start, stop) of every chunk; chunks never cross a shard boundary."""
    out = []
    for shard, s0 in enumerate(range(0, n, shard_size)):
        s1 = min(s0 + shard_size, n)
        out.extend((shard, c0, min(c0 + chunk_size, s1)) for c0 in range(s0, s1, chunk_size))
    return out


def run_corpus(corpus, model: str, out_dir: str | os.PathLike, *, task: str = "evaluate",
               registry: ModelRegistry | None = None, executor=None, shard_size: int = 1000, chunk_size: int = 16,
               normalizer=None, overwrite: bool = False, n_boot: int = 1000,
               on_progress: Callable[[int, int], None] | None = None, progress: bool | None = None,
               **analyze_kw) -> RunResult:
    """Run ``model`` over ``corpus`` into the run folder ``out_dir``, resuming what is already there.

    ``task``: "evaluate" (transcripts + per-utterance scores; CTC models) or "analyze" (also
    keeps the log-probs and any ``layers``/``codes`` in ``arrays/``).  ``executor``: a
    ``distributed.Client`` or ``concurrent.futures.Executor`` to run chunks on (default: here,
    with ``registry``).  ``shard_size``/``chunk_size``: utterances per shard file / per engine
    call.  ``overwrite``: delete a previous run in ``out_dir`` instead of refusing when the
    arguments differ.  ``on_progress(done, total)`` is called after every chunk.  Other
    keywords go to :func:`workbench.asr.engine.analyze` (``batch_size``, ``layers``, ``device``...;
    ``cache`` defaults to False here: the run folder is the cache).  Rows whose input changed
    since they were written (audio path, size or modification time, an array's content, the
    speaker) are recomputed and counted in ``RunResult.changed``.  One run at a time holds the
    folder (``run.lock``); a second is refused with :class:`RunLockedError`.
    """
    from ..asr import engine

    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of {TASKS}")
    if int(shard_size) < 1 or int(chunk_size) < 1:
        raise ValueError(f"shard_size={shard_size} and chunk_size={chunk_size} must be at least 1")
    _check_analyze_kw(analyze_kw)
    analyze_kw.setdefault("cache", False)
    corpus = engine.as_corpus(corpus)
    if len(corpus) == 0:
        why = "; ".join(f"{p.row}: {p.reason}" for p in corpus.problems[:5])
        raise CorpusError(f"corpus {corpus.name!r} has no usable utterances" + (f" ({why})" if why else "")
                          + "; check the manifest's audio paths")
    reg = resolve(registry)
    ref = ModelRef.from_registry(reg, model)
    if task == "evaluate" and ref.kind != "ctc":
        raise CapabilityError(f"{ref.name} is a {ref.kind} model without a CTC head; evaluate needs a CTC model "
                              "(use task='analyze' for hidden states and codes)")
    ex, window = _as_executor(executor)
    info = None
    if ex is None:  # the model loads here anyway: know its revision before anything is written
        info = model_info(reg.get(ref.name, device=analyze_kw.get("device", "auto"),
                                  dtype=analyze_kw.get("dtype", "float32")))
    folder = RunFolder(out_dir)
    with folder.lock():
        return _run_locked(folder, corpus, ref, reg, info, ex, window, executor, task=task, shard_size=shard_size,
                           chunk_size=chunk_size, normalizer=normalizer, overwrite=overwrite, n_boot=n_boot,
                           on_progress=on_progress, progress=progress, analyze_kw=analyze_kw)


def _run_locked(folder: RunFolder, corpus: Corpus, ref: ModelRef, reg: ModelRegistry, info: dict | None, ex,
                window: int, executor, *, task: str, shard_size: int, chunk_size: int, normalizer, overwrite: bool,
                n_boot: int, on_progress, progress, analyze_kw: dict) -> RunResult:
    """The body of :func:`run_corpus`, run while this process holds the folder's lock."""
    from tqdm.auto import tqdm

    from .. import settings

    manifest = folder.prepare(build_manifest(corpus, ref, task=task, shard_size=int(shard_size),
                                             chunk_size=int(chunk_size), normalizer=normalizer,
                                             analyze_kw=analyze_kw,
                                             revision=info["revision"] if info else None),
                              overwrite=overwrite)
    if corpus.problems:
        _atomic_write(folder.root / "problems.jsonl", b"".join(_dumps(p.__dict__) + b"\n" for p in corpus.problems))

    def accept_info(new: dict | None) -> None:
        if new is None:
            return
        stored = manifest["model"].get("revision")
        if stored and new["revision"] != stored:
            raise RunMismatchError(
                f"{folder.root}: model {ref.name} now has revision {new['revision']} but the run was started with "
                f"{stored} (its weights changed, or a worker has other files); use another out folder or --overwrite")
        if not stored or "model_info" not in manifest:
            manifest["model"]["revision"] = new["revision"]
            manifest["model_info"] = new
            folder.write_manifest(manifest)

    accept_info(info)
    done = folder.load_rows(repair=True)
    ids = corpus.ids()
    for index, row in done.items():
        if index >= len(ids) or ids[index] != row.get("id"):
            raise RunMismatchError(f"{folder.root}: row {index} is {row.get('id')!r} but the corpus has "
                                   f"{ids[index] if index < len(ids) else 'nothing'!r} there; use another out folder")
    # rows whose input changed since they were written (audio replaced, speaker edited) are recomputed
    stamps = [input_stamp(u) for u in corpus]
    changed: dict[str, int] = {}
    stale: set[int] = set()
    for index, row in done.items():
        why = row_changes(row, corpus[index], stamps[index])
        for reason in why:
            changed[reason] = changed.get(reason, 0) + 1
        if why:
            stale.add(index)
    for shard in sorted({i // int(shard_size) for i in stale}):
        keep = [r for i, r in done.items() if i // int(shard_size) == shard and i not in stale]
        folder.reopen(shard, keep)
    for index in stale:
        del done[index]
    plan = _plan(len(corpus), int(shard_size), int(chunk_size))
    shard_rows: dict[int, dict[int, dict]] = {}
    for index, row in done.items():
        shard_rows.setdefault(index // int(shard_size), {})[index] = row
    shard_len = {s: min((s + 1) * int(shard_size), len(corpus)) - s * int(shard_size)
                 for s in {p[0] for p in plan}}
    for shard, rows in shard_rows.items():  # a partial shard that is in fact complete (killed before renaming)
        if len(rows) == shard_len[shard] and folder.shard_path(shard, partial=True).exists():
            folder.finalize(shard, list(rows.values()))

    jobs: deque[ChunkJob] = deque()
    for chunk_id, (shard, c0, c1) in enumerate(plan):
        missing = [i for i in range(c0, c1) if i not in done]
        if missing:
            jobs.append(ChunkJob(chunk=chunk_id, indices=missing, utterances=[corpus[i] for i in missing],
                                 model=ref, task=task, analyze_kw=dict(analyze_kw), normalizer=normalizer))
    invocation = 1 + sum(1 for r in folder.log_records() if r.get("event") == "start")
    folder.log({"event": "start", "invocation": invocation, "pending": sum(len(j.indices) for j in jobs),
                "done": len(done), "changed": changed, "lock": _host(),
                "executor": type(executor).__name__ if executor is not None else None})

    total = len(corpus)
    reused = len(done)
    computed = 0
    show = settings.progress_enabled() if progress is None else progress
    bar = tqdm(total=total, initial=reused, desc=f"run {ref.name}", unit="utt", disable=not show or not jobs)
    chunk_shard = {i: p[0] for i, p in enumerate(plan)}

    def commit(job: ChunkJob, res: ChunkResult) -> None:
        nonlocal computed
        accept_info(res.model_info)
        for r in res.rows:  # what the row was computed from, checked when the run is resumed
            r["stamp"] = stamps[r["index"]]
        if res.arrays:
            folder.write_arrays(job.arrays_name, res.arrays)  # arrays first: a row implies its arrays exist
        shard = chunk_shard[job.chunk]
        folder.append_rows(shard, res.rows)
        folder.log({"event": "chunk", "invocation": invocation, "chunk": job.chunk,
                    "ids": [r["id"] for r in res.rows], "forward_calls": res.forward_calls, "worker": res.worker})
        rows = shard_rows.setdefault(shard, {})
        for r in res.rows:
            rows[r["index"]] = r
            done[r["index"]] = r
        if len(rows) == shard_len[shard]:
            folder.finalize(shard, list(rows.values()))
        computed += len(res.rows)
        bar.update(len(res.rows))
        if on_progress is not None:
            on_progress(len(done), total)

    try:
        if ex is None:
            while jobs:
                job = jobs.popleft()
                try:
                    res = compute_chunk(job, reg)
                except FATAL:
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad chunk must not lose the run
                    if len(job.indices) > 1:
                        jobs.extendleft(reversed(job.split()))
                        continue
                    res = _error_rows(job, exc)
                commit(job, res)
        else:
            inflight: dict[cf.Future, ChunkJob] = {}
            try:
                while jobs or inflight:
                    while jobs and len(inflight) < window:
                        job = jobs.popleft()
                        inflight[ex.submit(compute_chunk, job, None, keep_in_memory=False)] = job
                    finished, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        job = inflight.pop(fut)
                        try:
                            res = fut.result()
                        except FATAL:
                            raise
                        except Exception as exc:  # noqa: BLE001 - a task failed as a whole: retry one by one
                            if len(job.indices) > 1:
                                jobs.extendleft(reversed(job.split()))
                                continue
                            res = _error_rows(job, exc)
                        commit(job, res)
            finally:
                for fut in inflight:
                    fut.cancel()
    finally:
        bar.close()

    rows = [done[i] for i in range(total)]
    result = RunResult(folder.root, manifest, rows, computed=computed, reused=reused, problems=list(corpus.problems),
                       changed_rows=len(stale), changed=changed,
                       score=_score_run(rows, manifest, normalizer, n_boot=n_boot))
    result.save()
    return result
