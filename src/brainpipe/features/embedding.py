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
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from brainpipe._check import check_option, check_positive_int

__all__ = [
    "auto_mutual_information",
    "first_minimum_ami_lag",
    "cao_statistics",
    "cao_embedding_dimension",
    "false_nearest_neighbours",
    "fnn_embedding_dimension",
    "estimate_embedding",
]

# bound on n_series * n_times per bincount so memory stays ~100 MB
_AMI_CHUNK = 4_000_000


def _as_float_series(x, name="x"):
    """Return ``x`` as a C-contiguous float64 array with time on the last axis."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        raise ValueError(f"{name} must have a time axis, got a scalar.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return np.ascontiguousarray(x)


def _histogram_codes(series, n_bins):
    """Equal-width bin index of every sample, per series (TISEAN's boxes).

    Each series is rescaled to [0, 1] on its own range and cut in ``n_bins``
    boxes; the maximum falls in the last box. A constant series gets code 0
    everywhere (its mutual information is then 0 at every lag).
    """
    lo = series.min(axis=-1, keepdims=True)
    span = series.max(axis=-1, keepdims=True) - lo
    span[span == 0] = 1.0
    codes = np.floor((series - lo) / span * n_bins).astype(np.int64)
    np.minimum(codes, n_bins - 1, out=codes)
    return codes


def _mutual_information_codes(codes, max_lag, n_bins):
    """AMI of integer-coded series, shape (n_series, max_lag + 1), in nats."""
    n_series, n_times = codes.shape
    out = np.empty((n_series, max_lag + 1))
    offsets = (np.arange(n_series, dtype=np.int64) * n_bins * n_bins)[:, None]
    for lag in range(max_lag + 1):
        a = codes[:, : n_times - lag]
        b = codes[:, lag:]
        # one bincount gives every series' joint histogram at this lag
        flat = (offsets + a * n_bins + b).ravel()
        joint = np.bincount(flat, minlength=n_series * n_bins * n_bins)
        joint = joint.reshape(n_series, n_bins, n_bins) / (n_times - lag)
        pa = joint.sum(axis=2, keepdims=True)
        pb = joint.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = joint * (np.log(joint) - np.log(pa) - np.log(pb))
        out[:, lag] = np.where(joint > 0, terms, 0.0).sum(axis=(1, 2))
    return out


def auto_mutual_information(x, max_lag=10, n_bins=16):
    """Histogram estimate of the auto mutual information ``I(x_t; x_{t+lag})``.

    Each series is binned into ``n_bins`` equal-width boxes over its own range
    (as TISEAN's ``mutual``); the marginals at a lag are those of the pairs
    used at that lag.

    Parameters
    ----------
    x : array-like, shape (..., n_times)
        One or many time series; time is the last axis.
    max_lag : int, default=10
        Largest lag, in samples.
    n_bins : int, default=16
        Number of equal-width histogram boxes.

    Returns
    -------
    ami : ndarray, shape (..., max_lag + 1)
        Mutual information in nats for lags ``0, 1, ..., max_lag``;
        ``ami[..., 0]`` is the binned entropy of the series.
    """
    x = _as_float_series(x)
    max_lag = check_positive_int(max_lag, "max_lag", minimum=0)
    n_bins = check_positive_int(n_bins, "n_bins", minimum=2)
    n_times = x.shape[-1]
    if max_lag >= n_times:
        raise ValueError(
            f"max_lag ({max_lag}) must be smaller than the number of samples "
            f"({n_times})."
        )
    series = x.reshape(-1, n_times)
    out = np.empty((series.shape[0], max_lag + 1))
    step = max(1, _AMI_CHUNK // n_times)
    for start in range(0, series.shape[0], step):
        block = series[start : start + step]
        codes = _histogram_codes(block, n_bins)
        out[start : start + step] = _mutual_information_codes(codes, max_lag, n_bins)
    return out.reshape(*x.shape[:-1], max_lag + 1)


def _first_local_minimum(curve, max_lag, neighbours):
    """Index of the first minimum in ``1..max_lag`` of each row of ``curve``.

    ``curve`` has ``max_lag + neighbours + 1`` columns. Lag ``t`` is a minimum
    when ``curve[t] < curve[t - 1]`` and ``curve[t]`` is the smallest value over
    ``t - neighbours .. t + neighbours``. Rows with no minimum in range (the
    AMI still decreasing at ``max_lag``) get the lowest lag in range, which is
    then ``max_lag``.
    """
    n_rows = curve.shape[0]
    padded = np.concatenate([np.full((n_rows, neighbours), np.inf), curve], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, 2 * neighbours + 1, axis=1
    )[:, 1 : max_lag + 1]  # window centred on lags 1..max_lag
    mid = curve[:, 1 : max_lag + 1]
    is_min = (mid < curve[:, :max_lag]) & (mid <= windows.min(axis=2))
    has_min = is_min.any(axis=1)
    first = np.argmax(is_min, axis=1) + 1
    fallback = np.argmin(mid, axis=1) + 1
    return np.where(has_min, first, fallback)


def first_minimum_ami_lag(x, max_lag=10, n_bins=16, neighbours=2):
    """Delay at the first minimum of the auto mutual information.

    Fraser & Swinney's choice of embedding delay: the first lag at which the
    AMI stops decreasing, so that delayed coordinates are as independent as
    possible while still dynamically related.

    Parameters
    ----------
    x : array-like, shape (..., n_times)
        One or many time series; time is the last axis.
    max_lag : int, default=10
        Largest lag considered. When the AMI is still decreasing at
        ``max_lag``, ``max_lag`` is returned (the estimate is clipped).
    n_bins : int, default=16
        Number of equal-width histogram boxes.
    neighbours : int, default=2
        A lag counts as a minimum when its AMI is below the previous lag's and
        no larger than at the ``neighbours`` lags on each side. 1 is the plain
        local minimum; 2 ignores the one-lag wiggles of the histogram
        estimate on flat stretches (a noisy sine otherwise gives a spurious
        early minimum).

    Returns
    -------
    lag : int or ndarray of int, shape (...)
        First-minimum lag in samples (>= 1) for every series; an ``int`` for a
        single 1-D series.
    """
    max_lag = check_positive_int(max_lag, "max_lag")
    neighbours = check_positive_int(neighbours, "neighbours")
    x = _as_float_series(x)
    ami = auto_mutual_information(x, max_lag=max_lag + neighbours, n_bins=n_bins)
    curve = ami.reshape(-1, max_lag + neighbours + 1)
    lags = _first_local_minimum(curve, max_lag, neighbours)
    if x.ndim == 1:
        return int(lags[0])
    return lags.reshape(x.shape[:-1])


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


def _reference_rows(n_points, n_ref):
    """Evenly spaced reference points (all when ``n_ref`` is None or larger)."""
    if n_ref is None or n_ref >= n_points:
        return np.arange(n_points)
    return np.unique(np.round(np.linspace(0, n_points - 1, n_ref)).astype(np.int64))


def _resolve_theiler(theiler, lag):
    if theiler is None:
        return lag
    return check_positive_int(theiler, "theiler", minimum=0)


def _check_length(n_times, max_dim, lag, theiler, what):
    n_points = n_times - max_dim * lag
    if n_points <= 2 * theiler + 2:
        raise ValueError(
            f"{what}: {n_times} samples are too few for dimension {max_dim} at "
            f"lag {lag} (Theiler window {theiler}); lower max_order/max_dim "
            "or max_lag, or give longer epochs."
        )


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
        rows = _reference_rows(n_points, n_ref)
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
    x = _as_float_series(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one series (1-D), got shape {x.shape}.")
    lag = check_positive_int(lag, "lag")
    max_dim = check_positive_int(max_dim, "max_dim")
    theiler = _resolve_theiler(theiler, lag)
    _check_length(x.shape[0], max_dim + 1, lag, theiler, "cao_statistics")
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
    x = _as_float_series(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one series (1-D), got shape {x.shape}.")
    lag = check_positive_int(lag, "lag")
    max_dim = check_positive_int(max_dim, "max_dim")
    theiler = _resolve_theiler(theiler, lag)
    _check_length(x.shape[0], max_dim + 1, lag, theiler, "cao_embedding_dimension")
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
    x = _as_float_series(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one series (1-D), got shape {x.shape}.")
    lag = check_positive_int(lag, "lag")
    max_dim = check_positive_int(max_dim, "max_dim")
    theiler = _resolve_theiler(theiler, lag)
    _check_length(x.shape[0], max_dim, lag, theiler, "false_nearest_neighbours")
    size = x.std()
    out = np.empty(max_dim)
    for dim in range(1, max_dim + 1):
        n_points = x.shape[0] - dim * lag
        y = _delay_vectors(x, dim, lag, n_points)
        rows = _reference_rows(n_points, n_ref)
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


def _spread_indices(n, maximum):
    """At most ``maximum`` indices spread evenly over ``range(n)`` (deterministic)."""
    if n <= maximum:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, maximum)).astype(int))


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
    X = _as_float_series(X, name="X")
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
    trials = _spread_indices(X.shape[0], check_positive_int(max_trials, "max_trials"))
    channels = _spread_indices(
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
