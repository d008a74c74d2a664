"""BrainMAE's group figures: training curves, ROI similarity vs FC, probe scores."""

from __future__ import annotations

import numpy as np

from ..io.figures import save_figure

__all__ = ["plot_probe", "plot_similarity", "plot_training"]


def plot_training(history, path):
    """Training and held-out loss curves of the pretraining."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ep = history["epoch"] + 1
    ax1.plot(ep, history["train_loss"], label="train")
    if history["val_loss"].notna().any():
        ax1.plot(ep, history["val_loss"], label="held-out subjects")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss (0.75 masked + 0.25 visible MSE)")
    ax1.legend()
    for col, lab in (("train_masked_mse", "train masked"), ("val_masked_mse", "held-out masked"),
                     ("train_visible_mse", "train visible"), ("val_visible_mse", "held-out visible")):
        if col in history:
            ax2.plot(ep, history[col], label=lab, ls="-" if "masked" in col else "--")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("MSE (z-scored signal)")
    ax2.legend(fontsize=8)
    fig.suptitle("BrainMAE pretraining")
    return save_figure(fig, path)


def plot_similarity(fc, sim, att, table, order, bounds, path):
    """Group FC beside the ROI-embedding similarity (and attention), networks grouped."""
    from matplotlib.figure import Figure

    mats = [("group FC (Pearson r)", fc), ("ROI-embedding cosine similarity", sim)]
    if att is not None:
        mats.append(("encoder attention (mean of blocks, heads)", att))
    fig = Figure(figsize=(4.6 * len(mats), 4.4))
    axes = fig.subplots(1, len(mats))
    rs = dict(zip(table["matrix"], table["pearson_r"]))
    ps = dict(zip(table["matrix"], table["p_value"]))
    for ax, (title, m), key in zip(axes, mats, [None, "embedding_cosine", "encoder_attention"]):
        m = np.array(m, dtype=float)[np.ix_(order, order)]
        off = m[~np.eye(len(m), dtype=bool)]
        if key == "encoder_attention":
            np.fill_diagonal(m, np.nan)
            im = ax.imshow(m, cmap="viridis", vmin=0, vmax=np.nanpercentile(off, 99))
        else:
            lim = np.percentile(np.abs(off), 99) or 1.0
            im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for b in bounds:
            ax.axhline(b - 0.5, color="k", lw=0.4)
            ax.axvline(b - 0.5, color="k", lw=0.4)
        if key is not None:
            title += f"\nr with FC = {rs[key]:.2f} (p = {ps[key]:.3g})"
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def plot_probe(results, path):
    """Probe score per method and target, with the chance line."""
    from matplotlib.figure import Figure

    tgts = list(dict.fromkeys(results["target"]))
    fig = Figure(figsize=(4.2 * len(tgts), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(tgts)))
    for ax, t in zip(axes, tgts):
        sub = results[results["target"] == t]
        ax.bar(sub["method"], sub["score"], yerr=sub["score_sd"], color=["tab:blue", "0.6", "tab:orange"][:len(sub)],
               capsize=3)
        ax.axhline(0.0 if sub["scoring"].iloc[0] == "r2" else 0.5, color="k", lw=0.8, ls=":")
        ax.set_title(f"{t} ({sub['scoring'].iloc[0]})")
        ax.tick_params(axis="x", labelrotation=20)
    return save_figure(fig, path)
