"""Figures written by stages: one way to make and save them.

Library code never switches matplotlib's backend or touches pyplot's global
state: a :class:`matplotlib.figure.Figure` is made directly (it needs no GUI
backend) and saved atomically, so a failed step leaves no half-written PNG.
"""

from __future__ import annotations

from .atomic import atomic_path

__all__ = ["new_figure", "save_figure"]


def new_figure(width=6.0, height=4.0, **kwargs):
    """A pyplot-free :class:`matplotlib.figure.Figure` of ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), **kwargs)


def save_figure(fig, path, dpi=100):
    """Save ``fig`` as PNG at ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path
