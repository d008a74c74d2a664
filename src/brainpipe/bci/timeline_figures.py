"""Decision timelines of the pseudo-online evaluation: labels and decisions over a run's time.

* :func:`plot_decision_timeline`: one run, the true window labels on top and
  each pipeline's decisions below, idle in grey;
* :func:`plot_decision_timelines`: every split of a subject in one figure
  (one row per test run, one column per evaluation), the one timeline file
  the ``bci_pseudo_online`` rule declares per subject.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, no
backend switch), saved by the caller through
:func:`brainpipe.io.figures.save_figure`.
"""

from __future__ import annotations

import numpy as np

from ..io.figures import new_figure, new_subplots
from .labels import IDLE

__all__ = ["plot_decision_timeline", "plot_decision_timelines"]

_IDLE_COLOR = "#c8c8c8"


def _label_colors(labels):
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    colors, j = {}, 0
    for lab in labels:
        if lab == IDLE:
            colors[lab] = _IDLE_COLOR
        else:
            colors[lab] = cmap(j % 10)
            j += 1
    return colors


def plot_decision_timeline(times, y_true, predictions, labels, *, title="", zoom=60.0):
    """Decision timeline of one run.

    One band per row: the true window labels on top, then each pipeline's
    decisions, coloured by label (idle grey), against the decision time (end
    of each window). The whole run is drawn on top and, for long runs, its
    first ``zoom`` seconds below so that single decisions stay visible.

    Parameters
    ----------
    times : ndarray, shape (n_windows,)
        Decision times (s).
    y_true : ndarray of str, shape (n_windows,)
        True labels.
    predictions : dict of str to ndarray, shape (n_windows,)
        Decisions per pipeline.
    labels : sequence of str
        All labels (``"idle"`` first), fixes the colours.
    title : str
    zoom : float | None
        Length (s) of the zoomed panel; None or a run shorter than twice
        this draws the whole run only.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    times = np.asarray(times, dtype=float)
    spans = _spans(times, zoom)
    fig, axes = new_subplots(len(spans), 1, figsize=(11, _band_height(predictions) * len(spans) + 0.4),
                             squeeze=False)
    _draw_timeline(axes[:, 0], times, y_true, predictions, labels, spans)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(handles=_legend_handles(labels), loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      frameon=False)
    fig.tight_layout()
    return fig


def plot_decision_timelines(decisions, labels, *, title="", zoom=60.0):
    """Every split's decision timeline in one figure (one file per subject).

    One row per test run (session, run), one column per evaluation; each
    cell is :func:`plot_decision_timeline`'s picture of that split. A cell
    whose run the evaluation did not test says so.

    Parameters
    ----------
    decisions : list of dict
        :attr:`~brainpipe.bci.online_evaluation.PseudoOnlineResult.decisions`
        (keys evaluation, session, run, pipeline, times, y_true, y_pred).
    labels : sequence of str
        All labels (``"idle"`` first), fixes the colours.
    title : str
    zoom : float | None
        See :func:`plot_decision_timeline`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    cells = {}
    for d in decisions:
        cells.setdefault((d["session"], d["run"]), {}).setdefault(d["evaluation"], []).append(d)
    evaluations = list(dict.fromkeys(d["evaluation"] for d in decisions))
    if not cells:
        fig = new_figure(6, 1.2)
        fig.text(0.5, 0.5, "No test run: the runs allow no split.", ha="center", va="center")
        return fig
    n_spans = max(len(_spans(np.asarray(d["times"], dtype=float), zoom)) for d in decisions)
    most = max((ds for c in cells.values() for ds in c.values()), key=len)
    height = _band_height(most) * n_spans + 0.5
    fig = new_figure(11 * len(evaluations), height * len(cells) + 0.8, layout="constrained")
    grid = fig.subfigures(len(cells), len(evaluations), squeeze=False)
    for (session, run), row in zip(cells, grid):
        for ev, sub in zip(evaluations, row):
            ds = cells[(session, run)].get(ev)
            if not ds:
                sub.text(0.5, 0.5, f"ses-{session} run-{run}: not a {ev} test run", ha="center", va="center")
                continue
            times = np.asarray(ds[0]["times"], dtype=float)
            spans = _spans(times, zoom)
            axes = sub.subplots(len(spans), 1, squeeze=False)[:, 0]
            _draw_timeline(axes, times, ds[0]["y_true"], {d["pipeline"]: d["y_pred"] for d in ds}, labels, spans)
            axes[0].set_title(f"ses-{session} run-{run} ({ev})")
    fig.legend(handles=_legend_handles(labels), loc="outside upper right", ncols=len(labels), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _spans(times, zoom):
    """x ranges to draw: the whole run, and its first ``zoom`` s when it is long."""
    half = (times[1] - times[0]) / 2 if len(times) > 1 else 0.5
    spans = [(times[0] - half, times[-1] + half)]
    if zoom is not None and times[-1] - times[0] > 2 * zoom:
        spans.append((times[0] - half, times[0] + zoom))
    return spans


def _band_height(predictions):
    return 0.5 * (len(predictions) + 1) + 0.9


def _legend_handles(labels):
    from matplotlib.patches import Patch

    colors = _label_colors(labels)
    return [Patch(color=colors[lab], label=lab) for lab in labels]


def _draw_timeline(axes, times, y_true, predictions, labels, spans):
    """True labels and each pipeline's decisions as coloured bands, one axes per span."""
    from matplotlib.colors import ListedColormap

    labels = list(labels)
    code = {lab: i for i, lab in enumerate(labels)}
    rows = [("true", y_true)] + list(predictions.items())
    grid = np.array([[code[v] for v in np.asarray(r)] for _, r in rows])
    colors = _label_colors(labels)
    half = spans[0][1] - times[-1]
    cmap = ListedColormap([colors[lab] for lab in labels])
    for ax, (lo, hi) in zip(axes, spans):
        ax.imshow(
            grid, aspect="auto", interpolation="nearest", cmap=cmap,
            vmin=-0.5, vmax=len(labels) - 0.5,
            extent=(times[0] - half, times[-1] + half, len(rows) - 0.5, -0.5),
        )
        ax.set_xlim(lo, hi)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([name for name, _ in rows])
        ax.axhline(0.5, color="k", lw=1)
        ax.set_xlabel("decision time (s, window end)")
