"""Figures of Kokoro voice packs: similarity heatmap, 2-D voice map, per-row profile.
Each takes ``ax=`` and returns the figure (never shows it)."""
from __future__ import annotations

import numpy as np
from .figure import axes

_LANG_COLOURS = {"en-us": "#1f77b4", "en-gb": "#d62728", "es": "#ff7f0e", "fr": "#9467bd", "hi": "#8c564b",
                 "it": "#2ca02c", "ja": "#e377c2", "pt-br": "#bcbd22", "zh": "#17becf"}


def plot_similarity(matrix, *, ax=None, annotate: bool | None = None, cmap: str = "viridis"):
    """Heatmap of a voice cosine-similarity DataFrame (from ``similarity_matrix``)."""
    n = len(matrix)
    fig, ax = axes(ax, (max(4, 0.22 * n + 2), max(3.5, 0.22 * n + 1.5)))
    values = matrix.to_numpy(dtype=float)
    off = values[~np.eye(n, dtype=bool)] if n > 1 else values.ravel()
    im = ax.imshow(values, cmap=cmap, vmin=float(off.min()) if off.size else 0, vmax=1.0)
    ax.set_xticks(range(n), matrix.columns, rotation=90, fontsize=7 if n > 20 else 9)
    ax.set_yticks(range(n), matrix.index, fontsize=7 if n > 20 else 9)
    if annotate or (annotate is None and n <= 10):
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    row, part = matrix.attrs.get("row"), matrix.attrs.get("part", "all")
    ax.set_title(f"voice cosine similarity (row {row}, {part})")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_voice_map(vmap, *, ax=None, highlight: str | None = None, labels: bool = True):
    """Voices as points coloured by language (circle female, square male), blends as stars,
    ``highlight`` (a voice or blend name on the map) ringed in black."""
    fig, ax = axes(ax, (6, 5))
    df = vmap.coords
    for (lang, kind), g in df.groupby(["language", "kind"], sort=True):
        colour = _LANG_COLOURS.get(lang, "#7f7f7f")
        if kind == "blend":
            ax.scatter(g.x, g.y, marker="*", s=160, c=colour, edgecolors="k", linewidths=0.6, label=f"blend ({lang})")
            continue
        for gender, marker in (("female", "o"), ("male", "s"), ("unknown", "^")):
            h = g[g.gender == gender]
            if len(h):
                ax.scatter(h.x, h.y, marker=marker, s=36, c=colour, alpha=0.85, label=f"{lang} {gender}")
    if labels:
        for _, r in df.iterrows():
            ax.annotate(r["name"], (r.x, r.y), fontsize=6.5, xytext=(3, 2), textcoords="offset points")
    if highlight is not None:
        hit = df[df.name == highlight]
        if len(hit):
            ax.scatter(hit.x, hit.y, s=260, facecolors="none", edgecolors="k", linewidths=2, label=f"current: {highlight}")
    var = f" · {sum(vmap.explained):.0%} variance" if vmap.explained else ""
    ax.set_title(f"voice map ({vmap.method.upper()}, row {vmap.row}, {vmap.part}){var}")
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    ax.legend(fontsize=7, frameon=False, loc="best", ncol=2)
    return fig


def plot_row_profile(profile, *, ax=None):
    """Cosine of each row to row 0 and the row norm, timbre half vs prosody half, against phoneme count."""
    fig, ax = axes(ax, (7, 3.4))
    f = profile.frame
    ax.plot(f.phonemes, f.cos0_timbre, color="#1f77b4", label="timbre: cosine to row 0")
    ax.plot(f.phonemes, f.cos0_prosody, color="#d62728", label="prosody: cosine to row 0")
    ax.set_xlabel("phonemes in the input (row + 1)")
    ax.set_ylabel("cosine to row 0")
    twin = ax.twinx()
    twin.plot(f.phonemes, f.norm_timbre, color="#1f77b4", ls=":", label="timbre: norm")
    twin.plot(f.phonemes, f.norm_prosody, color="#d62728", ls=":", label="prosody: norm")
    twin.set_ylabel("L2 norm (dotted)")
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, frameon=False, loc="lower left")
    ax.set_title(f"{profile.voice}: how the style vector changes with length")
    return fig
