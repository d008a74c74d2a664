"""Delay-embedding criteria: choose the ACM lag and order from the data.

Carrara & Papadopoulo choose the augmented covariance's lag and order either
by grid search or, much more cheaply, by the classic embedding criteria of
nonlinear time-series analysis (Kantz & Schreiber, *Nonlinear Time Series
Analysis*, ch. 3 and 9):

- lag: first minimum of the auto mutual information (Fraser & Swinney 1986),
  estimated with an equal-width histogram as TISEAN's ``mutual`` does;
- order: Cao's averaged false nearest neighbours (Cao 1997, the ``E1``
  statistic saturating near 1) or Kennel's classic false nearest neighbours
  (Kennel, Brown & Abarbanel 1992);

each computed per channel and per trial (at most 30 of each, as the authors
do) and averaged.

Everything works on ``(n_series, n_times)`` blocks: the mutual information of
all series and one lag is a single ``bincount`` (the lag of a 288 x 22 x 1000
session takes a fraction of a second) and the neighbour searches use
``scipy.spatial.cKDTree`` and stop as soon as ``E1`` saturates. The order
search costs about 20 CPU-seconds on such a session with every point as a
reference, about 7 with ``n_ref=250``: minutes less than one grid-search
candidate.

The lag criteria are in :mod:`~brainpipe.features.mutual_information`, the
order criteria in :mod:`~brainpipe.features.neighbours`; this module
combines them over the channels and trials of a set of epochs.
"""

from __future__ import annotations

import numpy as np

from brainpipe._check import check_option, check_positive_int

from ._series import as_float_series, spread_indices
from .mutual_information import auto_mutual_information, first_minimum_ami_lag
from .neighbours import (
    cao_embedding_dimension,
    cao_statistics,
    false_nearest_neighbours,
    fnn_embedding_dimension,
)

__all__ = [
    "auto_mutual_information",
    "first_minimum_ami_lag",
    "cao_statistics",
    "cao_embedding_dimension",
    "false_nearest_neighbours",
    "fnn_embedding_dimension",
    "estimate_embedding",
]


def _round_half_up(value):
    return int(np.floor(value + 0.5))


def estimate_embedding(X, max_order=10, max_lag=10, *, method="cao", order=None,
                       lag=None, n_bins=16, threshold=None, theiler=None,
                       n_ref=None, max_trials=30, max_channels=30, n_jobs=1,
                       return_details=False):
    """Choose the ACM order and lag of epochs by embedding criteria.

    The lag is the first minimum of the auto mutual information and the order
    the embedding dimension from Cao's method (or Kennel's false nearest
    neighbours), both estimated on each channel of each trial and averaged,
    on at most ``max_trials`` trials and ``max_channels`` channels spread
    evenly over the recording (Carrara & Papadopoulo use 30 of each). The
    order is estimated at the averaged lag, the one the covariance will use.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs (a 2-D ``(n_channels, n_times)`` or 1-D array is taken as one
        trial / one channel).
    max_order : int, default=10
        Largest order (embedding dimension) considered.
    max_lag : int, default=10
        Largest lag considered, in samples.
    method : {"cao", "fnn"}, default="cao"
        Order criterion: Cao's ``E1`` saturation or Kennel's false nearest
        neighbours.
    order : int or None, default=None
        Fix the order and estimate only the lag.
    lag : int or None, default=None
        Fix the lag and estimate only the order.
    n_bins : int, default=16
        Histogram boxes for the mutual information.
    threshold : float or None, default=None
        ``E1`` saturation level (default 0.85) for ``"cao"``, largest false
        neighbour fraction (default 0.01) for ``"fnn"``.
    theiler : int or None, default=None
        Theiler window in samples; ``None`` uses the lag.
    n_ref : int or None, default=None
        Reference points per series for the neighbour statistics (``None``:
        all). 250 makes the order search about 3 times faster on 1000-sample
        epochs; the averaged order moves by about 0.1.
    max_trials, max_channels : int, default=30
        How many trials and channels enter the averages.
    n_jobs : int, default=1
        Threads for the neighbour queries (``-1``: all cores).
    return_details : bool, default=False
        Also return a dict with the per-series estimates.

    Returns
    -------
    order : int
        Averaged embedding dimension, rounded, in ``[1, max_order]``.
    lag : int
        Averaged first-minimum lag, rounded, in ``[1, max_lag]``.
    details : dict
        Only with ``return_details``: ``"trials"`` and ``"channels"`` (the
        indices used), ``"lags"`` and ``"orders"`` (per series, shape
        ``(n_used_trials, n_used_channels)``; ``None`` where fixed).
    """
    X = as_float_series(X, name="X")
    if X.ndim == 1:
        X = X[None, None]
    elif X.ndim == 2:
        X = X[None]
    elif X.ndim != 3:
        raise ValueError(
            f"X must be epochs (n_trials, n_channels, n_times), got shape {X.shape}."
        )
    max_order = check_positive_int(max_order, "max_order")
    max_lag = check_positive_int(max_lag, "max_lag")
    check_option("method", method, ("cao", "fnn"))
    if threshold is None:
        threshold = 0.85 if method == "cao" else 0.01
    trials = spread_indices(X.shape[0], check_positive_int(max_trials, "max_trials"))
    channels = spread_indices(
        X.shape[1], check_positive_int(max_channels, "max_channels")
    )
    sub = X[np.ix_(trials, channels)]
    series = sub.reshape(-1, X.shape[-1])

    lags = None
    if lag is None:
        lags = first_minimum_ami_lag(series, max_lag=max_lag, n_bins=n_bins)
        lag = min(max_lag, max(1, _round_half_up(lags.mean())))
        lags = lags.reshape(sub.shape[:2])
    else:
        lag = check_positive_int(lag, "lag")

    orders = None
    if order is None:
        if method == "cao":
            per_series = [
                cao_embedding_dimension(s, lag, max_dim=max_order, threshold=threshold,
                                        theiler=theiler, n_ref=n_ref, n_jobs=n_jobs)
                for s in series
            ]
        else:
            per_series = [
                fnn_embedding_dimension(s, lag, max_dim=max_order, threshold=threshold,
                                        theiler=theiler, n_ref=n_ref, n_jobs=n_jobs)
                for s in series
            ]
        orders = np.asarray(per_series).reshape(sub.shape[:2])
        order = min(max_order, max(1, _round_half_up(orders.mean())))
    else:
        order = check_positive_int(order, "order")

    if return_details:
        details = {"trials": trials, "channels": channels, "lags": lags,
                   "orders": orders}
        return order, lag, details
    return order, lag
