"""What each layer encodes: a layer-wise linear probe and layer-to-layer linear CKA.

The probe maps each frame's hidden state (standardised) to its aligned character with a
ridge classifier (scikit-learn ``RidgeClassifier``: one-vs-rest least squares, solved in
closed form by a Cholesky factorisation of the H x H Gram matrix).  It costs one pass over
the frames per layer, no iterations and no convergence tuning, so a whole model's layers
probe in seconds on two cores; multinomial logistic regression would typically score a few
points higher but needs hundreds of L-BFGS iterations per layer.  Utterances (not frames)
are split into train and test, so neighbouring frames of one utterance never sit on both
sides.  The reference line is the majority class: the train set's most frequent char,
scored on the test frames.

Linear CKA (Kornblith et al., 2019): for column-centred X [n, p] and Y [n, q],
``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``; 1 for identical representations,
invariant to orthogonal transforms and isotropic scaling.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import WorkbenchError
from ..provenance import JsonResult
from .embeddings import check_layers, frame_table, resolve_labels
from .framelabels import BLANK


# --------------------------------------------------------------------------- CKA
def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment between two [n, *] representations of the same n items."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same rows: {x.shape[0]} vs {y.shape[0]}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x, "fro") ** 2
    norm = np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")
    return float(cross / norm) if norm > 0 else float("nan")


@dataclass
class CKAResult(JsonResult):
    """Layer x layer linear CKA on the same frames."""

    layers: list[int]
    matrix: np.ndarray
    frames: int
    model: str = ""

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.matrix, index=pd.Index(self.layers, name="layer"), columns=self.layers)

    def plot(self, ax=None):
        from ..plots.representations import plot_cka

        return plot_cka(self, ax=ax)

    def to_json(self) -> dict:
        from .codebook import provenance

        return {"provenance": provenance(self.model, None), "layers": self.layers,
                "frames": self.frames, "cka": self.matrix.tolist()}

    def _repr_html_(self) -> str:
        return f"<b>linear CKA</b> ({self.model}, {self.frames} frames)" + self.to_frame().to_html(
            float_format=lambda v: f"{v:.2f}")


def _frame_sample(analyses, max_frames: int | None, seed: int) -> tuple[list, np.ndarray | None]:
    items = [a for a in analyses if a.ok]
    total = sum(a.num_frames for a in items)
    if not max_frames or total <= max_frames:
        return items, None
    return items, np.sort(np.random.default_rng(seed).choice(total, size=max_frames, replace=False))


def cka_matrix(analyses, *, layers=None, max_frames: int | None = 10_000, seed: int = 0) -> CKAResult:
    """Linear CKA between every pair of kept layers, on the same (seeded, subsampled) frames."""
    layers = list(layers) if layers is not None else check_layers(analyses)
    items, pick = _frame_sample(analyses, max_frames, seed)
    reps = []
    for layer in layers:
        x = np.concatenate([a.layer(layer) for a in items])
        reps.append(x if pick is None else x[pick])
    k = len(layers)
    m = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            m[i, j] = m[j, i] = linear_cka(reps[i], reps[j])
    return CKAResult(layers, m, int(reps[0].shape[0]), items[0].model if items else "")


# --------------------------------------------------------------------------- probe
@dataclass
class ProbeResult(JsonResult):
    """Held-out accuracy of a linear char probe per layer, with the majority-class chance level."""

    layers: list[int]
    accuracy: list[float]
    train_accuracy: list[float]
    chance: float
    majority: str
    classes: list[str]
    train_utterances: list[str]
    test_utterances: list[str]
    train_frames: int
    test_frames: int
    include_blank: bool
    alpha: float
    model: str = ""
    label_source: dict[str, int] = field(default_factory=dict)

    @property
    def best_layer(self) -> int:
        return self.layers[int(np.argmax(self.accuracy))]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"layer": self.layers, "accuracy": self.accuracy, "train_accuracy": self.train_accuracy,
                             "chance": self.chance, "test_frames": self.test_frames,
                             "train_frames": self.train_frames})

    def plot(self, ax=None):
        from ..plots.representations import plot_probe

        return plot_probe(self, ax=ax)

    def to_json(self) -> dict:
        from .codebook import provenance

        data = {"provenance": provenance(self.model, None), "layers": self.layers, "accuracy": self.accuracy,
                "train_accuracy": self.train_accuracy, "chance": self.chance, "majority": self.majority,
                "classes": self.classes, "train_utterances": self.train_utterances,
                "test_utterances": self.test_utterances, "include_blank": self.include_blank, "alpha": self.alpha,
                "label_source": self.label_source}
        return data

    def _repr_html_(self) -> str:
        return (f"<b>linear probe</b> {self.model}: best layer {self.best_layer} "
                f"({max(self.accuracy):.1%} vs chance {self.chance:.1%}, {self.test_frames} held-out frames)"
                + self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3f}"))


def split_utterances(ids: list[str], *, test_fraction: float = 0.25, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded split of utterance ids into train and test (each side gets at least one)."""
    if len(ids) < 2:
        raise WorkbenchError(f"a held-out probe needs at least 2 utterances with labels; got {len(ids)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction} must lie strictly between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = min(max(1, int(round(test_fraction * len(ids)))), len(ids) - 1)
    test = sorted(ids[i] for i in order[:n_test])
    train = sorted(ids[i] for i in order[n_test:])
    return train, test


def majority_chance(train_labels, test_labels) -> tuple[str, float]:
    """The most frequent train label and the share of test labels equal to it."""
    values, counts = np.unique(np.asarray(train_labels, dtype=str), return_counts=True)
    majority = str(values[np.argmax(counts)])
    return majority, float(np.mean(np.asarray(test_labels, dtype=str) == majority))


def layer_probe(analyses, *, labels=None, layers=None, test_fraction: float = 0.25, seed: int = 0,
                include_blank: bool = False, alpha: float = 1.0, min_class_frames: int = 1) -> ProbeResult:
    """Per layer, a ridge classifier from frame vector to aligned char, scored on held-out utterances.

    ``labels`` as in :func:`workbench.representations.embeddings.frame_table` (None: the analyses are a CTC
    model's own).  ``include_blank=False`` (default) probes only frames the alignment gives
    a char (the word delimiter included): CTC alignments are mostly blank, and with blanks
    the probe would mostly learn blank vs non-blank.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    layers = list(layers) if layers is not None else check_layers(analyses)
    by_id = resolve_labels(analyses, labels, "forced")  # align once, reuse for every layer
    base = frame_table(analyses, layers[0], labels=by_id)
    df = base.labels
    keep = np.ones(len(df), dtype=bool) if include_blank else (df["char"] != BLANK).to_numpy()
    if not keep.any():
        raise WorkbenchError("no frame has a character label; the probe needs a CTC model's alignment (labels=)")
    chars = df["char"].astype(str).to_numpy()
    if min_class_frames > 1:
        uniq, counts = np.unique(chars[keep], return_counts=True)
        keep &= np.isin(chars, uniq[counts >= min_class_frames])
    utt = df["utterance"].to_numpy()
    ids = sorted(set(utt[keep]))
    train_ids, test_ids = split_utterances(ids, test_fraction=test_fraction, seed=seed)
    train = keep & np.isin(utt, train_ids)
    test = keep & np.isin(utt, test_ids)
    if np.unique(chars[train]).size < 2:
        raise WorkbenchError("the training utterances hold fewer than 2 distinct chars; give more utterances")
    majority, chance = majority_chance(chars[train], chars[test])
    accuracy, train_acc = [], []
    for layer in layers:
        x = base.vectors if layer == layers[0] else frame_table(analyses, layer, labels=by_id).vectors
        clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))
        clf.fit(x[train], chars[train])
        accuracy.append(float(clf.score(x[test], chars[test])))
        train_acc.append(float(clf.score(x[train], chars[train])))
    return ProbeResult(layers=layers, accuracy=accuracy, train_accuracy=train_acc, chance=chance, majority=majority,
                       classes=sorted(set(chars[train])), train_utterances=train_ids, test_utterances=test_ids,
                       train_frames=int(train.sum()), test_frames=int(test.sum()), include_blank=include_blank,
                       alpha=alpha, model=base.model, label_source=base.label_source)
