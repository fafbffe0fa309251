"""The one place plot functions get their figure and axes.

Figures are made with :class:`matplotlib.figure.Figure`, not ``pyplot``, so a plot function
never registers a figure with pyplot's state machine: a notebook cell shows the returned
figure once (through its rich repr), never twice, and nothing leaks between calls.
"""
from __future__ import annotations


def new_figure(figsize: tuple[float, float] = (6.4, 4.0), *, dpi: float | None = None):
    """A constrained-layout figure detached from pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def axes(ax=None, figsize: tuple[float, float] = (6.4, 4.0)):
    """``(figure, axes)``: the given ``ax`` and its figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()
