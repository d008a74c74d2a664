"""Figures every model's report section shares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.figures import new_figure

__all__ = ["training_curves_figure"]


def training_curves_figure(history, title, monitor=None, best_epoch=None):
    """Training and validation loss per epoch, and the loss terms (log scale).

    With ``monitor`` (the name of a validation metric other than the loss)
    a third panel shows what early stopping followed; ``best_epoch`` (the
    epoch whose weights were kept) is marked in the first and third panels.
    """
    h = pd.DataFrame(history)
    key = f"val_{monitor}" if monitor else None
    third = key is not None and key != "val_loss" and key in h and np.isfinite(h[key]).any()
    fig = new_figure(14 if third else 10, 3.6)
    axes = fig.subplots(1, 3 if third else 2)
    ax1, ax2 = axes[0], axes[1]
    ax1.plot(h["epoch"], h["train_loss"], label="train")
    if "val_loss" in h and np.isfinite(h["val_loss"]).any():
        ax1.plot(h["epoch"], h["val_loss"], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_yscale("log")
    ax1.set_title(f"{title}: total loss")
    ax1.legend()
    terms = [c for c in h.columns if c.startswith("train_") and c != "train_loss"]
    for c in terms:
        v = h[c].to_numpy(dtype=float)
        if np.all(v > 0):
            ax2.plot(h["epoch"], v, label=c[len("train_"):])
    ax2.set_yscale("log")
    ax2.set_xlabel("epoch")
    ax2.set_title("loss terms (training)")
    if terms:
        ax2.legend(fontsize=7)
    if third:
        v = h[key].to_numpy(dtype=float)
        axes[2].plot(h["epoch"], v, color="C2")
        tail = v[len(v) // 20 :]  # the first epochs' large values would flatten the rest
        lo, hi = np.nanmin(tail), np.nanmax(tail)
        if np.isfinite(lo) and hi > lo:
            axes[2].set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        axes[2].set_xlabel("epoch")
        axes[2].set_title(f"validation {monitor} (early stopping)")
    if best_epoch is not None and best_epoch >= 0:
        for ax in (ax1, axes[2]) if third else (ax1,):
            ax.axvline(best_epoch, color="0.4", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
        ax1.legend()
    fig.tight_layout()
    return fig
