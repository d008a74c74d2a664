"""What the embedding criteria share: one series check, evenly spread indices."""

from __future__ import annotations

import numpy as np

__all__ = ["as_float_series", "spread_indices"]


def as_float_series(x, name="x"):
    """Return ``x`` as a C-contiguous float64 array with time on the last axis."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        raise ValueError(f"{name} must have a time axis, got a scalar.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return np.ascontiguousarray(x)


def spread_indices(n, maximum):
    """At most ``maximum`` indices spread evenly over ``range(n)`` (all when ``maximum`` is None)."""
    if maximum is None or n <= maximum:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, maximum)).astype(np.int64))
