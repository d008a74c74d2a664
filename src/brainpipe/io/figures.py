"""Figures written by stages: one way to make and save them.

Library code never switches matplotlib's backend or touches pyplot's global
state: a :class:`matplotlib.figure.Figure` is made directly (it needs no GUI
backend) and saved atomically, so a failed step leaves no half-written PNG.
"""

from __future__ import annotations

from .atomic import atomic_path

__all__ = ["new_figure", "new_subplots", "save_figure"]


def new_figure(width=6.0, height=4.0, **kwargs):
    """A pyplot-free :class:`matplotlib.figure.Figure` of ``width`` x ``height`` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)  # a renderer for the libraries that measure text (nilearn)
    return fig


def new_subplots(nrows=1, ncols=1, *, figsize=(6.0, 4.0), **kwargs):
    """A pyplot-free figure and its axes, as :func:`matplotlib.pyplot.subplots` returns them.

    ``kwargs`` go to :meth:`matplotlib.figure.Figure.subplots` (``squeeze``,
    ``sharex``, ``gridspec_kw``, ...).
    """
    fig = new_figure(*figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path, dpi=100, *, bbox_inches="tight"):
    """Save ``fig`` as PNG at ``path`` atomically; return ``path``.

    A figure that pyplot manages (one that MNE or nilearn made through
    pyplot) is closed afterwards so that pyplot does not keep it alive;
    a plain :class:`~matplotlib.figure.Figure` needs no closing.
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches=bbox_inches)
    finally:
        if getattr(fig.canvas, "manager", None) is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return path
