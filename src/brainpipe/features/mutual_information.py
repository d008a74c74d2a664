"""Auto mutual information and its first minimum: the ACM lag (Fraser & Swinney 1986).

The mutual information ``I(x_t; x_{t+lag})`` is estimated with an
equal-width histogram as TISEAN's ``mutual`` does; the mutual information of
all series and one lag is a single ``bincount``.
"""

from __future__ import annotations

import numpy as np

from .._check import check_positive_int
from ._series import as_float_series

__all__ = ["auto_mutual_information", "first_minimum_ami_lag"]

# bound on n_series * n_times per bincount so memory stays ~100 MB
_AMI_CHUNK = 4_000_000


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
    x = as_float_series(x)
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
    x = as_float_series(x)
    ami = auto_mutual_information(x, max_lag=max_lag + neighbours, n_bins=n_bins)
    curve = ami.reshape(-1, max_lag + neighbours + 1)
    lags = _first_local_minimum(curve, max_lag, neighbours)
    if x.ndim == 1:
        return int(lags[0])
    return lags.reshape(x.shape[:-1])
