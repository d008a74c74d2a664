"""One subject's connectivity matrix in numpy.

The per-subject kinds (correlation, partial correlation, covariance,
precision) are what nilearn's :class:`~nilearn.connectome.ConnectivityMeasure`
computes for a single subject with ``standardize=False``: the covariance by
scikit-learn's ``EmpiricalCovariance`` or ``LedoitWolf`` (the Ledoit-Wolf
shrinkage formula of :func:`sklearn.covariance.ledoit_wolf_shrinkage`), then
nilearn's ``cov_to_corr`` / ``prec_to_partial``. They are written here in a
few lines of numpy because importing ``nilearn.connectome`` (scikit-learn,
scipy.stats) cost each ``fmri_connectivity`` job about 2 CPU s for a
millisecond of arithmetic; ``tests/test_fmri_connectivity.py`` checks them
against nilearn to float round-off. The group kinds (tangent) stay nilearn's.
"""

from __future__ import annotations

import numpy as np

from .._check import check_option

#: Kinds that depend on one subject only.
SUBJECT_KINDS = ("correlation", "partial correlation", "covariance", "precision")

COV_ESTIMATORS = ("auto", "empirical", "ledoit_wolf")


def estimator_name(kind, cov_estimator="auto"):
    """The covariance estimator ``"auto"`` resolves to for ``kind``.

    ``"auto"`` keeps the plain sample covariance for correlation and
    covariance (so ``stat-pearsoncorrelation`` is exactly Pearson's r, as in
    XCP-D) and uses Ledoit-Wolf shrinkage for the kinds that invert or take
    logarithms of the matrix, where a well-conditioned estimate matters.

    Returns
    -------
    name : {"empirical", "ledoit_wolf"}
    """
    check_option("cov_estimator", cov_estimator, COV_ESTIMATORS)
    if cov_estimator == "auto":
        return "empirical" if kind in ("correlation", "covariance") else "ledoit_wolf"
    return cov_estimator


def empirical_covariance(x):
    """Maximum-likelihood covariance (divides by n), as ``EmpiricalCovariance``.

    Parameters
    ----------
    x : ndarray, shape (n_times, n_regions)

    Returns
    -------
    cov : ndarray, shape (n_regions, n_regions)
    """
    xc = x - x.mean(0)
    return xc.T @ xc / x.shape[0]


def ledoit_wolf_covariance(x):
    """Ledoit-Wolf shrunk covariance, as ``sklearn.covariance.LedoitWolf``.

    Parameters
    ----------
    x : ndarray, shape (n_times, n_regions)

    Returns
    -------
    cov : ndarray, shape (n_regions, n_regions)
        ``(1 - s) S + s mu I``, ``S`` the empirical covariance, ``mu`` its
        mean eigenvalue, ``s`` the shrinkage of Ledoit & Wolf (2004).
    """
    n, p = x.shape
    xc = x - x.mean(0)
    emp = xc.T @ xc / n
    if p == 1:
        return emp
    x2 = xc ** 2
    trace = x2.sum(0) / n
    mu = trace.sum() / p
    beta_ = float(np.sum(x2.T @ x2))
    delta_ = float(np.sum((xc.T @ xc) ** 2)) / n ** 2
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + p * mu ** 2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    cov = (1.0 - shrinkage) * emp
    cov.flat[:: p + 1] += shrinkage * mu
    return cov


def subject_matrix(timeseries, kind="correlation", cov_estimator="auto"):
    """One subject's connectivity matrix.

    Parameters
    ----------
    timeseries : ndarray, shape (n_times, n_regions)
    kind : {"correlation", "partial correlation", "covariance", "precision"}
    cov_estimator : {"auto", "empirical", "ledoit_wolf"}

    Returns
    -------
    matrix : ndarray, shape (n_regions, n_regions)
        Correlation kinds are exactly symmetric with a unit diagonal.
    """
    check_option("kind", kind, SUBJECT_KINDS)
    x = np.asarray(timeseries, dtype=float)
    name = estimator_name(kind, cov_estimator)
    cov = empirical_covariance(x) if name == "empirical" else ledoit_wolf_covariance(x)
    if kind == "covariance":
        return cov
    if kind == "correlation":
        d = np.sqrt(np.diag(cov))
        out = cov / np.outer(d, d)
    else:
        prec = np.linalg.inv(cov)
        if kind == "precision":
            return prec
        d = np.sqrt(np.diag(prec))
        out = -prec / np.outer(d, d)
    out = (out + out.T) / 2  # exact symmetry and unit diagonal (rounding leaves 1 +- 1e-16)
    np.fill_diagonal(out, 1.0)
    return out
