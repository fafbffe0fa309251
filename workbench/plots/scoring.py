"""Figures of WER scoring: per-utterance histogram, per-speaker bars with CIs, system scatter,
character confusion heatmap.  Each takes ``ax=`` and returns the figure (never shows it)."""
from __future__ import annotations

import numpy as np

from .figure import axes


def _percent(axis) -> None:
    """Error rates on an axis as percentages, as the tables print them."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def plot_wer_histogram(score, *, ax=None, bins: int = 20, clip: float = 1.5):
    """Histogram of per-utterance WER (values above ``clip`` piled in the last bin), with the
    pooled and the mean WER marked.  Empty-reference rows (WER undefined) are not drawn."""
    fig, ax = axes(ax, (6, 3.2))
    w = score.scored["wer"].dropna().to_numpy(dtype=float)
    ax.hist(np.minimum(w, clip), bins=bins, range=(0, clip), color="#5c6bc0", edgecolor="white")
    ax.axvline(score.wer, color="#c62828", lw=2, label=f"pooled {score.wer:.1%}")
    ax.axvline(score.mean_wer, color="#2e7d32", lw=2, ls="--", label=f"mean {score.mean_wer:.1%}")
    ax.set_xlabel("WER per utterance" + (f" (>{clip:.0%} shown at {clip:.0%})" if (w > clip).any() else ""))
    ax.set_ylabel("utterances")
    _percent(ax.xaxis)
    ax.set_title(f"{score.name}: {len(w)} utterances")
    ax.legend(frameon=False)
    return fig


def plot_speaker_wer(score, *, ax=None, sort: bool = True):
    """Pooled WER per speaker with its bootstrap 95% interval; the corpus WER as a line."""
    fig, ax = axes(ax, (max(4, 0.5 * len(score.by_speaker()) + 2), 3.2))
    table = score.by_speaker()
    if sort:
        table = table.sort_values("wer", ascending=False)
    x = np.arange(len(table))
    wer = table["wer"].to_numpy(float)
    lo = np.clip(wer - table["wer_lo"].to_numpy(float), 0, None)
    hi = np.clip(table["wer_hi"].to_numpy(float) - wer, 0, None)
    ax.bar(x, wer, color="#5c6bc0", yerr=np.nan_to_num(np.vstack([lo, hi])), capsize=3, ecolor="#333")
    ax.axhline(score.wer, color="#c62828", lw=1.5, ls="--", label=f"corpus {score.wer:.1%}")
    ax.set_xticks(x, table["speaker"].astype(str), rotation=45, ha="right")
    ax.set_ylabel("WER (pooled, 95% CI)")
    _percent(ax.yaxis)
    ax.set_title(f"{score.name}: WER by speaker")
    ax.legend(frameon=False)
    return fig


def plot_system_scatter(comparison, *, a: str | None = None, b: str | None = None, ax=None, clip: float = 1.5):
    """Per-utterance WER of system ``b`` (y) against ``a`` (x); points under the diagonal are
    utterances where ``b`` is better."""
    fig, ax = axes(ax, (4.2, 4.2))
    a = a or comparison.systems[0]
    b = b or comparison.systems[1]
    df = comparison.per_utterance
    xa = np.minimum(df[f"wer_{a}"].to_numpy(float), clip)
    xb = np.minimum(df[f"wer_{b}"].to_numpy(float), clip)
    ok = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[ok], xb[ok]
    for mask, colour, label in ((xb < xa, "#2e7d32", f"{b} better"), (xb > xa, "#c62828", f"{a} better"),
                                (xb == xa, "#9e9e9e", "same")):
        ax.scatter(xa[mask], xb[mask], s=14, color=colour, alpha=0.8, label=f"{label} ({int(mask.sum())})")
    top = max(1.0, float(np.max(np.r_[xa, xb, 0])))
    ax.plot([0, top], [0, top], color="#888", lw=1)
    ax.set_xlim(-0.02, top + 0.02)
    ax.set_ylim(-0.02, top + 0.02)
    ax.set_xlabel(f"WER {a}")
    ax.set_ylabel(f"WER {b}")
    _percent(ax.xaxis)
    _percent(ax.yaxis)
    ax.set_title("per-utterance WER")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_char_confusion(matrix, *, ax=None, normalize: bool = True, hide_hits: bool = False):
    """Heatmap of a character confusion matrix (``CorpusScore.char_confusion``); rows normalised
    to the reference character's count when ``normalize``."""
    fig, ax = axes(ax, (7, 6))
    m = matrix.to_numpy(dtype=float).copy()
    if hide_hits:
        n = min(m.shape)
        m[np.arange(n), np.arange(n)] = 0
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.nan_to_num(m / m.sum(axis=1, keepdims=True))
    im = ax.imshow(m, cmap="magma_r", aspect="auto")
    ax.set_xticks(np.arange(m.shape[1]), matrix.columns, fontsize=7)
    ax.set_yticks(np.arange(m.shape[0]), matrix.index, fontsize=7)
    ax.set_xlabel("hypothesis character")
    ax.set_ylabel("reference character")
    fig.colorbar(im, ax=ax, label="fraction of reference row" if normalize else "count")
    return fig
