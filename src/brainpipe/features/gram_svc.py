"""SVC on a Gram matrix built with BLAS: libsvm's model, without libsvm's kernel loop.

``sklearn.svm.SVC(kernel="linear" | "rbf")`` evaluates the kernel inside
libsvm one pair of samples at a time; on thousands of overlapping
pseudo-online windows with thousands of tangent-space features that loop
is most of the fit. :class:`GramSVC` computes the linear Gram matrix once
with one BLAS product, derives the kernel from it (:func:`svc_kernel_from_gram`),
and trains ``SVC(kernel="precomputed")``: the same dual problem, so the same
support vectors, coefficients and decisions (to float tolerance). Decisions
need only the support vectors, and are computed here rather than in libsvm's
per-pair loop: libsvm's one-vs-one dual coefficients are laid out once as a
(support vectors x class pairs) matrix, so that every pair's decision for a
batch of windows is one BLAS product ``K_sv @ D``; for the linear kernel
``D`` collapses further into one weight vector per pair (``X @ W.T``).
Votes follow libsvm's rule (a positive decision votes for the first class
of the pair, ties go to the lowest class index).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.multiclass import _ovr_decision_function
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
    pairs_ : ndarray of int, shape (n_pairs, 2)
        libsvm's one-vs-one class pairs ``(i, j)``, ``i < j``, in its order.
    pair_coef_ : ndarray, shape (n_SV, n_pairs)
        Dual coefficients of every support vector in every pair's decision
        (zero for classes outside the pair); multiclass only.
    coef_ : ndarray, shape (n_pairs, n_features)
        Linear kernel: the primal weights ``pair_coef_.T @ support_vectors_``.
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
        if len(self.classes_) == 2:
            self.pairs_ = np.array([[0, 1]])
            self.pair_coef_ = self.svc_.dual_coef_.T
        else:
            self.pairs_, self.pair_coef_ = _ovo_coefficients(self.svc_)
        if self.kernel == "linear":
            # linear decisions = X @ w + b: one (n_pairs x n_features) product
            self.coef_ = self.pair_coef_.T @ self.support_vectors_
        return self

    def _kernel_sv(self, X):
        sq = np.einsum("ij,ij->i", X, X)
        return svc_kernel_from_gram(X @ self.support_vectors_.T, sq, self._sv_sq, self.kernel, self.gamma_)

    def _pair_decisions(self, X):
        """One-vs-one decision values, shape (n_samples, n_pairs): one BLAS product.

        scikit-learn's public ``dual_coef_``/``intercept_`` already carry its
        binary sign convention (positive -> ``classes_[1]``); multiclass ones
        are libsvm's (positive -> the pair's first class).
        """
        check_is_fitted(self, "svc_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must be (n_samples, {self.n_features_in_}), got shape {X.shape}.")
        if self.kernel == "linear":
            return X @ self.coef_.T + self.svc_.intercept_
        return self._kernel_sv(X) @ self.pair_coef_ + self.svc_.intercept_

    def decision_function(self, X):
        """SVC's decision values.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)

        Returns
        -------
        d : ndarray, shape (n_samples,) (binary) or (n_samples, n_classes)
            SVC's default ``decision_function_shape="ovr"`` (votes plus
            bounded confidences, from the one-vs-one decisions).
        """
        dec = self._pair_decisions(X)
        if len(self.classes_) == 2:
            return dec.ravel()
        return _ovr_decision_function(dec < 0, -dec, len(self.classes_))

    def predict(self, X):
        """SVC's predictions, shape (n_samples,): libsvm's one-vs-one vote.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)

        Returns
        -------
        y : ndarray, shape (n_samples,)
        """
        dec = self._pair_decisions(X)
        if len(self.classes_) == 2:
            return self.classes_[(dec[:, 0] > 0).astype(int)]
        votes = np.zeros((len(dec), len(self.classes_)), dtype=np.int64)
        first = dec > 0  # libsvm: > 0 votes for i, else for j
        for p, (i, j) in enumerate(self.pairs_):
            votes[:, i] += first[:, p]
            votes[:, j] += ~first[:, p]
        # argmax takes the first maximum, as libsvm's vote loop does
        return self.classes_[np.argmax(votes, axis=1)]


def _ovo_coefficients(svc):
    """libsvm's one-vs-one dual coefficients as a dense (n_SV, n_pairs) matrix.

    libsvm stores the support vectors grouped by class and, for the pair
    ``(i, j)``, the coefficients of class ``i``'s vectors in row ``j - 1`` of
    ``dual_coef_`` and those of class ``j``'s in row ``i``.
    """
    n_classes = len(svc.classes_)
    bounds = np.concatenate([[0], np.cumsum(svc.n_support_)])
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    D = np.zeros((bounds[-1], len(pairs)))
    for p, (i, j) in enumerate(pairs):
        si, sj = slice(bounds[i], bounds[i + 1]), slice(bounds[j], bounds[j + 1])
        D[si, p] = svc.dual_coef_[j - 1, si]
        D[sj, p] = svc.dual_coef_[i, sj]
    return np.array(pairs), D
