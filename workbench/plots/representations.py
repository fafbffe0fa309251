"""Figures of the representation analyses: codebook usage, codes vs chars, embeddings, probes.

Every function takes keyword options and ``ax=`` and returns the figure.  Without ``ax`` a
new ``matplotlib.figure.Figure`` is made (not a pyplot figure, so nothing leaks or shows
twice in notebooks).
"""
from __future__ import annotations

import numpy as np

from .figure import axes

OTHER = "other"
MISSING_COLOUR = "#c8c8c8"
DISTINCT_ORDER = list(range(0, 20, 2)) + list(range(1, 20, 2))  # tab20's ten strong colours before their pale twins


# --------------------------------------------------------------------------- codebook
def plot_code_histogram(usage, *, group: int = 0, order: str = "index", part: str | None = None, ax=None):
    """Frames per code of one quantizer group (``order="rank"`` sorts codes by use)."""
    fig, ax = axes(ax, (7.0, 3.2))
    stats = usage.parts[part] if part is not None else usage.total
    counts = stats.counts[group]
    share = counts / max(stats.frames, 1)
    edges = np.arange(share.size + 1) - 0.5
    if order == "rank":
        share = np.sort(share)[::-1]
        ax.stairs(share, edges, fill=True, color="#3b6ea8")  # one artist, not 320 bars
        ax.set_xlabel("codes, most used first")
        ax.set_yscale("log")
    else:
        ax.stairs(share, edges, fill=True, color="#3b6ea8")
        ax.set_xlabel("code index")
    ax.set_xlim(-0.5, share.size - 0.5)
    ax.set_ylabel("share of frames")
    ax.set_title(f"{usage.model} group {group}{' · ' + part if part else ''}: {int((counts > 0).sum())}/"
                 f"{counts.size} codes used, perplexity {stats.hard_perplexity[group]:.1f} (hard) / "
                 f"{stats.soft_perplexity[group]:.1f} (soft)", fontsize=9)
    return fig


def plot_perplexity(usage, *, ax=None, max_parts: int = 30):
    """Hard and soft perplexity per group, for each partition (or the whole corpus)."""
    fig, ax = axes(ax, (7.0, 3.4))
    parts = usage.parts or {"all": usage.total}
    names = list(parts)[:max_parts]
    g = usage.num_groups
    width = 0.8 / (2 * g)
    x = np.arange(len(names))
    colours = ["#3b6ea8", "#a8c6e8", "#c0504d", "#eab3b1", "#4f8f4f", "#b5d8b5"]
    for gi in range(g):
        hard = [parts[n].hard_perplexity[gi] for n in names]
        soft = [parts[n].soft_perplexity[gi] for n in names]
        ax.bar(x + (2 * gi) * width - 0.4 + width / 2, hard, width, label=f"group {gi} hard",
               color=colours[(2 * gi) % len(colours)])
        ax.bar(x + (2 * gi + 1) * width - 0.4 + width / 2, soft, width, label=f"group {gi} soft",
               color=colours[(2 * gi + 1) % len(colours)])
    ax.axhline(usage.num_vars, color="k", lw=0.8, ls=":", label=f"max {usage.num_vars}")
    ax.set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center",
                  fontsize=8)
    ax.set_ylabel("perplexity (exp entropy)")
    ax.set_title("codebook perplexity per group: hard (chosen codes) vs soft (mean softmax)", fontsize=9)
    ax.legend(fontsize=7, ncols=2)
    return fig


def plot_code_char_heatmap(cc, *, group: int | str = 0, top: int = 40, normalize: str = "code", ax=None):
    """P(char | code) (``normalize="code"``) or P(code | char) for the ``top`` most used codes,
    codes ordered by their dominant char."""
    fig, ax = axes(ax, (8.0, 6.0))
    table = cc.contingency(group)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:top]]
    values = table.to_numpy(dtype=float)
    if normalize == "code":
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
        label = "P(char | code)"
    elif normalize == "char":
        full = cc.contingency(group).to_numpy(dtype=float).sum(axis=0)
        values = values / np.maximum(full, 1)
        label = "P(code | char)"
    else:
        label = "frames"
    order = np.lexsort((-values.max(axis=1), values.argmax(axis=1)))
    values = values[order]
    image = ax.imshow(values, aspect="auto", cmap="magma_r", interpolation="nearest")
    ax.set_xticks(np.arange(table.shape[1]), table.columns, fontsize=9)
    from .labels import axes_size_points

    _, height_pt = axes_size_points(ax)  # code labels as large as their rows allow
    ax.set_yticks(np.arange(values.shape[0]), [str(c) for c in table.index[order]],
                  fontsize=float(np.clip(0.85 * height_pt / max(values.shape[0], 1), 6.0, 10.0)))
    ax.set_xlabel("aligned character (∅ = blank)")
    ax.set_ylabel(f"code ({'pair' if group == 'pair' else f'group {group}'})")
    ax.set_title(f"codes vs characters, NMI {cc.nmi(group):.3f}", fontsize=9)
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    return fig


def plot_code_sequence(codes: np.ndarray, chars, *, group: int = 0, frame_seconds: float = 0.02,
                       title: str = "", ax=None):
    """One utterance's codes of ``group`` over time, aligned chars written above them."""
    fig, ax = axes(ax, (9.0, 2.8))
    codes = np.asarray(codes).reshape(len(codes), -1)[:, group]
    t = np.arange(len(codes)) * frame_seconds
    ax.step(t, codes, where="post", lw=0.8, color="#3b6ea8")
    ax.scatter(t, codes, s=4, color="#3b6ea8")
    top = codes.max() if codes.size else 1
    prev = ""
    for ti, c in zip(t, chars if chars is not None else []):
        if c and c != prev:
            ax.text(ti, top * 1.05 + 5, c, fontsize=9, ha="left", va="bottom")
        prev = c
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"code (group {group})")
    ax.set_ylim(-5, top * 1.15 + 15)
    ax.set_title(title, fontsize=9)
    return fig


# --------------------------------------------------------------------------- embeddings
def category_values(df, color_by: str) -> np.ndarray:
    """Display values of a label column (blank as ∅, booleans as words, missing as '?')."""
    if color_by == "blank":
        return np.where(df["blank"].to_numpy(dtype=bool), "blank", "non-blank").astype(object)
    if color_by == "error":
        err = df["error"]
        return np.array(["?" if v is None or v is np.nan or str(v) == "<NA>" else ("error" if v else "correct")
                         for v in err.astype(object)], dtype=object)
    if color_by == "char":
        return np.array(["∅" if c == "" else c for c in df["char"]], dtype=object)
    if color_by == "word":
        return np.array([w if w else "(none)" for w in df["word"]], dtype=object)
    return df[color_by].astype(str).to_numpy(dtype=object)


def plot_embedding(emb, *, color_by: str = "char", highlight=None, keep=None, max_categories: int = 20, ax=None):
    """Scatter of a 2-D embedding coloured by a label column; ``highlight`` (bool mask) on top."""
    fig, ax = axes(ax, (7.0, 6.0))
    xy = emb.coords
    n = len(xy)
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if emb.labels is None or color_by is None:
        ax.scatter(xy[keep, 0], xy[keep, 1], s=3, alpha=0.6, color="#3b6ea8", linewidths=0)
    else:
        import matplotlib

        values = category_values(emb.labels, color_by)
        uniq, counts = np.unique(values[keep], return_counts=True)
        fixed = {"blank": "#d0d0d0", "non-blank": "#c0504d", "error": "#d62728", "correct": "#2ca02c", "?": "#d0d0d0",
                 "∅": "#dcdcdc"}
        ranked = [u for _, u in sorted(zip(-counts, uniq))]
        shown = ranked[:max_categories]
        cmap = matplotlib.colormaps["tab20"]
        colours = {}
        i = 0
        for u in shown:
            if u in fixed:
                colours[u] = fixed[u]
            else:
                colours[u] = cmap(DISTINCT_ORDER[i % 20])
                i += 1
        plot_values = np.array([v if v in colours else OTHER for v in values], dtype=object)
        colours[OTHER] = MISSING_COLOUR
        order = [OTHER] + [u for u in reversed(shown)]  # frequent categories drawn last (on top)
        for u in order:
            m = keep & (plot_values == u)
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=7, alpha=0.75, color=colours[u], linewidths=0,
                           label=f"{u} ({int(m.sum())})")
        if len(shown) <= 40:
            handles, labels_ = ax.get_legend_handles_labels()
            ax.legend(handles[::-1], labels_[::-1], fontsize=8, markerscale=3, loc="center left",
                      bbox_to_anchor=(1.0, 0.5), frameon=False, title=color_by, title_fontsize=9)
    if highlight is not None:
        h = np.asarray(highlight, dtype=bool) & keep
        if h.any():
            ax.scatter(xy[h, 0], xy[h, 1], s=22, facecolors="none", edgecolors="k", linewidths=0.9,
                       label="selected")
    name = emb.method.upper()
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    layer = f" layer {emb.layer}" if emb.layer is not None else ""
    ax.set_title(f"{emb.model}{layer}: {name} of {int(keep.sum())} points", fontsize=9)
    return fig


# --------------------------------------------------------------------------- probes
def plot_probe(probe, *, ax=None):
    """Held-out probe accuracy against layer, with the majority-class chance line."""
    fig, ax = axes(ax, (5.5, 3.5))
    ax.plot(probe.layers, probe.accuracy, "o-", color="#3b6ea8", label="held-out accuracy")
    ax.plot(probe.layers, probe.train_accuracy, "o--", color="#a8c6e8", label="train accuracy")
    ax.axhline(probe.chance, color="#c0504d", ls=":", label=f"chance (always '{probe.majority}')")
    ax.set_xticks(probe.layers)
    ax.set_xlabel("layer (0 = feature projection)")
    ax.set_ylabel("char accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"linear probe {probe.model}: {probe.test_frames} held-out frames", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def plot_cka(cka, *, ax=None):
    """Layer x layer linear CKA heatmap."""
    fig, ax = axes(ax, (4.6, 4.0))
    image = ax.imshow(cka.matrix, vmin=0, vmax=1, cmap="viridis", origin="lower")
    ax.set_xticks(range(len(cka.layers)), cka.layers)
    ax.set_yticks(range(len(cka.layers)), cka.layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    for i in range(len(cka.layers)):
        for j in range(len(cka.layers)):
            v = cka.matrix[i, j]
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8 if len(cka.layers) <= 8 else 6,
                    color="w" if v < 0.6 else "k")
    ax.set_title(f"linear CKA ({cka.frames} frames)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig
