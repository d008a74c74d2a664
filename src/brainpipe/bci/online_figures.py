"""Figures and statistics of the pseudo-online evaluation.

* :func:`plot_decision_timeline` / :func:`plot_decision_timelines`
  (:mod:`brainpipe.bci.timeline_figures`): true labels and each pipeline's
  decisions over the time of one run / of every test run, idle in grey;
* :func:`plot_subject_comparison`: offline vs pseudo-online score per
  pipeline for one subject;
* :func:`group_statistics` / :func:`plot_group_comparison`: the same across
  subjects with a paired Wilcoxon signed-rank test per pipeline.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, no
backend switch) saved through :func:`brainpipe.io.figures.save_figure`.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.figures import new_figure, new_subplots, save_figure
from .timeline_figures import plot_decision_timeline, plot_decision_timelines

__all__ = [
    "DPI",
    "group_statistics",
    "plot_decision_timeline",
    "plot_decision_timelines",
    "plot_group_comparison",
    "plot_subject_comparison",
    "scores_table_html",
    "settings_html",
    "write_subject_figures",
]

#: Resolution of this module's PNGs.
DPI = 110


def _subject_means(scores, metric):
    """Mean over test runs of unsmoothed scores, per subject/evaluation/pipeline/mode."""
    s = scores[scores["smoothing"].astype(int) == 1]
    return (
        s.groupby(["subject", "evaluation", "pipeline", "mode"], sort=True)[metric]
        .mean()
        .unstack("mode")
        .reset_index()
    )


def plot_subject_comparison(scores, metric="nmcc"):
    """Offline vs pseudo-online score per pipeline for one subject.

    Parameters
    ----------
    scores : DataFrame
        Rows of :func:`brainpipe.bci.pseudo_online.evaluate_pseudo_online`.
    metric : str
        Column to plot.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    means = _subject_means(scores, metric)
    evaluations = list(dict.fromkeys(means["evaluation"]))
    fig, axes = new_subplots(1, len(evaluations), figsize=(4.5 * len(evaluations), 3.6), squeeze=False)
    for ax, ev in zip(axes[0], evaluations):
        m = means[means["evaluation"] == ev].groupby("pipeline").mean(numeric_only=True)
        x = np.arange(len(m))
        for j, mode in enumerate(["offline", "pseudo-online"]):
            if mode in m:
                ax.bar(x + (j - 0.5) * 0.38, m[mode], width=0.38, label=mode)
        ax.axhline(0.5, color="k", lw=0.8, ls=":")
        ax.set_xticks(x)
        ax.set_xticklabels(m.index, rotation=30, ha="right")
        ax.set_ylim(0, 1.15)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel(metric)
        ax.set_title(ev)
    axes[0][0].legend(frameon=False, loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def group_statistics(scores, metric="nmcc"):
    """Paired Wilcoxon signed-rank test, offline vs pseudo-online, across subjects.

    Each subject's score is the mean over its test runs (unsmoothed
    decisions); the test pairs the two modes per subject, per evaluation and
    pipeline (:func:`scipy.stats.wilcoxon`, two-sided).

    Parameters
    ----------
    scores : DataFrame
        Rows of several subjects.
    metric : str

    Returns
    -------
    stats : DataFrame
        Columns evaluation, pipeline, n_subjects, offline_mean,
        pseudo_online_mean, mean_difference (offline - pseudo-online),
        wilcoxon_statistic, p_value (NaN with fewer than 2 subjects or when
        all differences are zero).
    """
    from scipy.stats import wilcoxon

    means = _subject_means(scores, metric)
    rows = []
    for (ev, pipe), g in means.groupby(["evaluation", "pipeline"], sort=True):
        g = g.dropna(subset=[c for c in ("offline", "pseudo-online") if c in g])
        off = g["offline"].to_numpy() if "offline" in g else np.array([])
        onl = g["pseudo-online"].to_numpy() if "pseudo-online" in g else np.array([])
        stat = p = np.nan
        if len(off) >= 2 and len(off) == len(onl) and np.any(off != onl):
            res = wilcoxon(off, onl)
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append(
            {
                "evaluation": ev,
                "pipeline": pipe,
                "n_subjects": len(g),
                "offline_mean": float(np.mean(off)) if len(off) else np.nan,
                "pseudo_online_mean": float(np.mean(onl)) if len(onl) else np.nan,
                "mean_difference": float(np.mean(off - onl)) if len(off) == len(onl) and len(off) else np.nan,
                "wilcoxon_statistic": stat,
                "p_value": p,
            }
        )
    return pd.DataFrame(rows)


def plot_group_comparison(scores, metric="nmcc"):
    """Offline vs pseudo-online per pipeline across subjects, with paired Wilcoxon p.

    One panel per evaluation; per pipeline, each subject is a line from its
    offline to its pseudo-online score, the p value of the paired test above.

    Parameters
    ----------
    scores : DataFrame
        Rows of several subjects.
    metric : str

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    means = _subject_means(scores, metric)
    stats = group_statistics(scores, metric)
    evaluations = list(dict.fromkeys(means["evaluation"]))
    fig, axes = new_subplots(1, len(evaluations), figsize=(5 * len(evaluations), 3.8), squeeze=False)
    for ax, ev in zip(axes[0], evaluations):
        m = means[means["evaluation"] == ev]
        pipes = sorted(m["pipeline"].unique())
        for i, pipe in enumerate(pipes):
            g = m[m["pipeline"] == pipe]
            off = g.get("offline", pd.Series(np.nan, index=g.index)).to_numpy()
            onl = g.get("pseudo-online", pd.Series(np.nan, index=g.index)).to_numpy()
            for a, b in zip(off, onl):
                ax.plot([i - 0.18, i + 0.18], [a, b], color="0.6", lw=0.8, marker="o", ms=3)
            ax.plot([i - 0.18], [np.nanmean(off)], "s", color="C0", ms=7)
            ax.plot([i + 0.18], [np.nanmean(onl)], "s", color="C1", ms=7)
            st = stats[(stats["evaluation"] == ev) & (stats["pipeline"] == pipe)]
            p = st["p_value"].iloc[0] if len(st) else np.nan
            ax.text(i, 1.02, "p=n/a" if np.isnan(p) else f"p={p:.3g}", ha="center", fontsize=8)
        ax.axhline(0.5, color="k", lw=0.8, ls=":")
        ax.set_xticks(range(len(pipes)))
        ax.set_xticklabels(pipes, rotation=30, ha="right")
        ax.set_ylim(0, 1.08)
        ax.set_ylabel(metric)
        ax.set_title(f"{ev}: offline (left) vs pseudo-online (right)", fontsize=9)
    fig.tight_layout()
    return fig


def scores_table_html(scores):
    """Mean scores per evaluation, pipeline, mode and smoothing over the test
    runs, and the time per pipeline (HTML); the per-run rows stay in the TSV."""
    if scores.empty:
        return "<p>No scores (not enough runs or sessions for the splits).</p>"
    s = (
        scores.groupby(["evaluation", "pipeline", "mode", "smoothing"])[
            ["nmcc", "itr", "accuracy", "balanced_accuracy"]
        ]
        .mean()
        .round(3)
        .reset_index()
    )
    table = s.to_html(index=False, border=0)
    on = scores[(scores["mode"] == "pseudo-online") & (scores["smoothing"] == 1)]
    if not on.empty:
        t = on.groupby("pipeline")[["n_windows", "fit_s", "window_s", "classify_s"]].sum()
        t["windows_per_s"] = t["n_windows"] / (t["window_s"] + t["classify_s"])
        table += (
            "<p>Time per pipeline, summed over test runs: making windows or "
            "covariances (window_s) vs the rest of the pipeline (classify_s).</p>"
            + t.round(3).reset_index().to_html(index=False, border=0)
        )
    return table


def settings_html(cfg, causality_note):
    """The window, labelling, ITR and smoothing settings and the causality note (HTML)."""
    return (
        f"<p>Windows of {cfg['window']} s every {cfg['step']} s; a window is a task "
        f"window when one task covers at least {cfg['min_overlap']} of it "
        f"(ties to the later event), otherwise idle. ITR (Wolpaw, bits/min) uses "
        f"one decision per step ({cfg['step']} s) pseudo-online and one per task "
        f"epoch offline. Smoothing k = causal {html.escape(str(cfg['smoothing_method']))} "
        f"over the last k windows (1 = none).</p><p>{html.escape(causality_note)}</p>"
    )


def _entities(name):
    """BIDS entities of a file name (empty dict when it has none)."""
    import mne_bids

    try:
        return mne_bids.get_entities_from_fname(name, on_error="ignore")
    except Exception:  # a name that is not BIDS at all
        return {}


def write_subject_figures(result, cfg, out_tsv, *, figure_dir=None, fragment=None, notes=""):
    """Write one subject's pseudo-online figures and its report fragment.

    Figures (PNG, in ``figure_dir``, default beside ``out_tsv``), named from
    the entities of ``out_tsv`` (subject, task, desc):

    * ``sub-XX_task-T_desc-D_comparison.png``: offline vs pseudo-online;
    * ``sub-XX_task-T_desc-D_timeline.png``: the decision timeline of every
      test run and evaluation, one panel each (:func:`plot_decision_timelines`).

    Both names are fixed, whatever splits the runs allow, so a workflow rule
    declares them as its outputs; both are written even without scores.

    Parameters
    ----------
    result : brainpipe.bci.pseudo_online.PseudoOnlineResult
    cfg : dict
        The resolved pseudo-online config (window, step, min_overlap, ...).
    out_tsv : path-like
        The results TSV (listed as a table in the fragment).
    figure_dir : path-like | None
    fragment : path-like | None
        Fragment to write (section "Pseudo-online BCI").
    notes : str
        Causality notes shown with the settings.

    Returns
    -------
    items : list of dict
        The fragment items.
    """
    from ..io.fragments import fragment_item, write_fragment

    out_tsv = Path(out_tsv)
    figure_dir = Path(figure_dir) if figure_dir is not None else out_tsv.parent
    ent = _entities(out_tsv.name)
    task = f"_task-{ent['task']}" if ent.get("task") else ""
    desc = ent.get("description") or "pseudoonline"
    subject = result.decisions[0]["subject"] if result.decisions else ent.get("subject", "x")
    sub = f"sub-{subject}"
    png = figure_dir / f"{sub}{task}_desc-{desc}_comparison.png"
    if result.scores.empty:
        fig = new_figure(6, 1.2)
        fig.text(0.5, 0.5, "No scores: the runs allow no split.", ha="center", va="center")
    else:
        fig = plot_subject_comparison(result.scores)
    save_figure(fig, png, dpi=DPI)
    items = [fragment_item(
        "image", "Offline vs pseudo-online", path=png,
        caption="nMCC per pipeline, mean over test runs: offline task epochs "
        "vs every sliding window of the continuous run (idle included).",
    )]
    png = figure_dir / f"{sub}{task}_desc-{desc}_timeline.png"
    save_figure(plot_decision_timelines(result.decisions, result.labels, title=f"{sub}: decisions"), png, dpi=DPI)
    splits = sorted({(d["evaluation"], d["session"], d["run"]) for d in result.decisions})
    items.append(fragment_item(
        "image", "Decisions per test run", path=png,
        caption=f"True labels and unsmoothed decisions every {cfg['step']} s ({cfg['window']} s windows), "
        f"idle in grey, for each of the {len(splits)} test runs (row: session and run; column: "
        "evaluation); long runs whole, then their start.",
    ))
    # the mean over test runs, not the per-run rows (about 90 on the demo,
    # repeated per smoothing): a reader compares pipelines; the TSV keeps the rows
    items.append(fragment_item(
        "html", "Pseudo-online scores (mean over test runs)", html=scores_table_html(result.scores),
        caption=f"nMCC = (MCC + 1) / 2 (0.5 = chance), ITR in bits/min, accuracy and balanced accuracy, mean over "
        f"each evaluation's test runs (the {len(splits)} test runs of the timelines above); smoothing k: a causal "
        f"vote over the last k decisions (1 = none). One row per test run: {out_tsv.name}.",
    ))
    items.append(fragment_item("html", "Settings", html=settings_html(cfg, notes)))
    if fragment is not None:
        write_fragment(fragment, "Pseudo-online BCI", items, order=45)
    return items
