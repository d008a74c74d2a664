"""Training sets cut from continuous runs: pure task/idle windows and offline epochs.

Beside :mod:`brainpipe.bci.labels` (which labels every window of a run):
:func:`training_windows` keeps the windows one label covers wholly, with
idle thinned; :func:`offline_epochs` cuts the cue-locked task epochs the
offline evaluation scores.
"""

from __future__ import annotations

import numpy as np

from .labels import IDLE, sample_labels, window_coverage

__all__ = ["offline_epochs", "training_windows"]


def training_windows(run, window, step, classes, idle_ratio=1.0):
    """Pure task and idle windows of a training run.

    A window is kept when one label covers all of it: wholly inside a task
    period (the offline task epochs, cut as windows) or wholly inside an idle
    stretch (the idle epochs). Idle windows are thinned evenly in time to at
    most ``idle_ratio`` times the mean count of a task class.

    Parameters
    ----------
    run : ContinuousRun
    window, step : int
        Window length and step in samples.
    classes : tuple of str
        Task classes.
    idle_ratio : float | None
        None keeps every idle window.

    Returns
    -------
    idx : ndarray of int, shape (n_kept,)
        Indices among ``window_starts(run.n_times, window, step)``.
    y : ndarray of str, shape (n_kept,)
    """
    from ..kernels import window_starts

    starts = window_starts(run.n_times, window, step)
    codes, names = sample_labels(run.events, run.n_times, run.sfreq, classes=classes)
    counts, _ = window_coverage(codes, starts, window, len(names))
    pure = counts.max(axis=1) == window
    idx = np.flatnonzero(pure)
    y = np.asarray(names)[counts[idx].argmax(axis=1)]
    if idle_ratio is not None:
        task = y != IDLE
        n_task = np.bincount(counts[idx][task].argmax(axis=1), minlength=len(names))[1:]
        n_keep = int(np.ceil(float(idle_ratio) * n_task[n_task > 0].mean())) if task.any() else 0
        idle = np.flatnonzero(~task)
        if len(idle) > n_keep:
            chosen = idle[np.linspace(0, len(idle) - 1, n_keep).round().astype(int)] if n_keep else []
            keep = task.copy()
            keep[chosen] = True
            idx, y = idx[keep], y[keep]
    return idx, y


def offline_epochs(run, length, classes):
    """Cue-locked task epochs (the offline evaluation's trials).

    Parameters
    ----------
    run : ContinuousRun
    length : int
        Epoch length in samples, from the task start.
    classes : tuple of str

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, length)
    y : ndarray of str, shape (n_epochs,)
    """
    ev = run.events[run.events["trial_type"].isin(classes)]
    starts = np.round(ev["onset"].to_numpy() * run.sfreq).astype(int)
    ok = (starts >= 0) & (starts + length <= run.n_times)
    X = np.stack([run.data[:, s : s + length] for s in starts[ok]]) if ok.any() else None
    return X, ev["trial_type"].to_numpy()[ok].astype(str)
