"""Hidden-state embeddings: labelled frame tables of any layer and their 2-D maps.

``frame_table(analyses, layer)`` stacks the cached hidden states of one layer (0 = the
input to the first transformer layer, after feature projection and positional conv; N =
the last layer) with per-frame labels: the aligned char, blank/non-blank, word, speaker,
utterance, time, and — when known — whether the word is an error of the WER alignment.
``project(table)`` maps it to 2-D with umap-learn (PCA pre-reduction, seeded subsampling)
or PCA, cached on disk keyed by the data hash and every option.  Nothing here runs a model.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import settings
from ..data.cache import DiskCache, hash_array, make_key
from ..errors import CapabilityError, WorkbenchError
from .framelabels import BLANK, FrameLabels, labels_by_id, paired_labels

COLOR_BY = ("char", "blank", "word", "speaker", "utterance", "error")
PROJECTION_VERSION = "1"


@dataclass
class FrameTable:
    """Vectors (one per frame, or per utterance when pooled) with a label row each."""

    vectors: np.ndarray  # [N, H] float32
    labels: "object"  # pandas DataFrame, one row per vector
    layer: int | None
    model: str = ""
    revision: str = ""
    level: str = "frame"  # "frame" | "utterance"
    label_source: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def to_frame(self):
        return self.labels.copy()

    def subset(self, mask) -> "FrameTable":
        """Rows where ``mask`` (boolean array or Series) is true."""
        mask = np.asarray(mask, dtype=bool)
        return FrameTable(self.vectors[mask], self.labels[mask].reset_index(drop=True), self.layer, self.model,
                          self.revision, self.level, self.label_source)

    def __repr__(self) -> str:
        return (f"FrameTable({self.model!r}, layer={self.layer}, {len(self)} {self.level}s x "
                f"{self.vectors.shape[1] if self.vectors.ndim == 2 else 0} dims)")


# --------------------------------------------------------------------------- WER error words
def error_words(ref_words: list[str], hyp_words: list[str], *, side: str = "reference") -> set[int]:
    """Indices of the words the WER word alignment (jiwer) marks as errors.

    ``side="reference"``: substituted and deleted reference words; ``"hypothesis"``:
    substituted and inserted words of the transcript.
    """
    from ..asr.alignment_errors import word_ops

    if side not in ("reference", "hypothesis"):
        raise ValueError(f"side={side!r} must be 'reference' or 'hypothesis'")
    wrong: set[int] = set()
    for op in word_ops(list(ref_words), list(hyp_words)):
        if op.op == "equal":
            continue
        index = op.ref_index if side == "reference" else op.hyp_index
        if index is not None:
            wrong.add(int(index))
    return wrong


def error_map(ctc_analyses, labels: Mapping[str, FrameLabels] | None = None) -> dict[str, set[int]]:
    """Error word indices per utterance, indexing the same words as the frame labels.

    Forced labels index the (normalised) reference words: substitutions and deletions are
    errors.  Greedy labels index the words the model emitted: substitutions and insertions.
    Utterances without a reference are left out (their error status stays unknown).
    """
    from ..scoring.normalize import default_normalizer

    labels = dict(labels) if labels is not None else labels_by_id(ctc_analyses)
    norm = default_normalizer()
    out: dict[str, set[int]] = {}
    for a in ctc_analyses:
        lab = labels.get(a.id) if a.ok else None
        if lab is None or a.log_probs is None or not a.reference:
            continue
        if lab.source == "forced":
            out[a.id] = error_words(lab.words, a.transcript.split(), side="reference")
        else:
            out[a.id] = error_words(norm(a.reference).split(), lab.words, side="hypothesis")
    return out


def _frame_errors(a, lab: FrameLabels | None, word_index: np.ndarray, errors: Mapping | None) -> list:
    """Per frame: True inside an error word, False inside a correct word, None when unknown."""
    n = len(word_index)
    wrong = errors.get(a.id) if errors is not None and lab is not None else None
    if wrong is None:
        return [None] * n
    out = np.isin(word_index, np.array(sorted(wrong), dtype=np.int64)).astype(object)
    out[word_index < 0] = None
    return list(out)


def resolve_labels(analyses, labels, prefer: str = "forced") -> dict[str, FrameLabels]:
    """Frame labels by utterance id from None (the analyses' own CTC emissions), a CTC
    AnalysisResult, or a ready mapping id -> FrameLabels."""
    if labels is None:
        items = [a for a in analyses if a.ok]
        if items and all(a.log_probs is not None for a in items):
            return labels_by_id(items, prefer=prefer)
        return {}
    if isinstance(labels, Mapping):
        return dict(labels)
    return labels_by_id(labels, prefer=prefer)


def frame_table(analyses, layer: int, *, labels=None, errors=None, prefer: str = "forced") -> FrameTable:
    """Hidden states of ``layer`` for every frame, labelled.

    ``labels``: where char/word labels come from — None (the analyses themselves when they
    are a CTC model's), the paired CTC model's AnalysisResult, or a mapping id ->
    :class:`FrameLabels`.  ``errors``: None, a mapping id -> set of error word indices (of
    the words the labels index), or ``"auto"`` (:func:`error_map`: jiwer on transcript vs reference; needs
    the labels to come from a CTC model's analysis of the same utterances).
    """
    import pandas as pd

    by_id = resolve_labels(analyses, labels, prefer)
    if isinstance(errors, str):
        if errors != "auto":
            raise ValueError(f"errors={errors!r} must be None, 'auto' or a mapping id -> set of word indices")
        ctc = analyses if labels is None else labels
        errors = error_map(ctc, by_id) if not isinstance(ctc, Mapping) else None
    vectors, frames, sources = [], [], {}
    model = revision = ""
    for a in analyses:
        if not a.ok:
            continue
        h = a.layer(layer)
        model, revision = a.model, a.revision
        n = len(h)
        lab = by_id.get(a.id)
        if lab is not None:
            n, lab = paired_labels(a, lab)
            n = min(n, len(h))
            lab = lab.trimmed(n)
            chars, word_index, word_text = lab.chars, lab.word_index, lab.word_labels
            sources[lab.source] = sources.get(lab.source, 0) + 1
        else:
            chars = np.full(n, BLANK, dtype=object)
            word_index = np.full(n, -1, dtype=np.int64)
            word_text = np.full(n, "", dtype=object)
            sources["none"] = sources.get("none", 0) + 1
        err = _frame_errors(a, lab, word_index, errors)
        vectors.append(np.asarray(h[:n], dtype=np.float32))
        frames.append(pd.DataFrame({
            "utterance": a.id, "speaker": a.speaker or "unknown", "frame": np.arange(n),
            "time": np.arange(n) * a.frame_seconds, "char": chars, "blank": chars == BLANK,
            "word": word_text, "word_index": word_index, "error": pd.array(err, dtype="boolean")}))
    if not vectors:
        raise WorkbenchError("no successful analyses to tabulate; every utterance failed (see result.errors)")
    return FrameTable(np.concatenate(vectors), pd.concat(frames, ignore_index=True), layer, model, revision,
                      "frame", sources)


def utterance_table(analyses, layer: int) -> FrameTable:
    """One vector per utterance: the mean over its frames of ``layer``'s hidden states."""
    import pandas as pd

    vectors, rows = [], []
    model = revision = ""
    for a in analyses:
        if not a.ok:
            continue
        h = a.layer(layer)
        model, revision = a.model, a.revision
        vectors.append(np.asarray(h, dtype=np.float64).mean(axis=0).astype(np.float32))
        rows.append({"utterance": a.id, "speaker": a.speaker or "unknown", "frames": len(h),
                     "duration": a.duration, "reference": a.reference})
    if not vectors:
        raise WorkbenchError("no successful analyses to pool; every utterance failed (see result.errors)")
    return FrameTable(np.stack(vectors), pd.DataFrame(rows), layer, model, revision, "utterance")


# --------------------------------------------------------------------------- projection
@dataclass
class Embedding:
    """2-D (or k-D) coordinates of the rows ``index`` of a table, with their labels."""

    coords: np.ndarray  # [n, k] float32
    index: np.ndarray  # [n] rows of the source table
    labels: object | None  # DataFrame of those rows, or None for a bare array
    method: str
    options: dict
    layer: int | None = None
    model: str = ""
    revision: str = ""
    cached: bool = False
    key: str = ""
    note: str | None = None

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    def to_frame(self):
        """Labels plus ``x``, ``y`` (and ``z``...) columns, one row per projected point."""
        import pandas as pd

        df = (self.labels.reset_index(drop=True).copy() if self.labels is not None
              else pd.DataFrame({"row": self.index}))
        for i, name in enumerate("xyzw"[: self.coords.shape[1]]):
            df[name] = self.coords[:, i]
        return df

    def mask(self, *, utterance: str | None = None, frames: tuple[int, int] | None = None) -> np.ndarray:
        """Boolean mask of the points of ``utterance`` (optionally within ``frames`` [start, end))."""
        if self.labels is None or utterance is None:
            return np.zeros(len(self), dtype=bool)
        m = (self.labels["utterance"] == utterance).to_numpy()
        if frames is not None and "frame" in self.labels:
            f = self.labels["frame"].to_numpy()
            m = m & (f >= frames[0]) & (f < frames[1])
        return m

    def points_in(self, x_range: tuple[float, float], y_range: tuple[float, float]):
        """The labelled points inside a rectangle of the map."""
        df = self.to_frame()
        inside = df["x"].between(*x_range) & df["y"].between(*y_range)
        return df[inside].reset_index(drop=True)

    def plot(self, ax=None, *, color_by: str = "char", highlight=None, keep=None, max_categories: int = 20):
        """Scatter coloured by a label column; ``highlight`` (mask) drawn on top, ``keep`` filters."""
        from ..plots.representations import plot_embedding

        return plot_embedding(self, color_by=color_by, highlight=highlight, keep=keep,
                              max_categories=max_categories, ax=ax)

    def save(self, path: str | Path) -> Path:
        """CSV of :meth:`to_frame` plus a JSON sidecar with the options and provenance."""
        from .codebook import provenance

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

        write_csv(self.to_frame(), path)
        meta = {"provenance": provenance(self.model, self.revision, layer=self.layer), "method": self.method,
                "options": self.options, "points": len(self), "note": self.note}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str))
        return path

    def __repr__(self) -> str:
        return (f"Embedding({self.method}, {len(self)} points, layer={self.layer}, model={self.model!r}, "
                f"cached={self.cached})")


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for pkg in ("umap-learn", "scikit-learn", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _pca(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    k = min(k, x.shape[0], x.shape[1])
    return PCA(n_components=k, random_state=seed).fit_transform(x).astype(np.float32)


_UMAP_CACHED: set[str] = set()  # umap modules whose numba kernels already cache to disk


def import_umap():
    """umap-learn, with its numba kernels compiled once per machine instead of once per process.

    umap-learn declares most of its ~130 numba kernels without ``cache=True``, so every fresh
    process spent most of its first projection compiling them (the demo's UMAP step took
    116 s on a 2-core CPU, nearly all of it JIT).  This turns numba's on-disk cache on for
    every kernel of the ``umap`` package before its first compilation; the cache lives in
    ``$WORKBENCH_CACHE/numba`` unless ``NUMBA_CACHE_DIR`` is set.  The results are those of
    the same compiled code (numba reloads the machine code it compiled before).
    """
    import os
    import sys
    import warnings

    import numba
    from numba.core.dispatcher import Dispatcher

    if not os.environ.get("NUMBA_CACHE_DIR") and not numba.config.CACHE_DIR:
        numba.config.CACHE_DIR = str(settings.cache_dir() / "numba")
    import umap

    for name, module in list(sys.modules.items()):
        if (name != "umap" and not name.startswith("umap.")) or name in _UMAP_CACHED or module is None:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        obj.enable_caching()
                    except Exception:  # a kernel numba cannot cache (e.g. defined in a closure): compiled as before
                        pass
        _UMAP_CACHED.add(name)
    return umap


def _compute(x: np.ndarray, *, method: str, n_components: int, pca_dims: int | None, seed: int,
             n_neighbors: int, min_dist: float, step=lambda stage: None) -> tuple[np.ndarray, str, str | None]:
    n = x.shape[0]
    if n < n_components + 1:
        raise WorkbenchError(f"{n} points cannot be projected to {n_components} dimensions; give more frames")
    step(f"PCA to {pca_dims} dims" if pca_dims and x.shape[1] > pca_dims else "no PCA pre-reduction")
    reduced = _pca(x, pca_dims, seed) if pca_dims and x.shape[1] > pca_dims else x
    if method == "pca":
        return _pca(reduced, n_components, seed), "pca", None
    step("import umap-learn (numba kernels from the disk cache)")
    try:
        umap = import_umap()
    except ImportError:
        return _pca(reduced, n_components, seed), "pca", "umap-learn is not installed (pip install 'workbench[embed]')"
    if n <= n_components + 2:
        return _pca(reduced, n_components, seed), "pca", f"{n} points are too few for UMAP"
    import warnings

    step(f"UMAP of {n} points")
    reducer = umap.UMAP(n_components=n_components, n_neighbors=min(n_neighbors, n - 1), min_dist=min_dist,
                        random_state=seed, init="spectral" if n > 4 * n_components + 10 else "random")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*random_state.*")
        coords = reducer.fit_transform(reduced)
    return np.asarray(coords, dtype=np.float32), "umap", None


def projection_key(x: np.ndarray, **options) -> str:
    """The disk-cache key of a projection: data hash, every option, library versions."""
    return make_key(kind="projection", version=PROJECTION_VERSION, data=hash_array(np.asarray(x, dtype=np.float32)),
                    versions=_versions(), **options)


def project(data, *, method: str = "umap", n_components: int = 2, pca_dims: int | None = 50,
            subsample: int | None = 10_000, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1,
            cache: bool = True, progress: bool | None = None) -> Embedding:
    """Project a :class:`FrameTable` (or an [N, H] array) to ``n_components`` dimensions.

    UMAP runs on the first ``pca_dims`` principal components (seeded; with a seed umap-learn
    runs single-threaded, which is what makes it reproducible); ``method="pca"`` is the fast
    fallback, also used when umap-learn is absent.  More than ``subsample`` rows are
    subsampled with the seed (10,000 by default: a map of that many frames reads the same as
    one of 50,000 and takes a fifth of the time).  Results are cached on disk, keyed by the
    data hash and every option, so a second call with the same input costs a hash and a file
    read.  umap-learn's numba kernels are cached on disk too (:func:`import_umap`), so only
    the first projection on a machine compiles them.  ``progress``: a tqdm bar naming each
    stage (default: on unless ``WORKBENCH_PROGRESS=0``).
    """
    if method not in ("umap", "pca"):
        raise ValueError(f"method={method!r} must be 'umap' or 'pca'")
    table = data if isinstance(data, FrameTable) else None
    x = np.asarray(table.vectors if table is not None else data, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise WorkbenchError(f"project needs a non-empty [N, H] array; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise WorkbenchError("the vectors contain NaN or inf; check the analysis (fp16 overflow?) before projecting")
    n = x.shape[0]
    index = np.arange(n)
    if subsample and n > subsample:
        index = np.sort(np.random.default_rng(seed).choice(n, size=subsample, replace=False))
    options = {"method": method, "n_components": n_components, "pca_dims": pca_dims, "subsample": subsample,
               "seed": seed, "n_neighbors": n_neighbors, "min_dist": min_dist}
    key = projection_key(x, **options)
    disk = DiskCache("projections", enabled=cache)
    hit = disk.get(key)
    note = None
    if hit is not None and np.array_equal(hit["index"], index):
        coords, used, cached = hit["coords"], str(hit["method"]), True
        note = str(hit["note"]) or None if "note" in hit else None
    else:
        from tqdm.auto import tqdm

        show = settings.progress_enabled() if progress is None else progress
        stages = 1 + (method == "umap") * 2 + 1
        with tqdm(total=stages, desc=f"project {method}", disable=not show, unit="step") as bar:
            def step(stage: str) -> None:
                bar.set_postfix_str(stage, refresh=False)
                bar.update(1)

            coords, used, note = _compute(x[index], method=method, n_components=n_components, pca_dims=pca_dims,
                                          seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, step=step)
            bar.n = bar.total
            bar.set_postfix_str("done")
        disk.put(key, {"coords": coords, "index": index, "method": np.array(used), "note": np.array(note or "")})
        cached = False
    labels = table.labels.iloc[index].reset_index(drop=True) if table is not None else None
    return Embedding(coords=coords, index=index, labels=labels, method=used, options=options,
                     layer=table.layer if table is not None else None, model=table.model if table else "",
                     revision=table.revision if table else "", cached=cached, key=key, note=note)


def embed_layer(analyses, layer: int, *, labels=None, errors=None, **project_kw) -> Embedding:
    """``project(frame_table(analyses, layer, ...), ...)`` in one call."""
    return project(frame_table(analyses, layer, labels=labels, errors=errors), **project_kw)


def check_layers(analyses) -> list[int]:
    """Layers kept in every successful analysis (raises when none)."""
    items = [a for a in analyses if a.ok]
    if not items:
        raise WorkbenchError("no successful analyses")
    common = set(items[0].hidden_states)
    for a in items[1:]:
        common &= set(a.hidden_states)
    if not common:
        raise CapabilityError("the analyses kept no hidden states; run analyze(..., layers='all')")
    return sorted(common)
