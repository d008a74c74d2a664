"""Neighbour criteria of the embedding dimension: the ACM order.

Cao's averaged false nearest neighbours (Cao 1997: ``E1`` saturating near 1)
and Kennel's classic false nearest neighbours (Kennel, Brown & Abarbanel
1992), on one series, with ``scipy.spatial.cKDTree`` neighbour searches that
stop as soon as ``E1`` saturates; every criterion checks its series with
:func:`_check_series`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .._check import check_positive_int
from ._series import as_float_series, spread_indices

__all__ = [
    "cao_embedding_dimension",
    "cao_statistics",
    "false_nearest_neighbours",
    "fnn_embedding_dimension",
]


def _delay_vectors(x, dim, lag, n_points):
    """First ``n_points`` delay vectors ``(x_i, x_{i+lag}, ...)``: (n_points, dim)."""
    return np.stack([x[k * lag : k * lag + n_points] for k in range(dim)], axis=1)


def _nearest_neighbours(points, theiler, p, workers, rows=None):
    """Nearest neighbour of the points ``rows``, excluding temporal neighbours.

    A neighbour ``j`` of point ``i`` is valid when ``|i - j| > theiler`` and
    their distance is not zero (Cao 1997 skips coincident points, whose
    distance ratio is undefined). Ties, frequent with the maximum norm (the
    points one lag before and after often share their largest coordinate
    difference), go to the smallest index, so results do not depend on the
    tree's internal order. Returns ``(index, distance)`` for ``rows`` (all
    points when ``None``); rows without a valid neighbour (all points
    coincide) get index -1.
    """
    n = points.shape[0]
    tree = cKDTree(points)
    rows = np.arange(n) if rows is None else np.asarray(rows)
    nn = np.full(rows.size, -1, dtype=np.int64)
    dist = np.zeros(rows.size)
    # The window removes at most 2*theiler + 1 points (itself included), so
    # 2*theiler + 2 candidates usually hold one outside it; duplicates
    # (quantised data) and ties at the last candidate ask for more: double k.
    k = min(n, 2 * theiler + 2)
    todo = np.arange(rows.size)
    while todo.size:
        d, j = tree.query(points[rows[todo]], k=k, p=p, workers=workers)
        d = d.reshape(todo.size, k)
        j = j.reshape(todo.size, k)
        valid = (np.abs(j - rows[todo, None]) > theiler) & (d > 0) & (j < n)
        d_min = np.where(valid, d, np.inf).min(axis=1)
        # resolved: a valid neighbour and no tie possibly hidden beyond k
        done = np.isfinite(d_min) & ((d[:, -1] > d_min) | (k == n))
        tied = valid & (d == d_min[:, None])
        choice = np.where(tied, j, n).min(axis=1)
        hit = todo[done]
        nn[hit] = choice[done]
        dist[hit] = d_min[done]
        if k == n:
            break
        todo = todo[~done]
        k = min(n, 2 * k)
    return nn, dist


def _check_series(x, lag, max_dim, theiler, what, extra=0):
    """The checks every neighbour criterion makes, in one place.

    ``x`` must be one finite series long enough for dimension ``max_dim +
    extra`` at ``lag`` outside the Theiler window (``None``: ``lag``).
    Returns ``x`` (float64), ``lag``, ``max_dim`` and ``theiler``, checked.
    """
    x = as_float_series(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one series (1-D), got shape {x.shape}.")
    lag = check_positive_int(lag, "lag")
    max_dim = check_positive_int(max_dim, "max_dim")
    theiler = lag if theiler is None else check_positive_int(theiler, "theiler", minimum=0)
    n_times, dim = x.shape[0], max_dim + extra
    if n_times - dim * lag <= 2 * theiler + 2:
        raise ValueError(
            f"{what}: {n_times} samples are too few for dimension {dim} at "
            f"lag {lag} (Theiler window {theiler}); lower max_order/max_dim "
            "or max_lag, or give longer epochs."
        )
    return x, lag, max_dim, theiler


def _cao_means(x, lag, max_dim, theiler, workers, n_ref=None):
    """Yield Cao's ``(E(d), E*(d))`` for ``d = 1, 2, ..., max_dim + 1``.

    ``E(d)`` is the mean over points of ``a(i, d) = ||y_i(d+1) - y_n(d+1)|| /
    ||y_i(d) - y_n(d)||`` (max norm, ``n`` the nearest neighbour of ``i`` in
    dimension ``d``) and ``E*(d)`` the mean of ``|x_{i+d lag} - x_{n+d lag}|``.
    A generator so that callers can stop as soon as ``E1`` saturates.
    """
    n_times = x.shape[0]
    for dim in range(1, max_dim + 2):
        n_points = n_times - dim * lag
        y = _delay_vectors(x, dim, lag, n_points)
        rows = spread_indices(n_points, n_ref)
        nn, dist = _nearest_neighbours(y, theiler, np.inf, workers, rows)
        keep = nn >= 0
        i = rows[keep]
        extra = np.abs(x[i + dim * lag] - x[nn[keep] + dim * lag])
        ratio = np.maximum(dist[keep], extra) / dist[keep]
        if i.size == 0:  # every point coincides: a constant series
            yield np.nan, np.nan
        else:
            yield ratio.mean(), extra.mean()


def cao_statistics(x, lag, max_dim=10, theiler=None, n_ref=None, n_jobs=1):
    """Cao's ``E1(d)`` and ``E2(d)`` for one series.

    ``E1(d) = E(d+1) / E(d)`` stops changing (close to 1) once ``d`` is a
    sufficient embedding dimension; ``E2(d) = E*(d+1) / E*(d)`` stays close to
    1 for every ``d`` on stochastic data and departs from 1 for deterministic
    data (Cao 1997). Neighbours use the maximum norm, as in the paper.

    Parameters
    ----------
    x : array-like, shape (n_times,)
        One time series.
    lag : int
        Embedding delay in samples.
    max_dim : int, default=10
        Largest dimension ``d`` (``E`` is computed up to ``max_dim + 1``).
    theiler : int or None, default=None
        Neighbours closer than this many samples in time are ignored (Theiler
        window). ``None`` uses ``lag``: on oversampled signals such as EEG the
        nearest point is otherwise almost always the next sample, whose ratio
        is close to 1 in every dimension and hides the geometry.
    n_ref : int or None, default=None
        Number of reference points (evenly spaced) whose neighbours are
        searched; ``None`` uses every point. The statistics are means over
        reference points, so a few hundred are enough and cost proportionally
        less (TSTOOL's ``Nref``).
    n_jobs : int, default=1
        Threads for the neighbour queries (``-1``: all cores).

    Returns
    -------
    e1 : ndarray, shape (max_dim,)
        ``E1(d)`` for ``d = 1, ..., max_dim``.
    e2 : ndarray, shape (max_dim,)
        ``E2(d)`` for ``d = 1, ..., max_dim``.
    """
    x, lag, max_dim, theiler = _check_series(x, lag, max_dim, theiler, "cao_statistics", extra=1)
    means = np.array(list(_cao_means(x, lag, max_dim, theiler, n_jobs, n_ref)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = means[1:] / means[:-1]
    return ratios[:, 0], ratios[:, 1]


def cao_embedding_dimension(x, lag, max_dim=10, threshold=0.85, theiler=None,
                            n_ref=None, n_jobs=1):
    """Minimum embedding dimension of one series by Cao's method.

    The dimension is the first ``d`` with ``E1(d) >= threshold``: from there on
    adding a coordinate no longer changes how neighbours separate (Cao's
    saturation; for the Lorenz system this gives 3). Computation stops at that
    ``d``, which keeps the estimate cheap.

    Parameters
    ----------
    x : array-like, shape (n_times,)
        One time series.
    lag : int
        Embedding delay in samples.
    max_dim : int, default=10
        Largest dimension tried; returned when ``E1`` never reaches
        ``threshold`` (stochastic or very high-dimensional data).
    threshold : float, default=0.85
        Saturation level of ``E1``. On the Lorenz system (3000 samples, lags
        15-19 around the AMI minimum) ``E1(2)`` is about 0.3 and ``E1(3)``
        0.87-0.95, still creeping towards 1 afterwards; 0.85 reads that as
        saturation at 3 where 0.9 would flip between 3 and 4.
    theiler : int or None, default=None
        Theiler window in samples; ``None`` uses ``lag`` (see
        :func:`cao_statistics`).
    n_ref : int or None, default=None
        Number of reference points (evenly spaced) whose neighbours are
        searched; ``None`` uses every point. The statistics are means over
        reference points, so a few hundred are enough and cost proportionally
        less (TSTOOL's ``Nref``).
    n_jobs : int, default=1
        Threads for the neighbour queries.

    Returns
    -------
    dim : int
        Embedding dimension, between 1 and ``max_dim``.
    """
    x, lag, max_dim, theiler = _check_series(x, lag, max_dim, theiler, "cao_embedding_dimension", extra=1)
    previous = None
    means = _cao_means(x, lag, max_dim, theiler, n_jobs, n_ref)
    for dim, (e, _) in enumerate(means):
        # ``dim`` counts from 0 here, so ``e`` is E(dim + 1)
        if previous is not None and previous > 0 and e / previous >= threshold:
            return dim  # E1(dim) = E(dim + 1) / E(dim)
        previous = e
    return max_dim


def false_nearest_neighbours(x, lag, max_dim=10, rtol=15.0, atol=2.0, theiler=None,
                             n_ref=None, n_jobs=1):
    """Fraction of false nearest neighbours (Kennel, Brown & Abarbanel 1992).

    For each dimension ``d`` the nearest neighbour (Euclidean) of every delay
    vector is found; it is *false* when adding the ``(d+1)``-th coordinate
    moves it away: ``|x_{i+d lag} - x_{n+d lag}| / R_d(i) > rtol`` or
    ``R_{d+1}(i) / R_A > atol`` with ``R_A`` the standard deviation of ``x``.

    Parameters
    ----------
    x : array-like, shape (n_times,)
        One time series.
    lag : int
        Embedding delay in samples.
    max_dim : int, default=10
        Largest dimension ``d``.
    rtol : float, default=15.0
        Kennel's distance-ratio tolerance.
    atol : float, default=2.0
        Kennel's attractor-size tolerance.
    theiler : int or None, default=None
        Theiler window in samples; ``None`` uses ``lag``.
    n_ref : int or None, default=None
        Number of reference points (evenly spaced) whose neighbours are
        searched; ``None`` uses every point. The statistics are means over
        reference points, so a few hundred are enough and cost proportionally
        less (TSTOOL's ``Nref``).
    n_jobs : int, default=1
        Threads for the neighbour queries.

    Returns
    -------
    fraction : ndarray, shape (max_dim,)
        Fraction of false neighbours for ``d = 1, ..., max_dim``.
    """
    x, lag, max_dim, theiler = _check_series(x, lag, max_dim, theiler, "false_nearest_neighbours", extra=0)
    size = x.std()
    out = np.empty(max_dim)
    for dim in range(1, max_dim + 1):
        n_points = x.shape[0] - dim * lag
        y = _delay_vectors(x, dim, lag, n_points)
        rows = spread_indices(n_points, n_ref)
        nn, dist = _nearest_neighbours(y, theiler, 2, n_jobs, rows)
        keep = nn >= 0
        if not keep.any() or size == 0:
            out[dim - 1] = np.nan
            continue
        i = rows[keep]
        extra = np.abs(x[i + dim * lag] - x[nn[keep] + dim * lag])
        far = extra / dist[keep] > rtol
        big = np.sqrt(dist[keep] ** 2 + extra**2) / size > atol
        out[dim - 1] = np.mean(far | big)
    return out


def fnn_embedding_dimension(x, lag, max_dim=10, threshold=0.01, rtol=15.0, atol=2.0,
                            theiler=None, n_ref=None, n_jobs=1):
    """Minimum embedding dimension: first ``d`` whose FNN fraction <= threshold.

    Parameters
    ----------
    x : array-like, shape (n_times,)
        One time series.
    lag : int
        Embedding delay in samples.
    max_dim : int, default=10
        Largest dimension; returned when the fraction never drops enough.
    threshold : float, default=0.01
        Fraction of false neighbours considered zero (Kennel's curve drops
        to about zero at the embedding dimension; the Lorenz system still
        has a few percent at ``d = 2``).
    rtol, atol, theiler, n_ref, n_jobs
        As in :func:`false_nearest_neighbours`.

    Returns
    -------
    dim : int
        Embedding dimension, between 1 and ``max_dim``.
    """
    fraction = false_nearest_neighbours(
        x, lag, max_dim=max_dim, rtol=rtol, atol=atol, theiler=theiler, n_ref=n_ref,
        n_jobs=n_jobs,
    )
    below = np.flatnonzero(fraction <= threshold)
    return int(below[0] + 1) if below.size else int(max_dim)
