"""Text labels along a time axis that stay inside the plot and never overlap.

Word and phoneme labels are centred on their spans; a label near an edge is shifted inwards
(so "THE" at 0 s is not clipped to "HE") and a label that would run into its neighbour moves
to the next row down (so "THE" and "STATION" never read "THESTATION").  Widths are measured
with matplotlib's own text layout (:class:`matplotlib.textpath.TextToPath`), in points, and
converted to seconds from the axes' size.
"""
from __future__ import annotations

import math

import numpy as np

TEACHING_FONTSIZE = 9.0  # the smallest label size of the teaching figures (reads on a projector)


def text_width_points(text: str, fontsize: float) -> float:
    """Width of ``text`` in points at ``fontsize`` (matplotlib's default font)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(str(text), FontProperties(size=fontsize), ismath=False)
    return float(width)


def axes_size_points(ax) -> tuple[float, float]:
    """(width, height) of ``ax`` in points, from the figure size and the axes' position after the
    figure's layout engine (constrained layout) has placed it."""
    fig = ax.get_figure(root=True)
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
    box = ax.get_position()
    return fig.get_figwidth() * 72.0 * box.width, fig.get_figheight() * 72.0 * box.height


def place_labels(items, *, lo: float, hi: float, ax, fontsize: float, rows: int = 3,
                 pad_points: float = 3.0) -> list[tuple[float, int] | None]:
    """Positions for labels ``items`` = ``[(text, start, end), ...]`` inside ``[lo, hi]`` seconds.

    Returns, per item, ``(x, row)`` (the label's centre in seconds and its row, 0 = top) or
    ``None`` when the span is outside the range or no row has room for it.
    """
    width_pt, _ = axes_size_points(ax)
    if not (hi > lo) or width_pt <= 0:
        return [None] * len(items)
    per_point = (hi - lo) / (0.9 * width_pt)  # seconds per point, 10% slack for layout changes
    right_edge = [-math.inf] * rows
    out: list[tuple[float, int] | None] = [None] * len(items)
    order = sorted(range(len(items)), key=lambda k: (items[k][1] + items[k][2]) / 2)
    for k in order:
        text, start, end = items[k]
        if end <= lo or start >= hi or not str(text):
            continue
        half = 0.5 * text_width_points(text, fontsize) * per_point
        pad = pad_points * per_point
        centre = min(max((start + end) / 2, lo + half), hi - half)
        for row in range(rows):
            if right_edge[row] + pad <= centre - half:
                right_edge[row] = centre + half
                out[k] = (centre, row)
                break
    return out


def row_step(ax, fontsize: float) -> float:
    """Height of one label row as a fraction of the axes' height."""
    _, height_pt = axes_size_points(ax)
    return 1.35 * fontsize / max(height_pt, 1.0)


def place_point_labels(ax, xs, ys, texts, *, fontsize: float, marker_points=4.0,
                       order=None) -> list[tuple[float, float, str, str] | None]:
    """Offsets for labels of scatter points that overlap no other label, no other point and stay
    inside the axes (greedy over eight positions around each point, in ``order``; call after the
    axes limits are final).  ``marker_points``: the markers' radius in points, one for all or one
    per point (a ringed point needs its label further out).

    Returns, per point, ``(dx, dy, ha, va)`` in points for :meth:`~matplotlib.axes.Axes.annotate`
    with ``textcoords="offset points"``, or ``None`` where no position is free.
    """
    width_pt, height_pt = axes_size_points(ax)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    px = [(float(x) - x0) / (x1 - x0) * width_pt for x in xs]
    py = [(float(y) - y0) / (y1 - y0) * height_pt for y in ys]
    h = 1.2 * fontsize
    radii = [float(r) for r in np.broadcast_to(np.asarray(marker_points, dtype=float), (len(px),))]
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, str, str] | None] = [None] * len(px)
    for k in (range(len(px)) if order is None else order):
        w = text_width_points(texts[k], fontsize) + 2.0
        g = radii[k] + 1.0
        for dx, dy, ha, va in ((g, 0.0, "left", "center"), (-g, 0.0, "right", "center"), (0.0, g, "center", "bottom"),
                               (0.0, -g, "center", "top"), (g, g, "left", "bottom"), (-g, g, "right", "bottom"),
                               (g, -g, "left", "top"), (-g, -g, "right", "top")):
            left = px[k] + dx - {"left": 0.0, "right": w, "center": w / 2}[ha]
            bottom = py[k] + dy - {"bottom": 0.0, "top": h, "center": h / 2}[va]
            box = (left, bottom, left + w, bottom + h)
            if box[0] < 0 or box[1] < 0 or box[2] > width_pt or box[3] > height_pt:
                continue
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                continue
            if any(j != k and box[0] - radii[j] < px[j] < box[2] + radii[j]
                   and box[1] - radii[j] < py[j] < box[3] + radii[j] for j in range(len(px))):
                continue
            placed.append(box)
            out[k] = (dx, dy, ha, va)
            break
    return out
