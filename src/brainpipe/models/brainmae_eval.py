"""BrainMAE's yardsticks: reconstruction baselines, linear probes, ROI similarity vs FC.

:func:`baseline_predictions` fills masked ROIs from the visible ones (mean,
FC-weighted, conditional Gaussian) for :func:`masked_mse` to compare with
the model; :func:`probe_cv` scores a linear head on frozen subject
representations with subject-disjoint folds; :func:`similarity_vs_fc`
compares the learnt ROI similarity with functional connectivity.
"""

from __future__ import annotations

import numpy as np

from .._check import check_option

__all__ = ["baseline_predictions", "masked_mse", "probe_cv", "similarity_vs_fc"]



def baseline_predictions(windows, mask, fc=None, cov=None, ridge=1e-3):
    """Predictions of the masked ROIs by simple baselines.

    Parameters
    ----------
    windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
    mask : ndarray of bool, shape (n_windows, n_segments, n_rois)
    fc : ndarray, shape (n_rois, n_rois) | None
        Group FC (correlations) of training subjects: ``"fc_weighted"``
        predicts a masked ROI as the mean of the visible ROIs of its segment
        weighted by their positive FC with it.
    cov : ndarray, shape (n_rois, n_rois) | None
        Covariance of training subjects: ``"fc_regression"`` is the Gaussian
        conditional mean of the masked ROIs given the visible ones (the best
        linear predictor from FC, a stronger reference than the paper's).
    ridge : float
        Added to the diagonal of the visible block of ``cov``.

    Returns
    -------
    predictions : dict of str -> ndarray, shape like ``windows``
        ``"roi_mean"``: the ROI's mean over the visible segments of its
        window; ``"interpolation"``: linear interpolation in time between the
        nearest visible samples of the same ROI (constant beyond the ends);
        and the FC baselines when given. Only masked entries are meaningful.
    """
    x = np.asarray(windows, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    w, s, n, t = x.shape
    vis = (~mask)[..., None]
    cnt = vis.sum(axis=1)[..., 0] * t  # (w, n) visible samples per ROI
    mean = np.where(cnt > 0, (x * vis).sum(axis=(1, 3)) / np.maximum(cnt, 1), 0.0)  # (w, n)
    out = {"roi_mean": np.broadcast_to(mean[:, None, :, None], x.shape).copy()}

    interp = np.zeros_like(x)
    times = np.arange(s * t)
    seq = x.transpose(0, 2, 1, 3).reshape(w, n, s * t)
    known = np.repeat(~mask.transpose(0, 2, 1), t, axis=-1)  # (w, n, s*t)
    for i in range(w):
        for r in range(n):
            k = known[i, r]
            if k.all():
                row = seq[i, r]
            elif k.any():
                row = np.interp(times, times[k], seq[i, r, k])
            else:
                row = np.zeros(s * t)
            interp[i, :, r, :] = row.reshape(s, t)
    out["interpolation"] = interp

    if fc is not None:
        wts = np.clip(np.asarray(fc, dtype=np.float64), 0, None)
        np.fill_diagonal(wts, 0.0)
        vw = (~mask).astype(np.float64)  # (w, s, n)
        num = np.einsum("ij,wsjt->wsit", wts, x * vw[..., None])
        den = np.einsum("ij,wsj->wsi", wts, vw)[..., None]
        out["fc_weighted"] = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    if cov is not None:
        cov = np.asarray(cov, dtype=np.float64)
        pred = np.zeros_like(x)
        for i in range(w):
            for j in range(s):
                m = mask[i, j]
                if not m.any():
                    continue
                u = ~m
                cuu = cov[np.ix_(u, u)] + ridge * np.eye(u.sum())
                pred[i, j, m] = cov[np.ix_(m, u)] @ np.linalg.solve(cuu, x[i, j, u])
        out["fc_regression"] = pred
    return out


def masked_mse(pred, windows, mask):
    """Mean squared error over the masked entries, shape-agnostic.

    Parameters
    ----------
    pred, windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
    mask : ndarray of bool, shape (n_windows, n_segments, n_rois)
    """
    err = ((np.asarray(pred, dtype=np.float64) - np.asarray(windows, dtype=np.float64)) ** 2).mean(axis=-1)
    return float(err[np.asarray(mask, bool)].mean())


def probe_cv(X, y, task, *, n_splits=5, seed=0, n_permutations=0, groups=None):
    """Linear head on fixed features, cross-validated with subject-disjoint folds.

    Rows are subjects, so (Stratified)KFold folds never share a subject
    (``groups`` forces GroupKFold when rows repeat subjects). The head is
    ``StandardScaler`` + ``RidgeCV`` for regression and ``StandardScaler`` +
    ``RidgeClassifierCV`` for classification, the penalty chosen by efficient
    leave-one-out inside each training fold (so it works for any class size).

    Parameters
    ----------
    X : ndarray, shape (n_subjects, n_features)
    y : ndarray, shape (n_subjects,)
    task : {"regression", "classification"}
    n_splits : int
    seed : int
    n_permutations : int
        0 skips the permutation test (``p_value`` NaN).
    groups : ndarray, shape (n_subjects,) | None

    Returns
    -------
    result : dict
        ``score`` (R^2 or balanced accuracy, mean over folds), ``score_sd``
        (over folds), ``p_value`` (permutation test),
        ``y_pred`` (out-of-fold), ``scoring``, and ``mae``/``pearson_r`` or
        ``accuracy``, ``model`` (``"ridge"`` or ``"ridge_classifier"``).
    """
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.model_selection import (GroupKFold, KFold, StratifiedKFold, cross_val_predict,
                                         cross_val_score, permutation_test_score)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..fmri.prediction_models import prediction_summary

    check_option("task", task, ("regression", "classification"))
    X = np.asarray(X, dtype=np.float64)
    if groups is not None:
        cv = GroupKFold(n_splits=n_splits)
    elif task == "regression":
        cv = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    alphas = np.logspace(-2, 5, 15)
    if task == "regression":
        est = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
        scoring, model = "r2", "ridge"
    else:
        est = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=alphas))
        scoring, model = "balanced_accuracy", "ridge_classifier"
    folds = cross_val_score(est, X, y, groups=groups, cv=cv, scoring=scoring)
    y_pred = cross_val_predict(est, X, y, groups=groups, cv=cv)
    p_value = float("nan")
    if n_permutations:
        _, _, p_value = permutation_test_score(est, X, y, groups=groups, cv=cv, scoring=scoring,
                                               n_permutations=int(n_permutations), random_state=seed)
    out = {"model": model, "scoring": scoring, "score": float(folds.mean()), "score_sd": float(folds.std()),
           "p_value": float(p_value), "y_pred": y_pred}
    out.update(prediction_summary(y, y_pred, task))
    return out


def similarity_vs_fc(similarity, fc, n_permutations=1000, seed=0):
    """Correlation of two ROI x ROI matrices against a ROI-permutation (Mantel) null.

    Parameters
    ----------
    similarity, fc : ndarray, shape (n_rois, n_rois)
        Symmetric matrices; their upper triangles are compared.
    n_permutations : int
        The null permutes the ROI order of ``similarity`` (rows and columns
        together), which keeps its structure.
    seed : int

    Returns
    -------
    r : float
        Pearson correlation of the upper triangles.
    p_value : float
        ``(1 + #{null >= r}) / (1 + n_permutations)`` (one-sided).
    null : ndarray, shape (n_permutations,)
    """
    a = np.asarray(similarity, dtype=np.float64)
    b = np.asarray(fc, dtype=np.float64)
    n = a.shape[0]
    iu = np.triu_indices(n, 1)
    bv = b[iu] - b[iu].mean()
    bv /= np.linalg.norm(bv)

    def corr(m):
        v = m[iu] - m[iu].mean()
        return float(v @ bv / np.linalg.norm(v))

    r = corr(a)
    rng = np.random.default_rng(seed)
    null = np.empty(int(n_permutations))
    for k in range(len(null)):
        p = rng.permutation(n)
        null[k] = corr(a[np.ix_(p, p)])
    p_value = float((1 + np.sum(null >= r)) / (1 + len(null)))
    return r, p_value, null
