"""Augmented (delay-embedded) covariance matrices of windows and epochs.

The public entry points. For every window (or epoch) the result equals MOABB's
``AugmentedDataset(order, lag)`` followed by pyriemann 0.12's
``Covariances(estimator)``, to about 1e-13 relative error in float64:

- MOABB's embedding: order 1 leaves the data unchanged; otherwise copy ``p``
  (rows ``p * n_channels`` to ``(p + 1) * n_channels``) is
  ``X[..., p * lag : -(order - p) * lag]``, so each copy keeps
  ``n = window - order * lag`` samples (one lag fewer than needed: MOABB's
  convention, kept for equality);
- estimators, with pyriemann's names and results: ``"scm"`` (centred sample
  covariance, divided by ``n``; pyriemann's default centres), ``"cov"``
  (``numpy.cov``, divided by ``n - 1``; what MOABB's ACM pipeline uses),
  ``"oas"`` and ``"lwf"`` (scikit-learn's shrinkage applied to the biased
  covariance of the embedded data, as pyriemann does).

Backends (``backend=``): ``"numpy"`` is the plain reference; ``"numba"``
computes every window from sliding lagged sums (work proportional to the
recording length, not to ``window / step`` times it; see
``brainpipe.kernels._numba`` for the algorithm and its error bound);
``"torch"`` uses batched matrix products on CUDA when available (CPU
otherwise); ``"auto"`` picks CUDA torch when a GPU is present, else Numba.
"""

from __future__ import annotations

import numpy as np

from brainpipe._check import check_option, check_positive_int
from brainpipe.kernels._backend import get_backend, resolve_backend
from brainpipe.kernels._reference import ESTIMATORS
from brainpipe.kernels.windows import effective_length, n_windows

__all__ = ["window_covariances", "iter_window_covariances", "epoch_covariances"]

DEFAULT_CHUNK = 256


def _is_tensor(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "device")


def _check_params(order, lag, estimator, backend):
    order = check_positive_int(order, "order")
    lag = check_positive_int(lag, "lag")
    check_option("estimator", estimator, ESTIMATORS)
    return order, lag, resolve_backend(backend)


def _as_array(x, ndim, shape_name, backend):
    """float64 array (or tensor, for the torch backend) of the expected rank."""
    if _is_tensor(x):
        if backend != "torch":
            x = x.detach().cpu().numpy()
        elif x.is_complex():
            raise TypeError("x must be real-valued, got a complex tensor.")
    if not _is_tensor(x):
        x = np.asarray(x)
        if np.iscomplexobj(x):
            raise TypeError("x must be real-valued, got a complex array.")
        x = x.astype(np.float64, copy=False)
    if x.ndim != ndim:
        raise ValueError(
            f"x must be a {ndim}D array of shape {shape_name}, got an array with "
            f"shape {tuple(x.shape)} instead."
        )
    if x.shape[-2] == 0:
        raise ValueError(f"x has no channels (shape {tuple(x.shape)}).")
    finite = bool(x.isfinite().all()) if _is_tensor(x) else bool(np.isfinite(x).all())
    if not finite:
        raise ValueError(
            "x contains NaN or infinite values: interpolate or drop the bad "
            "channels/segments before computing covariances."
        )
    return x


def window_covariances(x, window, step, *, order=1, lag=1, estimator="scm",
                       backend="auto"):
    """Augmented covariance matrix of every sliding window of a recording.

    Parameters
    ----------
    x : array-like, shape (n_channels, n_times)
        Continuous signal. A torch tensor stays on its device with the torch
        backend.
    window : int
        Window length in samples.
    step : int
        Samples between window starts (``step < window`` overlaps; ``step >
        window`` skips samples). Window ``k`` covers
        ``[k * step, k * step + window)``; see :func:`window_starts`.
    order : int
        Embedding order (delayed copies); 1 gives plain covariances.
    lag : int
        Delay between copies in samples.
    estimator : {"scm", "cov", "oas", "lwf"}
        pyriemann estimator name (same results as pyriemann 0.12).
    backend : {"auto", "numpy", "numba", "torch"}
        Implementation; ``"auto"`` is CUDA torch if available, else Numba.

    Returns
    -------
    covs : ndarray, shape (n_windows, n_channels * order, n_channels * order)
        float64 symmetric positive semi-definite matrices, definite in the
        cases given in the notes below (a torch tensor for tensor input with the torch
        backend). ``n_windows = (n_times - window) // step + 1``. For long
        recordings (an hour at order 8 is about 9 GB of output) use
        :func:`iter_window_covariances`.

    Raises
    ------
    ValueError
        If the window is longer than the recording, or too short for
        ``order`` and ``lag`` (fewer than 2 samples per copy), or ``x`` has
        NaN/inf, or the covariances overflow float64 (samples beyond about
        1e150, e.g. a unit or scaling error).

    Notes
    -----
    The matrices are symmetric and positive semi-definite; they are positive
    *definite* (what Riemannian steps need) only when the embedded window has
    full rank. They are singular, and only semi-definite, when

    * the window is too short for the augmented dimension: ``"scm"`` and
      ``"cov"`` need ``n_eff > n_channels * order`` samples per copy, with
      ``n_eff = window`` for order 1 and ``window - order * lag`` otherwise
      (:func:`effective_length`);
    * a channel is constant (flat) in the window, or channels are linearly
      dependent (a duplicated channel, an average reference, a bipolar
      montage that sums to zero);
    * every channel is constant in the window: then every estimator,
      ``"oas"`` and ``"lwf"`` included, returns the zero matrix.

    ``"oas"`` and ``"lwf"`` shrink towards a scaled identity and are
    positive definite whenever a copy holds at least 3 samples and the
    window is not constant on every channel (with 2 samples the Ledoit-Wolf
    shrinkage is 0 and ``"lwf"`` is singular), so they are the choice for
    short windows or rank-deficient data.
    Near-singular matrices (a condition number above about 1e15) are
    positive definite in exact arithmetic but may have tiny negative
    eigenvalues in float64. Nothing here repairs these cases: check the
    channels (see ``brainpipe.eeg.preprocess.find_bad_channels``) or pick a
    shrinkage estimator.
    """
    order, lag, name = _check_params(order, lag, estimator, backend)
    x = _as_array(x, 2, "(n_channels, n_times)", name)
    n_windows(x.shape[1], window, step)
    effective_length(window, order, lag)
    covs = get_backend(name).window_covariances(x, int(window), int(step), order, lag,
                                                estimator)
    return _check_finite_covs(covs)


def _check_finite_covs(covs):
    """Raise if finite input gave non-finite covariances (float64 overflow)."""
    finite = bool(covs.isfinite().all()) if _is_tensor(covs) else bool(np.isfinite(covs).all())
    if not finite:
        raise ValueError(
            "the covariances overflow float64 (inf or NaN from finite input): the samples are "
            "too large (beyond about 1e150); check the unit and scaling of x."
        )
    return covs


def iter_window_covariances(x, window, step, *, chunk=DEFAULT_CHUNK, order=1, lag=1,
                            estimator="scm", backend="auto"):
    """The windows of :func:`window_covariances`, computed and yielded in chunks.

    Only ``chunk`` windows (and the samples they cover) are in memory at a
    time, so this runs over recordings of any length, including a
    ``numpy.memmap`` or any array-like that supports ``x.shape`` and
    ``x[:, start:stop]`` slicing (h5py, zarr).

    Parameters
    ----------
    x : array-like, shape (n_channels, n_times)
        Continuous signal; read one chunk's samples at a time.
    window, step : int
        As in :func:`window_covariances`.
    chunk : int
        Windows per yielded array. Peak memory is about twice
        ``chunk * (n_channels * order) ** 2 * 8`` bytes (the array and the
        backend's work space), independent of the recording length.
    order, lag, estimator, backend
        As in :func:`window_covariances`.

    Yields
    ------
    covs : ndarray, shape (n_chunk, n_channels * order, n_channels * order)
        Consecutive windows in time order; ``n_chunk == chunk`` except for the
        last. Chunk ``i`` holds windows ``i * chunk`` onwards, whose start
        samples are given by :func:`window_starts`.

    Notes
    -----
    Arguments are checked when this function is called, not at the first
    ``next()``; NaN/inf are reported for the chunk that holds them.
    """
    order, lag, name = _check_params(order, lag, estimator, backend)
    chunk = check_positive_int(chunk, "chunk")
    if not hasattr(x, "shape"):  # a list: anything else is sliced lazily
        x = np.asarray(x)
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(
            f"x must be a 2D array of shape (n_channels, n_times), got an array "
            f"with shape {shape} instead."
        )
    n_total = n_windows(shape[1], window, step)
    effective_length(window, order, lag)
    impl = get_backend(name)
    window, step = int(window), int(step)

    def _chunks():
        for first in range(0, n_total, chunk):
            n = min(chunk, n_total - first)
            start = first * step
            seg = _as_array(x[:, start : start + (n - 1) * step + window], 2,
                            "(n_channels, n_times)", name)
            yield _check_finite_covs(impl.window_covariances(seg, window, step, order, lag, estimator))

    return _chunks()


def epoch_covariances(X, *, order=1, lag=1, estimator="scm", backend="auto"):
    """Augmented covariance matrix of every epoch.

    Equal to MOABB's ``AugmentedDataset(order, lag).transform(X)`` followed by
    pyriemann's ``Covariances(estimator).transform``.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs.
    order, lag, estimator, backend
        As in :func:`window_covariances`.

    Returns
    -------
    covs : ndarray, shape (n_trials, n_channels * order, n_channels * order)
        float64 SPD matrices (a tensor for tensor input with the torch backend);
        see the notes of :func:`window_covariances` for when they are only
        semi-definite.
    """
    order, lag, name = _check_params(order, lag, estimator, backend)
    X = _as_array(X, 3, "(n_trials, n_channels, n_times)", name)
    if X.shape[0] == 0:
        raise ValueError("X has no epochs (shape[0] == 0).")
    effective_length(X.shape[2], order, lag, what="n_times")
    return _check_finite_covs(get_backend(name).epoch_covariances(X, order, lag, estimator))
