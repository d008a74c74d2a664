"""Causal smoothing of pseudo-online decisions.

An online BCI may hold back a decision until the last few windows agree. Both
smoothers here look only at the current window and the ``k - 1`` windows
before it, so they stay causal: decision ``i`` depends on windows
``max(0, i - k + 1) .. i``. At the start of a run fewer than ``k`` windows
exist and the smoother uses the ones it has. ``k = 1`` returns the input.

Smoothing adds latency: with a step of ``s`` seconds, a vote over ``k``
windows needs about ``(k - 1) * s`` seconds more to follow a change of task.
"""

from __future__ import annotations

import numpy as np

from .._check import check_option, check_positive_int

SMOOTHING_METHODS = ("vote", "proba")


def majority_vote(labels, k):
    """Causal majority vote over the last ``k`` decisions.

    Parameters
    ----------
    labels : array-like, shape (n_windows,)
        Decisions in time order (any hashable labels).
    k : int
        Number of windows in the vote (>= 1).

    Returns
    -------
    smoothed : ndarray, shape (n_windows,)
        The most frequent label among the last ``k`` decisions; a tie goes to
        the tied label decided most recently (the freshest evidence).
    """
    labels = np.asarray(labels)
    k = check_positive_int(k, "k")
    if k == 1 or labels.size == 0:
        return labels.copy()
    names, codes = np.unique(labels, return_inverse=True)
    n, m = codes.size, names.size
    onehot = np.zeros((n + 1, m), dtype=np.int64)
    onehot[np.arange(1, n + 1), codes] = 1
    cum = np.cumsum(onehot, axis=0)  # cum[i] = counts over decisions < i
    hi = np.arange(1, n + 1)
    lo = np.maximum(hi - k, 0)
    counts = cum[hi] - cum[lo]  # (n, m) votes over the window of decisions
    # Most recent decision index of each label up to i, for the tie rule.
    idx = np.where(onehot[1:].astype(bool), np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    key = counts * (n + 1) + (idx + 1)
    return names[np.argmax(key, axis=1)]


def average_probabilities(proba, k):
    """Causal moving average of class probabilities over the last ``k`` windows.

    Parameters
    ----------
    proba : ndarray, shape (n_windows, n_classes)
        Class probabilities (or any scores where larger means more likely),
        rows in time order.
    k : int
        Number of windows averaged (>= 1).

    Returns
    -------
    smoothed : ndarray, shape (n_windows, n_classes)
        Row ``i`` is the mean of rows ``max(0, i - k + 1) .. i``.
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(f"proba must be 2D (n_windows, n_classes), got {proba.shape}.")
    k = check_positive_int(k, "k")
    n = proba.shape[0]
    cum = np.zeros((n + 1, proba.shape[1]))
    np.cumsum(proba, axis=0, out=cum[1:])
    hi = np.arange(1, n + 1)
    lo = np.maximum(hi - k, 0)
    return (cum[hi] - cum[lo]) / (hi - lo)[:, None]


def smooth_decisions(labels, k, *, method="vote", proba=None, classes=None):
    """Smooth decisions with :func:`majority_vote` or :func:`average_probabilities`.

    Parameters
    ----------
    labels : array-like, shape (n_windows,)
        Raw decisions in time order.
    k : int
        Number of windows (1 = no smoothing).
    method : {"vote", "proba"}
        ``"proba"`` averages ``proba`` and takes the arg-max class; it falls
        back to ``"vote"`` when ``proba`` is None (classifiers without
        ``predict_proba``).
    proba : ndarray, shape (n_windows, n_classes) | None
        Class probabilities, columns in the order of ``classes``.
    classes : array-like, shape (n_classes,) | None
        Class of each column of ``proba``.

    Returns
    -------
    smoothed : ndarray, shape (n_windows,)
    """
    check_option("method", method, SMOOTHING_METHODS)
    if method == "proba" and proba is not None:
        if classes is None:
            raise ValueError("method='proba' needs the classes of the proba columns.")
        avg = average_probabilities(proba, k)
        return np.asarray(classes)[np.argmax(avg, axis=1)]
    return majority_vote(labels, k)
