"""DemoVAE's report figures: latent-demographic correlations, real vs synthetic FC, harmonization."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_figure

__all__ = ["correlation_figure", "fc_pair_figure", "harmonization_figure"]


def correlation_figure(r, names):
    fig = new_figure(max(4.0, 0.5 * len(names) + 2), 5)
    ax = fig.subplots()
    im = ax.imshow(r, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("latent")
    ax.set_title("latent vs demographic (Pearson r)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def fc_pair_figure(a, b, titles):
    fig = new_figure(9, 4)
    axes = fig.subplots(1, 2)
    for ax, m, t in zip(axes, (a, b), titles):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(t, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="r")
    return fig


def harmonization_figure(table, site_column):
    targets = list(dict.fromkeys(table["target"]))
    fig = new_figure(3.2 * len(targets) + 1, 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(targets)))
    for ax, target in zip(axes, targets):
        sub = table[table["target"] == target]
        ax.bar(sub["method"], sub["score"], color=["#777777", "#1f77b4", "#ff7f0e"][: len(sub)])
        ax.axhline(float(sub["chance"].iloc[0]), ls="--", color="k", lw=1)
        ax.set_title(f"{target} ({sub['metric'].iloc[0]})", fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return fig
