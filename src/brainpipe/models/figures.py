"""Figures every model's report section shares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.figures import new_figure

__all__ = ["training_curves_figure"]


def training_curves_figure(history, title):
    """Training and validation loss per epoch, and the loss terms (log scale)."""
    fig = new_figure(10, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    h = pd.DataFrame(history)
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
    fig.tight_layout()
    return fig
