"""SVC on a Gram matrix built with BLAS: libsvm's model, without libsvm's kernel loop.

``sklearn.svm.SVC(kernel="linear" | "rbf")`` evaluates the kernel inside
libsvm one pair of samples at a time; on thousands of overlapping
pseudo-online windows with thousands of tangent-space features that loop
is most of the fit. :class:`GramSVC` computes the linear Gram matrix once
with one BLAS product, derives the kernel from it (:func:`svc_kernel_from_gram`),
and trains ``SVC(kernel="precomputed")``: the same dual problem, so the same
support vectors, coefficients and decisions (to float tolerance). Decisions
need only the support vectors: for the linear kernel they collapse into one
weight vector.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from .._check import check_option

__all__ = ["GramSVC", "svc_kernel_from_gram"]


def svc_kernel_from_gram(gram, sq_rows, sq_cols, kernel, gamma):
    """SVC's ``kernel`` from the linear Gram ``gram`` of the features.

    Parameters
    ----------
    gram : ndarray, shape (n_rows, n_cols)
        ``A @ B.T`` of the row and column features.
    sq_rows, sq_cols : ndarray, shapes (n_rows,), (n_cols,)
        Squared norms of the row and column features (for ``"rbf"``).
    kernel : {"linear", "rbf", "poly", "sigmoid"}
        SVC's kernels with its defaults (degree 3, coef0 0).
    gamma : float
    """
    if kernel == "linear":
        return gram
    if kernel == "rbf":
        d2 = sq_rows[:, None] + sq_cols[None, :] - 2.0 * gram
        return np.exp(-gamma * np.maximum(d2, 0.0))
    if kernel == "poly":  # SVC defaults: degree=3, coef0=0
        return (gamma * gram) ** 3
    return np.tanh(gamma * gram)  # sigmoid, coef0=0


class GramSVC(ClassifierMixin, BaseEstimator):
    """``SVC(C, kernel, gamma)`` trained on a BLAS-built Gram matrix.

    Parameters
    ----------
    C : float
    kernel : {"linear", "rbf", "poly", "sigmoid"}
    gamma : "scale", "auto" or float
        As SVC: ``"scale"`` = 1 / (n_features * X.var()).
    class_weight, tol, max_iter, cache_size :
        Passed to :class:`sklearn.svm.SVC`.

    Attributes
    ----------
    svc_ : sklearn.svm.SVC
        The fitted precomputed-kernel SVC.
    support_vectors_ : ndarray, shape (n_SV, n_features)
    classes_ : ndarray
    """

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", class_weight=None, tol=1e-3, max_iter=-1,
                 cache_size=200):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.cache_size = cache_size

    def _gamma(self, X):
        if self.gamma == "scale":
            var = X.var()
            return 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / X.shape[1]
        return float(self.gamma)

    def fit(self, X, y):
        check_option("kernel", self.kernel, ("linear", "rbf", "poly", "sigmoid"))
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
        self.gamma_ = self._gamma(X)
        sq = np.einsum("ij,ij->i", X, X)
        K = svc_kernel_from_gram(X @ X.T, sq, sq, self.kernel, self.gamma_)
        self.svc_ = SVC(C=self.C, kernel="precomputed", class_weight=self.class_weight, tol=self.tol,
                        max_iter=self.max_iter, cache_size=self.cache_size).fit(K, y)
        self.support_vectors_ = X[self.svc_.support_]
        self._sv_sq = sq[self.svc_.support_]
        self.classes_ = self.svc_.classes_
        self.n_features_in_ = X.shape[1]
        if self.kernel == "linear" and len(self.classes_) == 2:
            # binary linear decisions = X @ w + b: one matrix-vector product
            self.coef_ = self.svc_.dual_coef_ @ self.support_vectors_
        return self

    def _kernel_sv(self, X):
        sq = np.einsum("ij,ij->i", X, X)
        return svc_kernel_from_gram(X @ self.support_vectors_.T, sq, self._sv_sq, self.kernel, self.gamma_)

    def decision_function(self, X):
        """SVC's decision values, shape (n_samples,) (binary) or (n_samples, n_classes) (ovr)."""
        check_is_fitted(self, "svc_")
        X = np.asarray(X, dtype=np.float64)
        if len(self.classes_) == 2:
            # scikit-learn's public dual_coef_/intercept_ already carry its
            # binary sign convention (positive -> classes_[1])
            if self.kernel == "linear":
                return (X @ self.coef_.T + self.svc_.intercept_).ravel()
            return (self._kernel_sv(X) @ self.svc_.dual_coef_.T + self.svc_.intercept_).ravel()
        # multiclass: libsvm's one-vs-one bookkeeping, on a kernel that is zero
        # outside the support vectors (their columns are the only ones read)
        K = np.zeros((len(X), self.svc_.shape_fit_[0]))
        K[:, self.svc_.support_] = self._kernel_sv(X)
        return self.svc_.decision_function(K)

    def predict(self, X):
        d = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(d > 0).astype(int)]
        check_is_fitted(self, "svc_")
        K = np.zeros((len(X), self.svc_.shape_fit_[0]))
        K[:, self.svc_.support_] = self._kernel_sv(np.asarray(X, dtype=np.float64))
        return self.svc_.predict(K)
