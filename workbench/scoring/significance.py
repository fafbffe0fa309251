"""Bootstrap intervals and paired significance tests over utterances (numpy + scipy).

Error rates are ratios of sums (errors / reference words), so the bootstrap resamples
utterances and recomputes the pooled ratio; the paired version resamples the same
utterances for every system (Bisani & Ney 2004).  Resampling is vectorised: each block of
resamples is a count matrix (how often each utterance was drawn) times the per-utterance sums.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BLOCK_ELEMENTS = 2_000_000  # drawn indices per block of resamples (bounded memory)


def resampled_sums(values: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """Sums of ``values`` [n, k] over ``n_boot`` bootstrap resamples of the n rows -> [n_boot, k].

    Each block of resamples draws an index matrix [rows, n], counts how often each row was
    drawn (one ``bincount``) and multiplies the counts with ``values`` (one matrix product), so
    the whole bootstrap is a few numpy calls whatever n_boot is (memory bounded by the block).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n, k = values.shape
    if n == 0 or n_boot <= 0:
        return np.full((max(n_boot, 0), k), np.nan)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty((n_boot, k))
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(rows, n), dtype=np.int64)
        idx += (np.arange(rows, dtype=np.int64) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n)
        out[start:start + rows] = counts.astype(np.float64) @ values
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def bootstrap_ratio_ci(num, den, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of sum(num)/sum(den) over utterance resamples; (nan, nan) when undefined."""
    return bootstrap_ratio_cis([(num, den)], n_boot=n_boot, seed=seed, level=level)[0]


def bootstrap_ratio_cis(pairs, *, n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> list[tuple[float, float]]:
    """Intervals of several pooled ratios (e.g. WER and CER) from the same utterance resamples."""
    nan = (float("nan"), float("nan"))
    cols = [np.asarray(c, dtype=np.float64) for pair in pairs for c in pair]
    if not cols or cols[0].size == 0 or n_boot <= 0:
        return [nan] * len(pairs)
    sums = resampled_sums(np.stack(cols, axis=1), n_boot=n_boot, seed=seed)
    tail = (1 - level) / 2 * 100
    out = []
    for j in range(len(pairs)):
        if cols[2 * j + 1].sum() <= 0:
            out.append(nan)
            continue
        ratios = _ratio(sums[:, 2 * j], sums[:, 2 * j + 1])
        lo, hi = np.nanpercentile(ratios, [tail, 100 - tail])
        out.append((float(lo), float(hi)))
    return out


@dataclass(frozen=True)
class PairedBootstrap:
    """System B against A on the same utterances: P(B's pooled error rate < A's) and the delta interval."""

    p_b_better: float
    delta: float  # B - A, pooled
    delta_lo: float
    delta_hi: float
    n_boot: int


def paired_bootstrap(err_a, den_a, err_b, den_b, *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> PairedBootstrap:
    """Resample utterances jointly; ties (equal resampled rates) count half for each side."""
    cols = np.stack([np.asarray(c, dtype=np.float64) for c in (err_a, den_a, err_b, den_b)], axis=1)
    if cols.shape[0] == 0 or cols[:, 1].sum() <= 0 or cols[:, 3].sum() <= 0:
        nan = float("nan")
        return PairedBootstrap(nan, nan, nan, nan, n_boot)
    delta = cols[:, 2].sum() / cols[:, 3].sum() - cols[:, 0].sum() / cols[:, 1].sum()
    sums = resampled_sums(cols, n_boot=n_boot, seed=seed)
    a, b = _ratio(sums[:, 0], sums[:, 1]), _ratio(sums[:, 2], sums[:, 3])
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    p = float(np.mean(b < a) + 0.5 * np.mean(b == a)) if a.size else float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(b - a, [tail, 100 - tail]) if a.size else (np.nan, np.nan)
    return PairedBootstrap(p, float(delta), float(lo), float(hi), n_boot)


@dataclass(frozen=True)
class McNemar:
    """Utterance-level correctness (no word error) of A vs B: discordant counts and the exact p-value."""

    a_only: int  # A correct, B wrong
    b_only: int  # B correct, A wrong
    p_value: float
    chi2: float  # with continuity correction, for reference


def mcnemar(correct_a, correct_b) -> McNemar:
    """Exact (binomial) McNemar test on paired booleans."""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    n = a_only + b_only
    if n == 0:
        return McNemar(a_only, b_only, 1.0, 0.0)
    p = binomtest(b_only, n, 0.5).pvalue
    chi2 = (abs(a_only - b_only) - 1) ** 2 / n
    return McNemar(a_only, b_only, float(p), float(chi2))


@dataclass(frozen=True)
class SignTest:
    """Per-utterance error counts: how often B has fewer (plus) or more (minus) errors than A."""

    plus: int
    minus: int
    ties: int
    p_value: float
    wilcoxon_p: float  # signed-rank test on the same differences (nan when all tie)


def sign_test(errors_a, errors_b) -> SignTest:
    """Two-sided sign test (ties dropped) plus the Wilcoxon signed-rank p-value, as sc_stats offers."""
    from scipy.stats import binomtest, wilcoxon

    diff = np.asarray(errors_a, dtype=np.float64) - np.asarray(errors_b, dtype=np.float64)
    plus, minus = int(np.sum(diff > 0)), int(np.sum(diff < 0))
    ties = int(diff.size - plus - minus)
    p = float(binomtest(plus, plus + minus, 0.5).pvalue) if plus + minus else 1.0
    w = float(wilcoxon(diff[diff != 0]).pvalue) if plus + minus else float("nan")
    return SignTest(plus, minus, ties, p, w)
