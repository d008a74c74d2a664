"""Plain numpy reference: cut, embed, centre and multiply, window by window.

This is the obviously-correct version the fast backends are tested against.
It follows MOABB's ``AugmentedDataset`` followed by pyriemann 0.12's
``covariances`` on numpy arrays, which for real data means:

- ``"scm"``: ``covariance_scm``: centre each row on its mean, ``Z Z^T / n``;
- ``"cov"``: ``numpy.cov``: the same with ``n - 1``;
- ``"oas"``: scikit-learn's ``oas`` on ``Z^T`` (biased empirical covariance, then
  oracle-approximating shrinkage towards ``trace/p * I``);
- ``"lwf"``: scikit-learn's ``ledoit_wolf`` on ``Z^T`` (same, Ledoit-Wolf
  coefficient, which needs the fourth moments ``sum_t ||z_t - m||^4``).

``n`` is the number of samples per embedded copy (``window - order * lag``,
or ``window`` for order 1) and ``p = n_channels * order``.
"""

from __future__ import annotations

import numpy as np

from brainpipe.kernels.windows import effective_length, sliding_windows

__all__ = [
    "ESTIMATORS",
    "augmented_dataset",
    "oas_from_scm",
    "lwf_from_scm",
    "embedded_covariances",
    "window_covariances",
    "epoch_covariances",
]

ESTIMATORS = ("scm", "cov", "oas", "lwf")

# windows per batched matmul: bounds the temporary (n, p, n_eff) copy
_CHUNK = 64


def augmented_dataset(X, order, lag):
    """Delay embedding exactly as MOABB's ``AugmentedDataset(order, lag)``.

    Parameters
    ----------
    X : ndarray, shape (..., n_channels, n_times)
        Epochs (or windows, or one continuous signal).
    order : int
        Number of delayed copies stacked along the channel axis.
    lag : int
        Delay between copies in samples.

    Returns
    -------
    X_aug : ndarray, shape (..., n_channels * order, n_eff)
        ``X`` itself for order 1 (``n_eff = n_times``); otherwise copy ``p``
        (rows ``p * n_channels`` to ``(p + 1) * n_channels``) is
        ``X[..., p * lag : -(order - p) * lag]`` and ``n_eff = n_times - order * lag``.
    """
    X = np.asarray(X)
    effective_length(X.shape[-1], order, lag, what="n_times")
    if order == 1:
        return X
    return np.concatenate(
        [X[..., p * lag : -(order - p) * lag] for p in range(order)], axis=-2
    )


def oas_from_scm(S, n_samples):
    """Oracle-approximating shrinkage of biased covariances (scikit-learn's ``oas``).

    Parameters
    ----------
    S : ndarray, shape (..., p, p)
        Biased (divided by ``n_samples``), centred sample covariances.
    n_samples : int
        Samples each covariance was estimated from.

    Returns
    -------
    C : ndarray, shape (..., p, p)
        ``(1 - s) S + s * trace(S) / p * I`` with scikit-learn's coefficient
        ``s = min((a + mu^2) / ((n + 1) (a - mu^2 / p)), 1)``, ``a = mean(S**2)``,
        ``mu = trace(S) / p`` (``s = 1`` when the denominator is 0, which also
        covers ``p = 1``).
    """
    p = S.shape[-1]
    alpha = np.mean(S**2, axis=(-2, -1))
    mu = np.trace(S, axis1=-2, axis2=-1) / p
    num = alpha + mu**2
    den = (n_samples + 1) * (alpha - mu**2 / p)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where(den == 0, 1.0, np.minimum(num / den, 1.0))
    return _shrink(S, shrinkage, mu)


def lwf_from_scm(S, n_samples, fourth):
    """Ledoit-Wolf shrinkage of biased covariances (scikit-learn's ``ledoit_wolf``).

    Parameters
    ----------
    S : ndarray, shape (..., p, p)
        Biased, centred sample covariances.
    n_samples : int
        Samples each covariance was estimated from.
    fourth : ndarray, shape (...)
        ``sum_t ||z_t - m||^4`` over those samples (``z_t`` the p-vector at
        time ``t``, ``m`` its mean): scikit-learn's ``beta_`` term.

    Returns
    -------
    C : ndarray, shape (..., p, p)
        ``(1 - s) S + s * mu * I`` with scikit-learn's Ledoit-Wolf ``s``; ``S``
        unchanged for ``p = 1`` (as scikit-learn).
    """
    p = S.shape[-1]
    if p == 1:
        return S.copy()
    n = n_samples
    trace = np.trace(S, axis1=-2, axis2=-1)
    mu = trace / p
    delta_ = np.sum(S**2, axis=(-2, -1))
    beta = (fourth / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace + p * mu**2) / p
    beta = np.minimum(beta, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where(beta == 0, 0.0, beta / delta)
    return _shrink(S, shrinkage, mu)


def _shrink(S, shrinkage, mu):
    C = (1.0 - shrinkage)[..., None, None] * S
    diag = np.arange(S.shape[-1])
    C[..., diag, diag] += (shrinkage * mu)[..., None]
    return C


def embedded_covariances(Z, estimator):
    """Covariances of already-embedded data, pyriemann's way.

    Parameters
    ----------
    Z : ndarray, shape (..., p, n_samples)
        Embedded windows or epochs (output of :func:`augmented_dataset`).
    estimator : {"scm", "cov", "oas", "lwf"}
        pyriemann estimator name.

    Returns
    -------
    C : ndarray, shape (..., p, p)
    """
    n = Z.shape[-1]
    Zc = Z - Z.mean(axis=-1, keepdims=True)
    S = Zc @ np.swapaxes(Zc, -1, -2)
    if estimator == "cov":
        return S / (n - 1)
    S /= n
    if estimator == "scm":
        return S
    if estimator == "oas":
        return oas_from_scm(S, n)
    if estimator == "lwf":
        fourth = np.sum(np.sum(Zc**2, axis=-2) ** 2, axis=-1)
        return lwf_from_scm(S, n, fourth)
    raise ValueError(f"unknown estimator {estimator!r}")


def window_covariances(x, window, step, order, lag, estimator):
    """Reference augmented covariances of sliding windows.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
    window, step, order, lag : int
    estimator : str

    Returns
    -------
    C : ndarray, shape (n_windows, n_channels * order, n_channels * order)
    """
    views = sliding_windows(x, window, step)
    p = x.shape[0] * order
    out = np.empty((views.shape[0], p, p))
    for start in range(0, views.shape[0], _CHUNK):
        Z = augmented_dataset(views[start : start + _CHUNK], order, lag)
        out[start : start + _CHUNK] = embedded_covariances(Z, estimator)
    return out


def epoch_covariances(X, order, lag, estimator):
    """Reference augmented covariances of epochs.

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_channels, n_times)
    order, lag : int
    estimator : str

    Returns
    -------
    C : ndarray, shape (n_trials, n_channels * order, n_channels * order)
    """
    p = X.shape[1] * order
    out = np.empty((X.shape[0], p, p))
    for start in range(0, X.shape[0], _CHUNK):
        Z = augmented_dataset(X[start : start + _CHUNK], order, lag)
        out[start : start + _CHUNK] = embedded_covariances(Z, estimator)
    return out
