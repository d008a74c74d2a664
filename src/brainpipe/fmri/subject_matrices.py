"""One subject's connectivity matrix in numpy.

The per-subject kinds (correlation, partial correlation, covariance,
precision) are what nilearn's :class:`~nilearn.connectome.ConnectivityMeasure`
computes for a single subject with ``standardize=False``: the covariance by
scikit-learn's ``EmpiricalCovariance`` or ``LedoitWolf``, then nilearn's
``cov_to_corr`` / ``prec_to_partial``. The covariances are the kernels' numpy
estimators (:func:`brainpipe.kernels._reference.embedded_covariances`,
``"scm"`` and ``"lwf"``: scikit-learn's, tested against it); the rest is a
few lines here, because importing ``nilearn.connectome`` (scikit-learn,
scipy.stats) cost each ``fmri_connectivity`` job about 2 CPU s for a
millisecond of arithmetic; ``tests/test_fmri_connectivity.py`` checks them
against nilearn to float round-off. The group kinds (tangent) stay nilearn's.
"""

from __future__ import annotations

import numpy as np

from .._check import check_option
from ..kernels._reference import embedded_covariances

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
    # the kernels take (p, n_samples); "scm" divides by n like EmpiricalCovariance
    cov = embedded_covariances(x.T, "scm" if name == "empirical" else "lwf")
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
