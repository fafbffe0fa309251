"""Figures of Kokoro voice packs: similarity heatmap, 2-D voice map, per-row profile.
Each takes ``ax=`` and returns the figure (never shows it)."""
from __future__ import annotations

import numpy as np

from .figure import axes
from .labels import TEACHING_FONTSIZE, place_point_labels

_LANG_COLOURS = {"en-us": "#1f77b4", "en-gb": "#d62728", "es": "#ff7f0e", "fr": "#9467bd", "hi": "#8c564b",
                 "it": "#2ca02c", "ja": "#e377c2", "pt-br": "#bcbd22", "zh": "#17becf"}


def plot_similarity(matrix, *, ax=None, annotate: bool | None = None, cmap: str = "viridis"):
    """Heatmap of a voice cosine-similarity DataFrame (from ``similarity_matrix``)."""
    n = len(matrix)
    fig, ax = axes(ax, (max(6.5, 0.22 * n + 2), max(5.5, 0.22 * n + 1.5)))
    values = matrix.to_numpy(dtype=float)
    off = values[~np.eye(n, dtype=bool)] if n > 1 else values.ravel()
    im = ax.imshow(values, cmap=cmap, vmin=float(off.min()) if off.size else 0, vmax=1.0)
    ax.set_xticks(range(n), matrix.columns, rotation=90, fontsize=7 if n > 20 else 10)
    ax.set_yticks(range(n), matrix.index, fontsize=7 if n > 20 else 10)
    if annotate or (annotate is None and n <= 10):
        for i in range(n):
            for j in range(n):
                bright = im.norm(values[i, j]) > 0.6  # dark text on the bright end of the colour map
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=TEACHING_FONTSIZE,
                        color="k" if bright else "w")
    row, part = matrix.attrs.get("row"), matrix.attrs.get("part", "all")
    ax.set_title(f"voice cosine similarity\n{_row_words(row, part)}", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _row_words(row, part: str) -> str:
    """What a pack row and part mean, for titles: row ``i`` styles inputs of ``i + 1`` phonemes."""
    half = {"timbre": "timbre half (dims 0-127)", "prosody": "prosody half (dims 128-255)"}.get(part, "all 256 dims")
    return f"row {row} = style for {row + 1}-phoneme inputs, {half}" if row is not None else half


def plot_voice_map(vmap, *, ax=None, highlight: str | None = None, labels: bool = True,
                   fontsize: float = TEACHING_FONTSIZE):
    """Voices as points coloured by language (circle female, square male), blends as stars,
    ``highlight`` (a voice or blend name on the map) ringed in black.  Names are written where
    they overlap no other name or point (the highlighted and blended ones first); the legend sits
    outside the axes so it covers no point."""
    fig, ax = axes(ax, (9.0, 6.0))
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
    if highlight is not None:
        hit = df[df.name == highlight]
        if len(hit):
            ax.scatter(hit.x, hit.y, s=260, facecolors="none", edgecolors="k", linewidths=2,
                       label=f"current: {highlight}")
    ax.margins(0.08)
    var = f" · {sum(vmap.explained):.0%} variance" if vmap.explained else ""
    ax.set_title(f"voice map ({vmap.method.upper()}{var})\n{_row_words(vmap.row, vmap.part)}", fontsize=10)
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if labels and len(df):
        names = [str(n) for n in df["name"]]
        first = [k for k, n in enumerate(names) if n == highlight or df["kind"].iloc[k] == "blend"]
        order = first + [k for k in range(len(names)) if k not in first]
        radii = [9.0 if n == highlight else 6.5 if df["kind"].iloc[k] == "blend" else 3.5
                 for k, n in enumerate(names)]
        spots = place_point_labels(ax, df["x"].to_numpy(), df["y"].to_numpy(), names, fontsize=fontsize, order=order,
                                   marker_points=radii)
        for name, x, y, spot in zip(names, df["x"], df["y"], spots):
            if spot is not None:
                ax.annotate(name, (x, y), xytext=spot[:2], textcoords="offset points", ha=spot[2], va=spot[3],
                            fontsize=fontsize)
        hidden = sum(s is None for s in spots)
        if hidden:
            ax.set_xlabel(f"dim 1  ({hidden} of {len(names)} names left out where points crowd; all in vmap.coords)")
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
