"""Feature ranking by signed R² or Fisher score, and top-k selection.

HappyFeat ranks every channel x frequency feature by its two-class R², the
share of the feature's variance explained by the class (between-class over
total sum of squares, the squared point-biserial correlation), signed by the
direction of the class difference; the best features feed a shrinkage LDA.
For more than two classes the natural extensions are the one-vs-rest R²
(best over classes) and the Fisher score (between- over within-class sum of
squares), whose ranking equals that of ``eta² = F / (1 + F)``, the multiclass
R².
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from brainpipe._check import check_option

__all__ = ["signed_r2", "fisher_score", "SignedR2Selector"]


def _sums_of_squares(X, y, classes):
    """Between-class and total sums of squares per feature: (n_features,) each."""
    mean = X.mean(axis=0)
    total = ((X - mean) ** 2).sum(axis=0)
    between = np.zeros(X.shape[1])
    for cls in classes:
        rows = X[y == cls]
        between += len(rows) * (rows.mean(axis=0) - mean) ** 2
    return between, total


def _r2(X, positive):
    """R² of each feature against the boolean labels ``positive``, and the sign."""
    between, total = _sums_of_squares(X, positive, (False, True))
    # a constant feature explains nothing
    r2 = np.divide(between, total, out=np.zeros_like(between), where=total > 0)
    sign = np.sign(X[positive].mean(axis=0) - X[~positive].mean(axis=0))
    return sign * r2


def signed_r2(X, y):
    """Signed R² of each feature between two classes (HappyFeat).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features.
    y : array-like, shape (n_samples,)
        Labels of exactly two classes.

    Returns
    -------
    r2 : ndarray, shape (n_features,)
        ``sign(mean_b - mean_a) * SS_between / SS_total`` where ``a < b`` are
        the two sorted class labels; ``SS_between / SS_total`` equals the
        squared correlation between the feature and the 0/1 label.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(
            f"signed_r2 needs exactly 2 classes, got {len(classes)}: {classes}."
        )
    return _r2(X, y == classes[1])


def fisher_score(X, y):
    """Fisher score of each feature: between- over within-class sum of squares.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features.
    y : array-like, shape (n_samples,)
        Labels of two or more classes.

    Returns
    -------
    score : ndarray, shape (n_features,)
        ``sum_c n_c (mu_c - mu)^2 / sum_c n_c sigma_c^2``; ``inf`` where the
        classes are perfectly separated with no within-class spread, 0 for a
        constant feature.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    between, total = _sums_of_squares(X, y, np.unique(y))
    within = np.maximum(total - between, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(within > 0, between / within, np.where(between > 0, np.inf, 0))
    return score


class SignedR2Selector(SelectorMixin, BaseEstimator):
    """Keep the ``k`` features with the largest class effect (HappyFeat ranking).

    Parameters
    ----------
    k : int or "all", default=10
        Number of features kept. A ``k`` larger than the number of features
        keeps them all, with a warning (as ``SelectKBest``).
    multiclass : {"ovr", "fisher"}, default="ovr"
        Ranking with more than two classes: the largest one-vs-rest R² over
        classes, or the Fisher score. With two classes both give the R²
        ranking.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Class labels.
    scores_ : ndarray, shape (n_features,)
        Ranking score (non-negative): R² for two classes, max one-vs-rest R²
        or Fisher score otherwise.
    signed_r2_ : ndarray, shape (n_features,) or (n_classes, n_features)
        Signed R² (positive: larger in ``classes_[1]``); one-vs-rest rows
        (positive: larger in that class) with more than two classes. Reshape
        to (n_channels, n_freqs) for a HappyFeat-style map.
    ranking_ : ndarray of int, shape (n_features,)
        Feature indices from best to worst.
    n_features_in_ : int
        Number of features seen in ``fit``.
    """

    def __init__(self, k=10, multiclass="ovr"):
        self.k = k
        self.multiclass = multiclass

    def fit(self, X, y):
        """Score every feature.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Features (e.g. from :class:`PSDBandPower`).
        y : array-like, shape (n_samples,)
            Class labels.

        Returns
        -------
        self : SignedR2Selector
        """
        check_option("multiclass", self.multiclass, ("ovr", "fisher"))
        if not (self.k == "all" or (
            isinstance(self.k, numbers.Integral) and not isinstance(self.k, bool)
            and self.k >= 0
        )):
            raise ValueError(
                f"k must be a non-negative integer or 'all', got {self.k!r}."
            )
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"SignedR2Selector needs at least 2 classes, got {len(self.classes_)} "
                "class(es)."
            )
        if len(self.classes_) == 2:
            self.signed_r2_ = _r2(X, y == self.classes_[1])
            self.scores_ = np.abs(self.signed_r2_)
        else:
            self.signed_r2_ = np.stack([_r2(X, y == cls) for cls in self.classes_])
            if self.multiclass == "ovr":
                self.scores_ = np.abs(self.signed_r2_).max(axis=0)
            else:
                self.scores_ = fisher_score(X, y)
        self.ranking_ = np.argsort(-self.scores_, kind="stable")
        if self.k != "all" and self.k > X.shape[1]:
            warnings.warn(
                f"k={self.k} is greater than n_features={X.shape[1]}. All the "
                "features will be kept.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "scores_")
        n_features = len(self.scores_)
        k = n_features if self.k == "all" else min(self.k, n_features)
        mask = np.zeros(n_features, dtype=bool)
        mask[self.ranking_[:k]] = True
        return mask

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
