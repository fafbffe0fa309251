"""Quantizer codebook usage of a wav2vec2 pretraining model, and codes vs characters.

The codes are the engine's: per frame and group, the argmax of the quantizer's own
``weight_proj`` logits — exactly the entry ``Wav2Vec2GumbelVectorQuantizer`` picks in eval
mode.  Nothing here runs the model; everything reads ``analyze(..., codes=True)`` results.

Two perplexities, side by side (both ``exp(entropy)`` of the usage distribution of a group,
summed over groups the way ``Wav2Vec2GumbelVectorQuantizer._compute_perplexity`` sums them):

* **hard** — the distribution of the chosen codes (one-hot per frame, averaged over frames).
  This is what the model reports as ``codevector_perplexity`` in eval mode.
* **soft** — ``softmax(code_logits)`` averaged over the same frames; this is what the model
  computes in training mode (the quantity its diversity loss pushes up).  Soft >= hard
  whenever the logits are not one-hot, since it also counts probability mass on codes that
  never win.

Per group perplexity ranges from 1 (collapsed: one code) to 320 (uniform); the model-style
sum ranges from ``G`` to ``G * 320``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import CapabilityError, WorkbenchError
from ..provenance import JsonResult
from .framelabels import BLANK, FrameLabels, labels_by_id, paired_labels

PRETRAINING_HINT = "'wav2vec2-base' (hub) or the demo 'w2v2-tiny'"


# --------------------------------------------------------------------------- scalar helpers
def perplexity(probs: np.ndarray) -> np.ndarray:
    """``exp(-sum p log p)`` over the last axis (0 log 0 = 0), as the HF quantizer computes it."""
    from scipy.special import xlogy

    p = np.asarray(probs, dtype=np.float64)
    return np.exp(-xlogy(p, p).sum(axis=-1))


def hard_perplexity(codes: np.ndarray, num_vars: int) -> np.ndarray:
    """Per-group perplexity of the chosen codes; ``codes`` is [N, G] (or [N])."""
    codes = np.asarray(codes).reshape(len(codes), -1)
    counts = np.stack([np.bincount(codes[:, g], minlength=num_vars) for g in range(codes.shape[1])])
    return perplexity(counts / max(len(codes), 1))


def soft_probs_sum(code_logits: np.ndarray) -> np.ndarray:
    """Sum over frames of ``softmax(code_logits)`` per group: [T, G, V] -> [G, V] (float64)."""
    from scipy.special import softmax

    return softmax(np.asarray(code_logits, dtype=np.float64), axis=-1).sum(axis=0)


# --------------------------------------------------------------------------- usage
@dataclass
class UsageStats:
    """Hard counts, soft probability sums and codeword pairs over a set of frames."""

    counts: np.ndarray  # [G, V] int64
    soft_sum: np.ndarray  # [G, V] float64
    pairs: np.ndarray  # [P] int64 distinct pair ids (code_0 * V + code_1 ...)
    pair_counts: np.ndarray  # [P] int64
    frames: int
    utterances: int

    @property
    def num_groups(self) -> int:
        return int(self.counts.shape[0])

    @property
    def num_vars(self) -> int:
        return int(self.counts.shape[1])

    @property
    def hard_probs(self) -> np.ndarray:
        return self.counts / max(self.frames, 1)

    @property
    def soft_probs(self) -> np.ndarray:
        return self.soft_sum / max(self.frames, 1)

    @property
    def hard_perplexity(self) -> np.ndarray:
        """[G] perplexity of the chosen codes."""
        return perplexity(self.hard_probs)

    @property
    def soft_perplexity(self) -> np.ndarray:
        """[G] perplexity of the averaged softmax."""
        return perplexity(self.soft_probs)

    @property
    def codes_used(self) -> np.ndarray:
        """[G] number of codes chosen at least once."""
        return (self.counts > 0).sum(axis=1)

    @property
    def distinct_pairs(self) -> int:
        return int(self.pairs.size)

    @property
    def possible_pairs(self) -> int:
        return self.num_vars ** self.num_groups

    @property
    def pair_perplexity(self) -> float:
        return float(perplexity(self.pair_counts / max(self.frames, 1))) if self.frames else float("nan")

    @classmethod
    def from_arrays(cls, codes: np.ndarray, code_logits: np.ndarray | None, num_vars: int,
                    utterances: int = 1) -> "UsageStats":
        codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
        g = codes.shape[1]
        counts = np.stack([np.bincount(codes[:, i], minlength=num_vars) for i in range(g)]).astype(np.int64)
        soft = soft_probs_sum(code_logits) if code_logits is not None else np.full((g, num_vars), np.nan)
        pairs, pair_counts = np.unique(pair_ids(codes, num_vars), return_counts=True)
        return cls(counts, soft, pairs, pair_counts.astype(np.int64), int(codes.shape[0]), utterances)

    @classmethod
    def merge(cls, parts: list["UsageStats"]) -> "UsageStats":
        if not parts:
            raise WorkbenchError("no frames with codes to summarise; analyze a corpus with codes=True first")
        pairs = np.concatenate([p.pairs for p in parts])
        weights = np.concatenate([p.pair_counts for p in parts])
        uniq, inverse = np.unique(pairs, return_inverse=True)
        return cls(sum(p.counts for p in parts), sum(p.soft_sum for p in parts), uniq,
                   np.bincount(inverse, weights=weights, minlength=uniq.size).astype(np.int64),
                   sum(p.frames for p in parts), sum(p.utterances for p in parts))

    def group_rows(self) -> list[dict]:
        """One row per group plus the model-style sum over groups."""
        hard, soft, used = self.hard_perplexity, self.soft_perplexity, self.codes_used
        rows = [{"group": str(g), "frames": self.frames, "codes_used": int(used[g]), "codes": self.num_vars,
                 "hard_perplexity": float(hard[g]), "soft_perplexity": float(soft[g])}
                for g in range(self.num_groups)]
        rows.append({"group": "sum", "frames": self.frames, "codes_used": int(used.sum()),
                     "codes": self.num_vars * self.num_groups, "hard_perplexity": float(hard.sum()),
                     "soft_perplexity": float(soft.sum())})
        return rows


def pair_ids(codes: np.ndarray, num_vars: int) -> np.ndarray:
    """One integer per frame for the codeword tuple (``c0 * V + c1`` for two groups)."""
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    out = np.zeros(len(codes), dtype=np.int64)
    for g in range(codes.shape[1]):
        out = out * num_vars + codes[:, g]
    return out


def _items(analyses) -> list:
    return [a for a in analyses if getattr(a, "ok", True)]


def _check_codes(a) -> None:
    if a.codes is None:
        what = "a CTC-only checkpoint with no quantizer" if a.log_probs is not None else "analysed without codes"
        raise CapabilityError(
            f"{a.id}: {a.model!r} is {what}; codebook analysis needs analyze(..., codes=True) on a pretraining "
            f"model such as {PRETRAINING_HINT}")


def _num_vars(a) -> int:
    return int(a.code_logits.shape[-1]) if a.code_logits is not None else int(a.codes.max()) + 1


def _group_of(by, name: str | None) -> Callable:
    if by is None:
        return lambda a: "all"
    if by == "corpus":
        return lambda a: name or "corpus"
    if by in ("speaker", "utterance"):
        attr = "id" if by == "utterance" else "speaker"
        return lambda a: str(getattr(a, attr) or "unknown")
    if isinstance(by, Mapping):
        return lambda a: str(by.get(a.id, "unknown"))
    if callable(by):
        return lambda a: str(by(a))
    raise ValueError(f"by={by!r} must be None, 'speaker', 'utterance', 'corpus', a mapping id -> label or a callable")


@dataclass
class CodebookUsage(JsonResult):
    """Codebook usage over a corpus (``total``) and per partition (``parts``, e.g. per speaker)."""

    model: str
    revision: str
    total: UsageStats
    parts: dict[str, UsageStats] = field(default_factory=dict)
    by: str | None = None

    @property
    def num_groups(self) -> int:
        return self.total.num_groups

    @property
    def num_vars(self) -> int:
        return self.total.num_vars

    @property
    def model_perplexity(self) -> float:
        """What the model reports as ``codevector_perplexity`` in eval mode (hard, summed over groups)."""
        return float(self.total.hard_perplexity.sum())

    def summary(self) -> dict:
        t = self.total
        return {"model": self.model, "revision": self.revision, "frames": t.frames, "utterances": t.utterances,
                "groups": self.num_groups, "codes_per_group": self.num_vars,
                "hard_perplexity": [float(x) for x in t.hard_perplexity],
                "soft_perplexity": [float(x) for x in t.soft_perplexity],
                "hard_perplexity_sum": float(t.hard_perplexity.sum()),
                "soft_perplexity_sum": float(t.soft_perplexity.sum()),
                "codes_used": [int(x) for x in t.codes_used], "distinct_pairs": t.distinct_pairs,
                "possible_pairs": t.possible_pairs, "pair_perplexity": t.pair_perplexity}

    def top_codes(self, group: int = 0, k: int = 10, *, part: str | None = None):
        """The ``k`` most used codes of ``group``: code, frames, share."""
        import pandas as pd

        stats = self.parts[part] if part is not None else self.total
        counts = stats.counts[group]
        order = np.argsort(-counts, kind="stable")[:k]
        order = order[counts[order] > 0]
        return pd.DataFrame({"code": order, "frames": counts[order], "share": counts[order] / max(stats.frames, 1)})

    def to_frame(self):
        """Per group: frames, codes used, hard and soft perplexity, top codes; plus the sum row."""
        import pandas as pd

        rows = self.total.group_rows()
        for row in rows:
            if row["group"] != "sum":
                top = self.top_codes(int(row["group"]), 5)
                row["top_codes"] = " ".join(f"{c}:{s:.1%}" for c, s in zip(top["code"], top["share"]))
            else:
                row["top_codes"] = ""
        df = pd.DataFrame(rows)
        df["distinct_pairs"] = [np.nan] * self.num_groups + [self.total.distinct_pairs]
        return df

    def compare_frame(self):
        """Per partition and group: frames, codes used, perplexities, and the Jensen-Shannon
        distance (base 2, 0 = same usage, 1 = disjoint) of its usage to the whole corpus's."""
        import pandas as pd
        from scipy.spatial.distance import jensenshannon

        rows = []
        for name, stats in self.parts.items():
            for row in stats.group_rows():
                g = row["group"]
                if g == "sum":
                    row["js_distance"] = np.nan
                else:
                    g = int(g)
                    row["js_distance"] = float(jensenshannon(stats.hard_probs[g], self.total.hard_probs[g], base=2))
                row["distinct_pairs"] = stats.distinct_pairs if row["group"] == "sum" else np.nan
                rows.append({self.by or "part": name, "utterances": stats.utterances, **row})
        return pd.DataFrame(rows)

    def plot(self, ax=None, *, group: int = 0, order: str = "index"):
        """Histogram of code usage of ``group``."""
        from ..plots.representations import plot_code_histogram

        return plot_code_histogram(self, group=group, order=order, ax=ax)

    def _repr_html_(self) -> str:
        s = self.summary()
        head = (f"<b>{self.model}</b>: {s['frames']} frames, {s['utterances']} utterances; "
                f"hard perplexity {s['hard_perplexity_sum']:.1f}, soft {s['soft_perplexity_sum']:.1f} "
                f"(sum over {s['groups']} groups, max {s['groups'] * s['codes_per_group']}); "
                f"{s['distinct_pairs']} of {s['possible_pairs']} pairs used")
        return head + self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.2f}")

    def to_json(self) -> dict:
        """JSON with the summary, per-group table, partitions, raw counts and provenance."""
        data = {"provenance": provenance(self.model, self.revision), "summary": self.summary(),
                "groups": self.to_frame().replace({np.nan: None}).to_dict("records"),
                "by": self.by, "parts": self.compare_frame().replace({np.nan: None}).to_dict("records"),
                "counts": self.total.counts.tolist()}
        return data


def code_usage(analyses, *, by=None) -> CodebookUsage:
    """Codebook usage of analyses made with ``codes=True``.

    ``analyses``: an AnalysisResult (or list of UtteranceAnalysis), or a mapping
    ``{name: AnalysisResult}`` to compare corpora (then ``by`` defaults to ``"corpus"``).
    ``by``: None, ``"speaker"``, ``"utterance"``, ``"corpus"``, a mapping id -> label, or a
    callable on an UtteranceAnalysis; each partition gets its own usage figures.
    """
    sources = list(analyses.items()) if isinstance(analyses, Mapping) else [(None, analyses)]
    if isinstance(analyses, Mapping) and by is None:
        by = "corpus"
    parts: dict[str, list[UsageStats]] = {}
    model = revision = None
    num_vars = None
    for name, result in sources:
        key_of = _group_of(by, name)
        for a in _items(result):
            _check_codes(a)
            num_vars = num_vars or _num_vars(a)
            if model is None:
                model, revision = a.model, a.revision
            stats = UsageStats.from_arrays(a.codes, a.code_logits, num_vars)
            parts.setdefault(key_of(a), []).append(stats)
    if not parts:
        raise WorkbenchError("no successful analyses with codes; analyze(corpus, pretraining_model, codes=True) "
                             "first (failed utterances are listed in result.errors)")
    merged = {k: UsageStats.merge(v) for k, v in parts.items()}
    total = UsageStats.merge(list(merged.values()))
    label = by if isinstance(by, str) else (None if by is None else "part")
    return CodebookUsage(model=model, revision=revision, total=total, parts=merged if by is not None else {},
                         by=label)


# --------------------------------------------------------------------------- codes vs characters
def show_char(c: str) -> str:
    """Display form of a frame label (blank shown as ``∅``, the word delimiter as ``|``)."""
    return "∅" if c == BLANK else c


@dataclass
class CodeCharacters(JsonResult):
    """Co-occurrence of code indices with the aligned character (blank included) per frame."""

    codes: np.ndarray  # [N, G] int
    chars: np.ndarray  # [N] object
    num_vars: int
    model: str = ""
    ctc_model: str = ""
    label_sources: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, codes: np.ndarray, chars, num_vars: int, **kw) -> "CodeCharacters":
        codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
        chars = np.asarray(chars, dtype=object)
        if len(chars) != len(codes):
            raise ValueError(f"{len(codes)} code frames but {len(chars)} char labels; they must match frame by frame")
        return cls(codes, chars, num_vars, **kw)

    @property
    def num_groups(self) -> int:
        return int(self.codes.shape[1])

    @property
    def alphabet(self) -> list[str]:
        """Chars seen, blank first, then by frequency."""
        uniq, counts = np.unique(self.chars.astype(str), return_counts=True)
        order = sorted(range(len(uniq)), key=lambda i: (uniq[i] != BLANK, -counts[i], uniq[i]))
        return [str(uniq[i]) for i in order]

    def code_column(self, group: int | str = 0) -> np.ndarray:
        """Per-frame code of ``group``, or the pair id for ``group="pair"``."""
        if group == "pair":
            return pair_ids(self.codes, self.num_vars)
        return self.codes[:, int(group)]

    def nmi(self, group: int | str = 0) -> float:
        """Normalised mutual information (arithmetic normalisation) between codes and chars."""
        from sklearn.metrics import normalized_mutual_info_score

        return float(normalized_mutual_info_score(self.chars.astype(str), self.code_column(group)))

    def contingency(self, group: int | str = 0):
        """Frames per (code, char): a DataFrame indexed by the codes seen, columns the alphabet."""
        import pandas as pd

        col = self.code_column(group)
        codes, code_idx = np.unique(col, return_inverse=True)
        alphabet = self.alphabet
        position = {c: i for i, c in enumerate(alphabet)}
        char_idx = np.fromiter((position[str(c)] for c in self.chars), dtype=np.int64, count=len(self.chars))
        table = np.zeros((len(codes), len(alphabet)), dtype=np.int64)
        np.add.at(table, (code_idx, char_idx), 1)
        index = [self._code_name(c, group) for c in codes]
        return pd.DataFrame(table, index=pd.Index(index, name="code"), columns=[show_char(c) for c in alphabet])

    def _code_name(self, code: int, group) -> str | int:
        if group != "pair":
            return int(code)
        parts = []
        for _ in range(self.num_groups):
            parts.append(int(code % self.num_vars))
            code //= self.num_vars
        return "-".join(str(p) for p in reversed(parts))

    def purest(self, group: int | str = 0, *, k: int = 3, min_frames: int = 5):
        """Per char, the ``k`` codes with the highest purity P(char | code) among codes seen at
        least ``min_frames`` times; ``coverage`` is P(code | char)."""
        import pandas as pd

        table = self.contingency(group)
        code_totals = table.sum(axis=1)
        char_totals = table.sum(axis=0)
        rows = []
        keep = code_totals >= min_frames
        for char in table.columns:
            col = table.loc[keep, char]
            col = col[col > 0]
            if col.empty:
                continue
            purity = col / code_totals[col.index]
            best = purity.sort_values(ascending=False, kind="stable").index[:k]
            for code in best:
                rows.append({"char": char, "code": code, "purity": float(purity[code]), "frames": int(col[code]),
                             "code_frames": int(code_totals[code]), "coverage": float(col[code] / char_totals[char])})
        return pd.DataFrame(rows, columns=["char", "code", "purity", "frames", "code_frames", "coverage"])

    def to_frame(self):
        """NMI per group and for the codeword pair, with frame and code counts."""
        import pandas as pd

        rows = []
        for g in list(range(self.num_groups)) + ["pair"]:
            col = self.code_column(g)
            rows.append({"group": str(g), "frames": len(col), "codes_seen": int(np.unique(col).size),
                         "chars": len(self.alphabet), "nmi": self.nmi(g)})
        return pd.DataFrame(rows)

    def plot(self, ax=None, *, group: int | str = 0, top: int = 40, normalize: str = "code"):
        """Code x character heatmap of the ``top`` most frequent codes."""
        from ..plots.representations import plot_code_char_heatmap

        return plot_code_char_heatmap(self, group=group, top=top, normalize=normalize, ax=ax)

    def _repr_html_(self) -> str:
        return (f"<b>codes of {self.model} vs chars of {self.ctc_model}</b> ({len(self.chars)} frames; labels "
                f"{self.label_sources})" + self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.3f}"))

    def to_json(self) -> dict:
        data = {"provenance": provenance(self.model, None, ctc_model=self.ctc_model),
                "label_sources": self.label_sources, "skipped": self.skipped,
                "nmi": self.to_frame().to_dict("records"), "purest": self.purest().to_dict("records")}
        return data


def code_characters(analyses, labels, *, prefer: str = "forced") -> CodeCharacters:
    """Codes of a pretraining analysis against the chars a paired CTC model aligns to each frame.

    ``labels``: the paired CTC model's AnalysisResult (same utterances; forced alignment of the
    reference when available, else greedy spans) or a mapping id -> :class:`FrameLabels`.
    Frames correspond one to one (same 320-sample stride); lengths are checked and trimmed.
    """
    ctc_model = ""
    if not isinstance(labels, Mapping):
        ctc_model = getattr(labels, "model", "")
        labels = labels_by_id(labels, prefer=prefer)
    codes, chars, sources, skipped = [], [], {}, []
    model = ""
    num_vars = None
    for a in _items(analyses):
        _check_codes(a)
        model = a.model
        num_vars = num_vars or _num_vars(a)
        lab: FrameLabels | None = labels.get(a.id)
        if lab is None:
            skipped.append(a.id)
            continue
        n, lab = paired_labels(a, lab)
        codes.append(np.asarray(a.codes[:n]))
        chars.append(lab.chars)
        sources[lab.source] = sources.get(lab.source, 0) + 1
    if not codes:
        raise WorkbenchError("no utterance has both codes and frame labels; analyse the same corpus with the paired "
                             "CTC model (registry.spec(name).paired_ctc)")
    return CodeCharacters.from_arrays(np.concatenate(codes), np.concatenate(chars), num_vars, model=model,
                                      ctc_model=ctc_model, label_sources=sources, skipped=skipped)


def paired_ctc_name(model: str, registry=None) -> str:
    """The CTC model paired with a pretraining model (for frame labels)."""
    from ..models.registry import resolve

    spec = resolve(registry).spec(model)
    if spec.kind == "ctc":
        return spec.name
    if not spec.paired_ctc:
        raise CapabilityError(f"{spec.name} has no paired CTC model for character labels; register it with "
                              "paired_ctc='NAME' or pass the labels yourself")
    return spec.paired_ctc


# --------------------------------------------------------------------------- helpers
def provenance(model: str, revision: str | None, **extra) -> dict:
    """Model, revision, package versions and date, as saved results record them."""
    import datetime
    import platform
    from importlib import metadata

    versions = {}
    for pkg in ("workbench", "numpy", "scikit-learn", "umap-learn", "torch", "transformers"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"model": model, "revision": revision, **extra, "versions": versions, "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
