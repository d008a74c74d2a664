"""Task and idle labels for continuous runs (pseudo-online BCI).

Carrara et al., "Pseudo-online framework for BCI evaluation: a MOABB
perspective", evaluate a classifier on every overlapping window of a
continuous run, so every moment of the run needs a label: a task class while
the subject performs the cued task, ``"idle"`` everywhere else (before the
first cue, between the end of a task and the next cue, after the last task).

Conventions used here (times in seconds from the first sample of the run):

* **Task period of a cue**: ``[onset + tmin, onset + tmax)``. When ``tmax`` is
  None the cue's own duration is used: ``[onset + tmin, onset + duration)``
  (our preprocessed FIF files carry 4 s cue annotations). BNCI-style MOABB
  datasets give ``tmin, tmax = dataset.interval``.
* **Overlapping cues**: a cue supersedes the one before it. If a task period
  starts before the previous one ends, the previous period is cut at the
  start of the new one (an online user switches to the new instruction when
  it appears). After this step task periods never overlap. Two cues with the
  same task start keep the one listed last.
* **Run limits**: task periods are clipped to ``[0, run_duration)``; periods
  that fall completely outside the run are dropped.
* **Idle**: every stretch of ``[0, run_duration)`` not covered by a task
  period, however short, is one idle event.

Window labels (:func:`window_labels`) work on samples, so coverage is an
exact count and ties are exact. For a window ``[s, s + window)``:

1. ``c_k`` is the fraction of the window covered by task periods of class
   ``k`` (all periods of that class together), ``c_idle = 1 - sum_k c_k``.
2. ``min_overlap`` given (default 0.5): the best task class (largest
   ``c_k``) labels the window if ``c_k >= min_overlap``; otherwise the window
   is ``"idle"``.
   ``min_overlap=None``: the paper's plurality rule, the label (idle
   included) covering most of the window wins.
3. Ties go to the *next event* (paper): among equally covering labels the one
   whose last covered sample in the window is latest wins. With
   ``min_overlap``, a task class that qualifies but covers exactly as much as
   idle is compared with idle the same way.

For windows that cross a single boundary (the usual case: idle gaps at least
one window long) ``min_overlap=0.5`` and the plurality rule give the same
labels: strictly more than half wins, an exact half goes to the later event.
They differ only for windows spanning three or more stretches (an idle gap
shorter than the window): there ``min_overlap=0.5`` calls the window idle
unless one task class covers half of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._check import check_positive_int

#: Cue names written in ``events.tsv`` (``trial_type``) by the demo, and their
#: MOABB codes. Here, not in :mod:`brainpipe.bci.dataset` (which re-exports
#: it): ``brainpipe validate`` reads it before every run, and importing the
#: dataset module loads MOABB, MNE and MNE-BIDS (about 4 s).
DEFAULT_EVENTS = {"left_hand": 1, "right_hand": 2}

IDLE = "idle"

_EVENT_COLUMNS = ("onset", "duration", "trial_type")


def _check_events(events):
    """Return ``events`` as a DataFrame with float onset/duration, str trial_type."""
    if not isinstance(events, pd.DataFrame):
        events = pd.DataFrame(events)
    missing = [c for c in _EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(
            f"events needs the columns {list(_EVENT_COLUMNS)}; missing {missing} "
            f"(got {list(events.columns)})."
        )
    out = pd.DataFrame(
        {
            "onset": events["onset"].astype(float).to_numpy(),
            "duration": events["duration"].astype(float).to_numpy(),
            "trial_type": events["trial_type"].astype(str).to_numpy(),
        }
    )
    if not np.all(np.isfinite(out["onset"])):
        raise ValueError("events has non-finite onsets.")
    return out


def task_classes(events, classes=None):
    """Sorted task classes of ``events`` (or ``classes`` checked against them).

    Parameters
    ----------
    events : DataFrame
        Columns ``onset`` (s), ``duration`` (s), ``trial_type``.
    classes : sequence of str | None
        Classes to keep. None keeps every trial type except ``"idle"`` and
        MNE's ``BAD*``/``EDGE*`` annotations.

    Returns
    -------
    classes : tuple of str
    """
    events = _check_events(events)
    if classes is None:
        found = set(events["trial_type"])
        classes = sorted(
            c for c in found if c != IDLE and not c.upper().startswith(("BAD", "EDGE"))
        )
    classes = tuple(str(c) for c in classes)
    if IDLE in classes:
        raise ValueError(f"'{IDLE}' is reserved for the idle class; rename that task.")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes has duplicates: {classes}")
    return classes


def task_periods(events, run_duration, *, tmin=0.0, tmax=None, classes=None):
    """Task period of every cue, overlaps resolved, clipped to the run.

    Parameters
    ----------
    events : DataFrame
        Cues: columns ``onset`` (s from the first sample), ``duration`` (s),
        ``trial_type``. Rows of other trial types are ignored.
    run_duration : float
        Length of the run in seconds.
    tmin : float
        Task start relative to the cue onset (s).
    tmax : float | None
        Task end relative to the cue onset (s); None uses each cue's duration.
    classes : sequence of str | None
        Task classes (see :func:`task_classes`).

    Returns
    -------
    periods : DataFrame
        Columns ``onset``, ``duration``, ``trial_type``; sorted by onset,
        non-overlapping, inside ``[0, run_duration)``.
    """
    events = _check_events(events)
    classes = task_classes(events, classes)
    cues = events[events["trial_type"].isin(classes)]
    start = cues["onset"].to_numpy() + float(tmin)
    if tmax is None:
        stop = cues["onset"].to_numpy() + cues["duration"].to_numpy()
    else:
        stop = cues["onset"].to_numpy() + float(tmax)
    if np.any(stop <= start):
        bad = cues[stop <= start].iloc[0]
        raise ValueError(
            f"Empty task period for the cue {bad['trial_type']!r} at {bad['onset']} s: "
            f"tmin={tmin}, tmax={tmax}, duration={bad['duration']}. Cues with zero "
            "duration (stim-channel events) need tmax."
        )
    # Stable sort keeps the listing order among equal starts; then a later
    # cue cuts the previous period at its own start.
    order = np.argsort(start, kind="stable")
    start, stop = start[order], stop[order]
    types = cues["trial_type"].to_numpy()[order]
    keep = np.ones(len(start), dtype=bool)
    for i in range(len(start) - 1):
        if start[i + 1] <= start[i]:
            keep[i] = False  # same start: the later-listed cue wins
        elif stop[i] > start[i + 1]:
            stop[i] = start[i + 1]
    start, stop, types = start[keep], stop[keep], types[keep]
    start = np.clip(start, 0.0, run_duration)
    stop = np.clip(stop, 0.0, run_duration)
    inside = stop > start
    return pd.DataFrame(
        {
            "onset": start[inside],
            "duration": (stop - start)[inside],
            "trial_type": types[inside],
        }
    ).reset_index(drop=True)


def add_idle_events(events, run_duration, *, tmin=0.0, tmax=None, classes=None):
    """Tile the run with task periods and ``"idle"`` events.

    Every stretch of ``[0, run_duration)`` that is not a task period becomes
    one idle event: before the first cue, between the end of a task and the
    next task, and after the last task.

    Parameters
    ----------
    events, run_duration, tmin, tmax, classes
        As in :func:`task_periods`.

    Returns
    -------
    tiled : DataFrame
        Columns ``onset``, ``duration``, ``trial_type`` (task classes and
        ``"idle"``), sorted, non-overlapping, covering ``[0, run_duration)``.
    """
    periods = task_periods(events, run_duration, tmin=tmin, tmax=tmax, classes=classes)
    rows = []
    t = 0.0
    for onset, duration, trial_type in periods.itertuples(index=False):
        if onset > t:
            rows.append((t, onset - t, IDLE))
        rows.append((onset, duration, trial_type))
        t = onset + duration
    if run_duration > t:
        rows.append((t, run_duration - t, IDLE))
    return pd.DataFrame(rows, columns=list(_EVENT_COLUMNS))


def sample_labels(events, n_times, sfreq, *, tmin=0.0, tmax=None, classes=None):
    """Label of every sample of a run as an integer code.

    Period limits are rounded to the nearest sample; a period covers samples
    ``round(onset * sfreq)`` up to, not including, ``round(end * sfreq)``.

    Parameters
    ----------
    events : DataFrame
        Cues (see :func:`task_periods`).
    n_times : int
        Number of samples of the run.
    sfreq : float
        Sampling frequency (Hz).
    tmin, tmax, classes
        As in :func:`task_periods`.

    Returns
    -------
    codes : ndarray of int, shape (n_times,)
        0 for idle, ``k + 1`` for ``classes[k]``.
    label_names : tuple of str
        ``("idle", *classes)``: the name of each code.
    """
    n_times = check_positive_int(n_times, "n_times")
    events = _check_events(events)
    classes = task_classes(events, classes)
    periods = task_periods(
        events, n_times / sfreq, tmin=tmin, tmax=tmax, classes=classes
    )
    codes = np.zeros(n_times, dtype=np.int64)
    code_of = {c: k + 1 for k, c in enumerate(classes)}
    for onset, duration, trial_type in periods.itertuples(index=False):
        a = int(round(onset * sfreq))
        b = int(round((onset + duration) * sfreq))
        codes[a:b] = code_of[trial_type]
    return codes, (IDLE, *classes)


def window_coverage(codes, starts, window, n_labels):
    """Samples of each label inside each window.

    Parameters
    ----------
    codes : ndarray of int, shape (n_times,)
        Per-sample label codes (see :func:`sample_labels`).
    starts : ndarray of int, shape (n_windows,)
        First sample of each window.
    window : int
        Window length in samples.
    n_labels : int
        Number of codes (idle + task classes).

    Returns
    -------
    counts : ndarray of int, shape (n_windows, n_labels)
        Samples of each code in each window.
    last : ndarray of int, shape (n_windows, n_labels)
        Index of the last sample of each code in each window, -1 if absent.
    """
    codes = np.asarray(codes)
    starts = np.asarray(starts, dtype=np.int64)
    window = check_positive_int(window, "window")
    stops = starts + window
    if starts.size and (starts.min() < 0 or stops.max() > codes.size):
        raise ValueError(
            f"Windows run outside the {codes.size} samples of the run "
            f"(first start {starts.min()}, last stop {stops.max()})."
        )
    onehot = codes[None, :] == np.arange(n_labels)[:, None]  # (n_labels, n_times)
    cum = np.zeros((n_labels, codes.size + 1), dtype=np.int64)
    np.cumsum(onehot, axis=1, out=cum[:, 1:])
    counts = (cum[:, stops] - cum[:, starts]).T
    # Last index of each code at or before t, by a running maximum.
    idx = np.where(onehot, np.arange(codes.size)[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    last = idx[:, stops - 1].T
    last = np.where(last >= starts[:, None], last, -1)
    return counts, last


def window_labels(
    events,
    starts,
    window,
    n_times,
    sfreq,
    *,
    min_overlap=0.5,
    tmin=0.0,
    tmax=None,
    classes=None,
):
    """Label each window ``[start, start + window)`` of a run.

    The rule (module docstring): the task class covering the largest part of
    the window labels it if it covers at least ``min_overlap`` of it, else
    ``"idle"``; ``min_overlap=None`` is the paper's plurality rule; ties go to
    the label whose last covered sample is latest (the paper's "next event").

    Parameters
    ----------
    events : DataFrame
        Cues: columns ``onset`` (s), ``duration`` (s), ``trial_type``.
    starts : array of int, shape (n_windows,)
        First sample of each window.
    window : int
        Window length in samples.
    n_times : int
        Number of samples of the run.
    sfreq : float
        Sampling frequency (Hz).
    min_overlap : float in (0, 1] | None
        Minimum covered fraction for a task label; None for plurality.
    tmin, tmax, classes
        As in :func:`task_periods`.

    Returns
    -------
    labels : ndarray of str, shape (n_windows,)
        Task class or ``"idle"`` per window.
    """
    if min_overlap is not None and not 0.0 < float(min_overlap) <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1] or None, got {min_overlap!r}.")
    codes, names = sample_labels(
        events, n_times, sfreq, tmin=tmin, tmax=tmax, classes=classes
    )
    counts, last = window_coverage(codes, starts, window, len(names))
    return np.asarray(names, dtype=object)[
        _choose(counts, last, window, min_overlap)
    ].astype(str)


def _choose(counts, last, window, min_overlap):
    """Code chosen for each window from its coverage (see :func:`window_labels`)."""
    n = counts.shape[0]
    if n == 0 or counts.shape[1] == 1:  # no windows, or no task class: all idle
        return np.zeros(n, dtype=np.int64)
    # Lexicographic key (coverage, last sample): the max is the plurality
    # winner with ties to the later event. Scaling by (window + 1) keeps the
    # second key from ever outweighing one sample of coverage.
    key = counts * (window + 1) + (last + 1)
    if min_overlap is None:
        return np.argmax(key, axis=1)
    task_key = key[:, 1:]
    best = 1 + np.argmax(task_key, axis=1)
    rows = np.arange(n)
    # A task needs min_overlap of the window (1e-9 absorbs float rounding of
    # e.g. 0.5 * window); a qualifying task that ties with idle is then
    # compared with idle on the later-event key.
    qualifies = counts[rows, best] >= float(min_overlap) * window - 1e-9
    beats_idle = key[rows, best] > key[:, 0]
    tie_idle = counts[rows, best] == counts[:, 0]
    wins = qualifies & (~tie_idle | beats_idle)
    return np.where(wins, best, 0)
