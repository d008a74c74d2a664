"""Models and cross-validation of demographic prediction from FC.

:func:`make_model` builds the estimators (ridge, PCA + LDA, logistic, with
:class:`ConfoundRegressor` fitted inside each fold), :func:`connectivity_features`
turns matrices into features, :func:`site_cv` gives the site-aware splits
and :func:`evaluate` the out-of-fold scores with a permutation null. The
files-to-files step is :func:`brainpipe.fmri.prediction.predict_demographics`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

from .._check import check_option
from .dynamic import upper_triangles

__all__ = ["CV_SCHEMES", "MODELS", "ConfoundRegressor", "connectivity_features", "evaluate", "make_model",
           "prediction_summary", "site_cv"]

MODELS = ("ridge", "pca_lda", "logistic")
CV_SCHEMES = ("logo", "groupkfold")


class ConfoundRegressor(TransformerMixin, BaseEstimator):
    """Remove confounds from features by linear regression fitted in ``fit``.

    The confounds travel as the last ``n_confounds`` columns of ``X`` so that
    the transformer works inside any scikit-learn pipeline, cross-validation
    and permutation test; ``transform`` returns only the feature columns.

    Parameters
    ----------
    n_confounds : int
        Number of trailing confound columns of ``X`` (0: pass features through).

    Attributes
    ----------
    coef_ : ndarray, shape (n_confounds + 1, n_features)
        Intercept row then one row per confound.
    """

    def __init__(self, n_confounds=0):
        self.n_confounds = n_confounds

    def _split(self, X):
        X = np.asarray(X, dtype=float)
        k = int(self.n_confounds)
        if k < 0 or k >= X.shape[1]:
            raise ValueError(f"n_confounds={k} must be in [0, {X.shape[1]}) for X of shape {X.shape}")
        if k == 0:
            return X, np.empty((len(X), 0))
        return X[:, :-k], X[:, -k:]

    def fit(self, X, y=None):
        """Fit the confound model on training data X, shape (n_samples, n_features + n_confounds)."""
        feats, conf = self._split(X)
        design = np.column_stack([np.ones(len(feats)), conf])
        self.coef_ = np.linalg.lstsq(design, feats, rcond=None)[0]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        """Residual features, shape (n_samples, n_features)."""
        feats, conf = self._split(X)
        if conf.shape[1] == 0:
            return feats  # nothing to remove: features pass through unchanged
        design = np.column_stack([np.ones(len(feats)), conf])
        return feats - design @ self.coef_


def make_model(name, n_confounds=0, *, n_components=10, C=1.0, alphas=None):
    """The scikit-learn pipeline of a model name.

    Parameters
    ----------
    name : {"ridge", "pca_lda", "logistic"}
    n_confounds : int
        Trailing confound columns of X (see :class:`ConfoundRegressor`).
    n_components : int
        PCA components for ``"pca_lda"``.
    C : float
        Inverse L2 penalty of ``"logistic"``.
    alphas : array-like | None
        Ridge penalties searched by ``RidgeCV`` (default 10^-1 .. 10^5).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_option("model", name, MODELS)
    head = [ConfoundRegressor(n_confounds), StandardScaler()]
    if name == "ridge":
        alphas = np.logspace(-1, 5, 13) if alphas is None else alphas
        return make_pipeline(*head, RidgeCV(alphas=alphas))
    if name == "pca_lda":
        # ARPACK (fixed start vector): for few subjects and many edges it is
        # several times faster than the randomized solver scikit-learn picks
        return make_pipeline(*head, PCA(n_components=n_components, svd_solver="arpack",
                                        random_state=0),
                             LinearDiscriminantAnalysis())
    # liblinear: fast and deterministic for few subjects and many edges
    return make_pipeline(*head, LogisticRegression(C=C, solver="liblinear"))


def connectivity_features(matrices, fisher_z="auto"):
    """Feature vectors of connectivity matrices.

    Parameters
    ----------
    matrices : ndarray, shape (n_subjects, n_regions, n_regions)
    fisher_z : bool | "auto"
        ``arctanh`` of the edges; "auto" applies it when the matrices look
        like correlations (unit diagonal, off-diagonal within [-1, 1]).

    Returns
    -------
    X : ndarray, shape (n_subjects, n_regions * (n_regions - 1) / 2)
    """
    mats = np.asarray(matrices, dtype=float)
    vec = upper_triangles(mats)
    if fisher_z == "auto":
        diag = np.einsum("...ii->...i", mats)
        fisher_z = bool(np.allclose(diag, 1.0) and np.abs(vec).max() <= 1.0)
    if fisher_z:
        vec = np.arctanh(np.clip(vec, -0.999999, 0.999999))
    return vec


def site_cv(groups, scheme="logo", n_splits=5):
    """Cross-validator that holds out whole sites.

    Parameters
    ----------
    groups : array-like, shape (n_subjects,)
        Site of each subject.
    scheme : {"logo", "groupkfold"}
    n_splits : int
        Folds of ``"groupkfold"`` (capped at the number of sites).
    """
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    check_option("cv", scheme, CV_SCHEMES)
    n_sites = len(np.unique(groups))
    if n_sites < 2:
        raise ValueError(f"site-aware cross-validation needs at least 2 sites, got {n_sites}")
    if scheme == "logo":
        return LeaveOneGroupOut()
    return GroupKFold(n_splits=min(n_splits, n_sites))


def evaluate(X, y, groups, model, *, task, confounds=None, cv="logo", n_splits=5,
             n_permutations=200, seed=0, n_jobs=1):
    """Site-aware cross-validated score, permutation p-value and predictions.

    Parameters
    ----------
    X : ndarray, shape (n_subjects, n_features)
    y : ndarray, shape (n_subjects,)
    groups : ndarray, shape (n_subjects,)
        Site labels (held out together, and permutations stay within sites).
    model : str
        One of :data:`MODELS`.
    task : {"regression", "classification"}
    confounds : ndarray, shape (n_subjects, n_confounds) | None
    cv : {"logo", "groupkfold"}
    n_splits : int
    n_permutations : int
    seed : int
    n_jobs : int

    Returns
    -------
    result : dict
        ``score`` (r2 or balanced accuracy), ``score_sd`` (over folds),
        ``p_value``, ``null`` (permutation scores), ``y_pred`` (out-of-fold
        predictions), and ``mae``/``pearson_r`` or ``accuracy``.
    """
    from sklearn.model_selection import cross_val_predict, cross_val_score, permutation_test_score

    check_option("task", task, ("regression", "classification"))
    confounds = np.empty((len(X), 0)) if confounds is None else np.asarray(confounds, float)
    Xc = np.column_stack([X, confounds])
    splitter = site_cv(groups, cv, n_splits)
    n_conf = confounds.shape[1]
    kwargs = {}
    if model == "pca_lda":
        smallest = min(len(tr) for tr, _ in splitter.split(Xc, y, groups))
        kwargs["n_components"] = max(1, min(10, smallest - 2))
    est = make_model(model, n_conf, **kwargs)
    scoring = "r2" if task == "regression" else "balanced_accuracy"
    folds = cross_val_score(clone(est), Xc, y, groups=groups, cv=splitter, scoring=scoring,
                            n_jobs=n_jobs)
    score, null, p_value = permutation_test_score(
        clone(est), Xc, y, groups=groups, cv=splitter, scoring=scoring,
        n_permutations=n_permutations, random_state=seed, n_jobs=n_jobs,
    )
    y_pred = cross_val_predict(clone(est), Xc, y, groups=groups, cv=splitter, n_jobs=n_jobs)
    out = {"score": float(score), "score_sd": float(folds.std()), "p_value": float(p_value),
           "null": np.asarray(null), "y_pred": y_pred, "scoring": scoring}
    out.update(prediction_summary(y, y_pred, task))
    return out


def prediction_summary(y, y_pred, task):
    """Out-of-fold summary: ``mae`` and ``pearson_r`` (regression) or ``accuracy``."""
    from scipy.stats import pearsonr
    from sklearn.metrics import accuracy_score, mean_absolute_error

    if task == "regression":
        return {"mae": float(mean_absolute_error(y, y_pred)), "pearson_r": float(pearsonr(y, y_pred)[0])}
    return {"accuracy": float(accuracy_score(y, y_pred))}
