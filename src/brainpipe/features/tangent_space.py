"""Riemannian tangent space with the Newton mean: pyriemann's output, faster fit.

:class:`RiemannTangentSpace` is a drop-in replacement for
``pyriemann.tangentspace.TangentSpace(metric="riemann")`` in scikit-learn,
pyriemann and MOABB pipelines: the same reference point (the affine-invariant
Riemannian mean, to pyriemann's tolerance) and the same tangent vectors
(``upper(logm(M^-1/2 C M^-1/2))``, off-diagonal terms weighted by sqrt(2)).
What differs is how the mean is found: by inexact Newton steps
(:func:`brainpipe.features.acm_search.riemann_mean_logmaps`, 3 batched
eigendecompositions of the set where pyriemann's fixed point needs 7-30 on
ill-conditioned matrices such as high-order ACM), and ``fit_transform`` returns
the log maps the last Newton step computed instead of projecting again.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._check import check_option

__all__ = ["RiemannTangentSpace", "tangent_vectors"]


def _upper(L):
    n = L.shape[-1]
    iu = np.triu_indices(n)
    coeffs = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
    return L[..., iu[0], iu[1]] * coeffs


def tangent_vectors(covmats, reference, chunk=2048):
    """pyriemann's tangent vectors of ``covmats`` at ``reference`` (batched ``eigh``).

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
        SPD matrices.
    reference : ndarray, shape (n, n)
        SPD reference point.
    chunk : int
        Matrices per batched eigendecomposition (bounds the memory).

    Returns
    -------
    T : ndarray, shape (n_matrices, n * (n + 1) / 2)
    """
    covmats = np.asarray(covmats, dtype=np.float64)
    w, V = np.linalg.eigh(reference)
    if not np.all(w > 0):
        raise ValueError("The tangent-space reference point is not positive definite.")
    Mmh = (V / np.sqrt(w)) @ V.T
    n = covmats.shape[-1]
    out = np.empty((len(covmats), n * (n + 1) // 2))
    for s in range(0, len(covmats), chunk):
        S = Mmh @ covmats[s : s + chunk] @ Mmh
        lw, U = np.linalg.eigh(S)
        if not np.all(lw > 0):
            raise ValueError(
                "A matrix is not positive definite (zero or negative eigenvalue): use a shrinkage "
                "covariance estimator (oas, lwf) or check for flat or duplicated channels."
            )
        L = (U * np.log(lw)[..., None, :]) @ np.swapaxes(U, -1, -2)
        out[s : s + chunk] = _upper(L)
    return out


class RiemannTangentSpace(TransformerMixin, BaseEstimator):
    """Tangent space at the Riemannian mean (pyriemann ``TangentSpace("riemann")``).

    Parameters
    ----------
    tol : float
        Gradient norm at which the mean stops (pyriemann: 1e-8).
    max_iter : int
        Most Newton iterations.
    n_jobs : int
        Threads over chunks of matrices in the mean (run with one BLAS thread).
    backend : {"auto", "numpy", "torch"}
        ``"torch"``: the mean's eigendecompositions batched on the CUDA device
        (``"auto"`` picks it when a GPU is present, else numpy/LAPACK).

    Attributes
    ----------
    reference_ : ndarray, shape (n_channels, n_channels)
        The Riemannian mean of the training matrices (pyriemann's name).
    n_iter_ : int
        Eigendecompositions of the training set the mean took.
    """

    def __init__(self, tol=1e-8, max_iter=50, n_jobs=1, backend="auto"):
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.backend = backend

    def _device(self):
        from ..kernels._backend import cuda_available

        check_option("backend", self.backend, ("auto", "numpy", "torch"))
        if self.backend == "torch" or (self.backend == "auto" and cuda_available()):
            return "cuda" if cuda_available() else "cpu"
        return None

    @staticmethod
    def _check(X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1] != X.shape[2]:
            raise ValueError(f"X must hold square matrices (n_matrices, n, n), got shape {X.shape}.")
        if not np.isfinite(X).all():
            raise ValueError("X has NaN or infinite values.")
        return X

    def _fit(self, X):
        from .acm_search import riemann_mean_logmaps

        X = self._check(X)
        M, T, info = riemann_mean_logmaps(X, tol=self.tol, max_iter=self.max_iter, n_jobs=self.n_jobs,
                                          device=self._device())
        self.reference_ = M
        self.n_iter_ = int(info["n_iter"])
        self.n_features_in_ = X.shape[1]
        return T

    def fit(self, X, y=None):
        """Estimate the reference point (the Riemannian mean of ``X``)."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the training tangent vectors (the mean's own log maps)."""
        return self._fit(X)

    def transform(self, X):
        """Tangent vectors at ``reference_``, shape (n_matrices, n (n + 1) / 2)."""
        check_is_fitted(self, "reference_")
        X = self._check(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} channels, the tangent space was fitted with {self.n_features_in_}.")
        return tangent_vectors(X, self.reference_)
