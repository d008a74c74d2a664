"""Sliding windows over a continuous recording, and the checks they share.

Windows are cut the way MOABB's pseudo-online code and ``mne.make_fixed_length_epochs``
cut them: window ``k`` covers samples ``[k * step, k * step + window)`` and the
last window is the last one that fits entirely in the recording.
"""

from __future__ import annotations

import numpy as np

from brainpipe._check import check_positive_int

__all__ = ["sliding_windows", "window_starts", "n_windows", "effective_length"]


def n_windows(n_times, window, step):
    """Number of whole windows of ``window`` samples, ``step`` apart.

    Parameters
    ----------
    n_times : int
        Length of the recording in samples.
    window : int
        Window length in samples.
    step : int
        Samples between the starts of consecutive windows.

    Returns
    -------
    n : int
        ``(n_times - window) // step + 1``; a ``ValueError`` is raised when the
        recording is shorter than one window.
    """
    n_times = check_positive_int(n_times, "n_times")
    window = check_positive_int(window, "window")
    step = check_positive_int(step, "step")
    if window > n_times:
        raise ValueError(
            f"window ({window} samples) is longer than the recording "
            f"(n_times={n_times} samples): no window fits."
        )
    return (n_times - window) // step + 1


def window_starts(n_times, window, step):
    """First sample of every window, so callers can time-stamp windows.

    Parameters
    ----------
    n_times : int
        Length of the recording in samples.
    window : int
        Window length in samples.
    step : int
        Samples between the starts of consecutive windows.

    Returns
    -------
    starts : ndarray of int64, shape (n_windows,)
        ``starts[k] = k * step``; window ``k`` covers ``[starts[k], starts[k] + window)``.
        Divide by the sampling frequency for seconds.
    """
    n = n_windows(n_times, window, step)
    return np.arange(n, dtype=np.int64) * int(step)


def sliding_windows(x, window, step):
    """Zero-copy view of ``x`` cut into overlapping (or strided) windows.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
        Continuous multichannel signal.
    window : int
        Window length in samples.
    step : int
        Samples between the starts of consecutive windows (may exceed
        ``window``: samples between windows are skipped).

    Returns
    -------
    windows : ndarray, shape (n_windows, n_channels, window)
        Read-only view sharing memory with ``x``: ``windows[k] ==
        x[:, k * step : k * step + window]``. Copy it before writing.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"x must be a 2D array of shape (n_channels, n_times), got an array "
            f"with shape {x.shape} instead."
        )
    n_windows(x.shape[1], window, step)  # validates window and step
    view = np.lib.stride_tricks.sliding_window_view(x, int(window), axis=1)
    # (n_channels, n_starts, window) -> keep every step-th start, windows first
    return view[:, :: int(step), :].transpose(1, 0, 2)


def effective_length(window, order, lag, what="window"):
    """Samples per delay-embedded copy, in MOABB's ``AugmentedDataset`` convention.

    Order 1 keeps the window unchanged; otherwise each of the ``order`` copies
    has ``window - order * lag`` samples (MOABB drops one lag more than needed:
    copy ``p`` is ``X[..., p * lag : -(order - p) * lag]``).

    Parameters
    ----------
    window : int
        Samples in the window (or epoch).
    order : int
        Embedding order (number of delayed copies), >= 1.
    lag : int
        Delay between copies in samples, >= 1.
    what : str
        Name of the length in error messages (``"window"``, ``"n_times"``).

    Returns
    -------
    n_eff : int
        Samples per copy; a ``ValueError`` naming ``window``, ``order`` and
        ``lag`` is raised when fewer than 2 remain (no covariance can be
        estimated from a single sample).
    """
    window = check_positive_int(window, what)
    order = check_positive_int(order, "order")
    lag = check_positive_int(lag, "lag")
    n_eff = window if order == 1 else window - order * lag
    if n_eff < 2:
        raise ValueError(
            f"{what}={window} samples is too short for order={order} and lag={lag}: "
            f"the delay embedding keeps {n_eff} samples per copy ({what} if "
            f"order == 1, else {what} - order*lag) and at least 2 are needed. "
            f"Use a longer {what} or a smaller order or lag."
        )
    return n_eff
