"""Offline BCI figures: scores per pipeline and class-mean covariance matrices.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot),
so they render with the Agg canvas whatever backend the user configured, and
no global figure state leaks between calls.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_offline_scores", "plot_class_covariances"]

_EVAL_COLORS = {"within-session": "tab:blue", "cross-session": "tab:orange"}


def plot_offline_scores(results, chance=None, title="", score_label="score"):
    """Scores per pipeline, one panel per evaluation, one dot per session.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of :func:`brainpipe.bci.offline.evaluate_offline` (columns
        ``pipeline``, ``evaluation``, ``session``, ``score``).
    chance : float | None
        Chance level drawn as a dashed line (0.5 for ROC-AUC or nMCC, 1/N
        for N-class accuracy).
    title : str
        Figure title.
    score_label : str
        Y-axis label (the metric's name).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    evaluations = list(dict.fromkeys(results["evaluation"]))
    pipelines = list(dict.fromkeys(results["pipeline"]))
    fig = Figure(figsize=(1.6 + 1.1 * len(pipelines) * len(evaluations), 3.6), layout="constrained")
    axes = fig.subplots(1, len(evaluations), sharey=True, squeeze=False)[0]
    rng = np.random.default_rng(0)  # fixed jitter: same picture for same results
    for ax, evaluation in zip(axes, evaluations):
        sub = results[results["evaluation"] == evaluation]
        color = _EVAL_COLORS.get(evaluation, "tab:gray")
        for i, name in enumerate(pipelines):
            scores = sub.loc[sub["pipeline"] == name, "score"].to_numpy(dtype=float)
            if scores.size == 0:
                continue
            ax.bar(i, scores.mean(), width=0.6, color=color, alpha=0.35)
            ax.scatter(i + rng.uniform(-0.12, 0.12, scores.size), scores, s=18, color=color,
                       zorder=3)
            # mean written above the axes' data range so it never hides a dot
            ax.text(i, 1.07, f"{scores.mean():.2f}", ha="center", va="bottom", fontsize=8)
        if chance is not None:
            ax.axhline(chance, ls="--", lw=1, color="k", label="chance")
        ax.set_xticks(range(len(pipelines)), pipelines, rotation=30, ha="right")
        ax.set_title(evaluation)
        ax.set_ylim(min(0.0, float(np.nanmin(results["score"])) - 0.05), 1.15)
    axes[0].set_ylabel(score_label)
    if chance is not None:
        axes[-1].legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_class_covariances(covariances, ch_names=None, title=""):
    """Class-mean covariance matrices side by side, one row per kind.

    Parameters
    ----------
    covariances : dict of str to dict of str to ndarray
        ``{row_title: {class_name: matrix}}``; each matrix has shape
        (n, n) (n = n_channels, or n_channels * order for an augmented
        covariance). A row shares one colour scale.
    ch_names : list of str | None
        Channel names, shown as ticks on rows whose matrices are
        (n_channels, n_channels).
    title : str
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    rows = list(covariances)
    n_cols = max(len(v) for v in covariances.values())
    fig = Figure(figsize=(3.3 * n_cols + 0.8, 3.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, row in enumerate(rows):
        mats = covariances[row]
        vmax = max(np.abs(m).max() for m in mats.values())
        im = None
        for c, (label, mat) in enumerate(mats.items()):
            ax = axes[r, c]
            im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_title(str(label), fontsize=9)
            if c == 0:
                ax.set_ylabel(row, fontsize=9)
            if ch_names is not None and mat.shape[0] == len(ch_names) and len(ch_names) <= 32:
                ax.set_xticks(range(len(ch_names)), ch_names, rotation=90, fontsize=6)
                ax.set_yticks(range(len(ch_names)), ch_names, fontsize=6)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
        for c in range(len(mats), n_cols):
            axes[r, c].set_axis_off()
        fig.colorbar(im, ax=list(axes[r, : len(mats)]), shrink=0.8, label="µV²")
    if title:
        fig.suptitle(title)
    return fig

