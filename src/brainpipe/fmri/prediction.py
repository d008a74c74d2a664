"""Predicting demographics from functional connectivity, site-aware.

Features are the upper triangles of each subject's connectivity matrix
(Fisher z for correlations). Models (scikit-learn pipelines):

* ``"ridge"`` for continuous targets (age): standardise, ridge with its
  penalty chosen by efficient leave-one-out inside the training set;
* ``"pca_lda"`` and ``"logistic"`` for categories (sex): PCA then linear
  discriminant analysis, or L2 logistic regression.

Every pipeline starts with :class:`ConfoundRegressor`, so confounds (motion,
age when predicting sex, ...) are regressed out of the features with
coefficients fitted on the training fold only (a confound model fitted on
all subjects leaks the test set; Snoek et al. 2019, NeuroImage 184:741).
Cross-validation holds out whole sites (``LeaveOneGroupOut`` or
``GroupKFold`` on the site), and :func:`sklearn.model_selection.permutation_test_score`
gives the p-value, permuting the target within sites.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone

from .._check import check_file, check_option, input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from .dynamic import upper_triangles

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
    from scipy.stats import pearsonr
    from sklearn.metrics import accuracy_score, mean_absolute_error
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
    if task == "regression":
        out["mae"] = float(mean_absolute_error(y, y_pred))
        out["pearson_r"] = float(pearsonr(y, y_pred)[0])
    else:
        out["accuracy"] = float(accuracy_score(y, y_pred))
    return out


def _subject_of(path):
    m = re.search(r"(sub-[A-Za-z0-9]+)", str(path.name if hasattr(path, "name") else path))
    return m.group(1) if m else None


def _design(columns, table, path):
    """Numeric confound matrix from table columns (categories one-hot, drop first)."""
    parts = []
    for col in columns:
        if col not in table.columns:
            raise input_error(path, f"has no confound column {col!r}")
        values = table[col]
        if pd.api.types.is_numeric_dtype(values):
            if values.isna().any():
                raise input_error(path, f"confound column {col!r} has missing values")
            parts.append(values.to_numpy(dtype=float)[:, None])
        else:
            dummies = pd.get_dummies(values.astype(str), prefix=col, drop_first=True, dtype=float)
            parts.append(dummies.to_numpy())
    return np.column_stack(parts) if parts else None


def predict_demographics(
    relmat_tsvs,
    participants_tsv,
    out_tsv,
    *,
    targets=("age", "sex"),
    models=None,
    site_column="site",
    confound_columns=None,
    extra_tsv=None,
    cv="logo",
    n_splits=5,
    n_permutations=200,
    seed=0,
    fisher_z="auto",
    out_predictions_tsv=None,
    figure=None,
    fragment=None,
    n_jobs=1,
    title=None,
):
    """Predict demographics from connectivity with site-aware CV and permutations.

    Parameters
    ----------
    relmat_tsvs : list of path-like
        One connectivity matrix per subject (``sub-XX`` in the file name),
        same regions in all.
    participants_tsv : path-like
        BIDS participants table (``participant_id``, the targets, the site).
    out_tsv : path-like
        One row per (target, model): ``target, model, task, scoring, score,
        score_sd, p_value, n_permutations, n_subjects, n_features, cv`` and
        ``mae, pearson_r`` (regression) or ``accuracy`` (classification).
    targets : sequence of str
        Numeric columns are regressed, others classified.
    models : dict of str -> list of str | None
        Models per target; default ``["ridge"]`` for numeric targets and
        ``["pca_lda", "logistic"]`` for categories.
    site_column : str
        Column with the site (scanner) of each subject.
    confound_columns : dict of str -> list of str | None
        Confounds per target (columns of participants or ``extra_tsv``),
        regressed out inside the folds; default none.
    extra_tsv : path-like | None
        Extra per-subject table (``participant_id`` + columns, e.g. mean FD).
    cv : {"logo", "groupkfold"}
    n_splits : int
    n_permutations : int
    seed : int
    fisher_z : bool | "auto"
    out_predictions_tsv : path-like | None
        Out-of-fold predictions: participant_id, site, target, model, true, predicted.
    figure : path-like | None
        PNG: predicted vs true (regression) and permutation null distributions.
    fragment : path-like | None
    n_jobs : int
    title : str | None
        What the features are when they are not the subjects' own FC (e.g.
        "after DemoVAE harmonization"): added as a ``features`` column and
        to the report's titles.

    Returns
    -------
    results : pandas.DataFrame
    """
    from .connectivity import read_relmat

    participants_tsv = check_file(participants_tsv, "participants table")
    table = pd.read_csv(participants_tsv, sep="\t", na_values=["n/a"])
    if "participant_id" not in table.columns:
        raise input_error(participants_tsv, "has no participant_id column")
    if extra_tsv is not None:
        extra = pd.read_csv(check_file(extra_tsv, "extra table"), sep="\t", na_values=["n/a"])
        table = table.merge(extra, on="participant_id", how="left", suffixes=("", "_extra"))
    table = table.set_index("participant_id")
    relmat_tsvs = list(relmat_tsvs)
    subjects = [_subject_of(p) for p in map(check_file, relmat_tsvs)]
    for p, s in zip(relmat_tsvs, subjects):
        if s is None:
            raise input_error(p, "file name has no sub-<label> entity")
        if s not in table.index:
            raise input_error(participants_tsv, f"has no row for {s} (from {p})")
    mats, names = [], None
    for p in relmat_tsvs:
        df = read_relmat(p)
        if names is None:
            names = list(df.index)
        elif list(df.index) != names:
            raise input_error(p, f"has regions that differ from {relmat_tsvs[0]}")
        mats.append(df.to_numpy())
    X = connectivity_features(np.stack(mats), fisher_z)
    if not np.isfinite(X).all():
        raise ValueError("connectivity features contain n/a values")
    table = table.loc[subjects]
    if site_column not in table.columns:
        raise input_error(participants_tsv, f"has no site column {site_column!r}")
    groups = table[site_column].astype(str).to_numpy()

    rows, preds, nulls = [], [], []
    for target in targets:
        if target not in table.columns:
            raise input_error(participants_tsv, f"has no target column {target!r}")
        if table[target].isna().any():
            missing = table.index[table[target].isna()].tolist()
            raise input_error(participants_tsv, f"target {target!r} is missing for {missing[:5]}")
        numeric = pd.api.types.is_numeric_dtype(table[target])
        task = "regression" if numeric else "classification"
        y = table[target].to_numpy(dtype=float) if numeric else table[target].astype(str).to_numpy()
        conf_cols = (confound_columns or {}).get(target, [])
        conf = _design(conf_cols, table, participants_tsv)
        for model in (models or {}).get(target) or (["ridge"] if numeric else ["pca_lda", "logistic"]):
            res = evaluate(X, y, groups, model, task=task, confounds=conf, cv=cv,
                           n_splits=n_splits, n_permutations=n_permutations, seed=seed,
                           n_jobs=n_jobs)
            row = {"target": target, "model": model, "task": task, "scoring": res["scoring"],
                   "score": res["score"], "score_sd": res["score_sd"], "p_value": res["p_value"],
                   "n_permutations": n_permutations, "n_subjects": len(y),
                   "n_features": X.shape[1], "cv": cv, "confounds": ",".join(conf_cols)}
            row.update({k: res[k] for k in ("mae", "pearson_r", "accuracy") if k in res})
            rows.append(row)
            nulls.append((target, model, res, y))
            preds.append(pd.DataFrame({"participant_id": subjects, "site": groups,
                                       "target": target, "model": model, "true": y,
                                       "predicted": res["y_pred"]}))
    results = pd.DataFrame(rows)
    if title is not None:
        results.insert(0, "features", str(title))

    with all_or_nothing(out_tsv, out_predictions_tsv, figure, fragment):
        meta = dict(CrossValidation=f"{cv} on {site_column!r}", Seed=seed,
                    PermutationsWithinSite=True, FisherZ=fisher_z,
                    ConfoundsRegressedInsideFolds=True)
        write_tsv(out_tsv, results)
        write_sidecar(out_tsv, list(relmat_tsvs) + [participants_tsv], **meta)
        if out_predictions_tsv is not None:
            write_tsv(out_predictions_tsv, pd.concat(preds, ignore_index=True))
            write_sidecar(out_predictions_tsv, list(relmat_tsvs) + [participants_tsv], **meta)
        if figure is not None:
            _plot_results(nulls, groups, figure)
        if fragment is not None:
            html = results[["target", "model", "scoring", "score", "p_value"]].to_html(
                index=False, float_format=lambda v: f"{v:.3g}")
            suffix = f" ({title})" if title else ""
            items = [fragment_item("html", "Prediction from connectivity" + suffix, html=html)]
            if figure is not None:
                items.insert(0, fragment_item(
                    "image", "Prediction of demographics" + suffix, path=figure,
                    caption=f"Site-held-out CV ({cv}); null from {n_permutations} "
                    "within-site permutations."))
            write_fragment(fragment, "fMRI group", items, order=45)
    return results


def _plot_results(results, groups, path):
    """Top: out-of-fold prediction vs truth (or confusion counts); bottom: null."""
    from ..io.figures import new_subplots, save_figure

    n = len(results)
    fig, axes = new_subplots(2, n, figsize=(4.4 * n, 8), squeeze=False,
                             gridspec_kw={"hspace": 0.35})
    sites = sorted(set(groups))
    for i, (target, model, res, y) in enumerate(results):
        ax = axes[0, i]
        if "pearson_r" in res:
            for site in sites:
                sel = groups == site
                ax.scatter(y[sel], res["y_pred"][sel], s=14, label=f"site {site}")
            lims = [min(y.min(), res["y_pred"].min()), max(y.max(), res["y_pred"].max())]
            ax.plot(lims, lims, color="0.5", lw=0.8)
            ax.set_xlabel(f"true {target}")
            ax.set_ylabel(f"predicted {target}")
            ax.legend(fontsize=7)
            ax.set_title(f"{target} ({model}): r={res['pearson_r']:.2f}, MAE={res['mae']:.3g}")
        else:
            classes = sorted(set(y))
            counts = np.array([[np.sum((y == a) & (res["y_pred"] == b)) for b in classes]
                               for a in classes])
            ax.imshow(counts, cmap="Blues")
            for (r, c), v in np.ndenumerate(counts):
                ax.text(c, r, str(v), ha="center", va="center")
            ax.set_xticks(range(len(classes)), classes)
            ax.set_yticks(range(len(classes)), classes)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{target} ({model}): accuracy {res['accuracy']:.2f}")
        ax = axes[1, i]
        ax.hist(res["null"], bins=30, color="0.7")
        ax.axvline(res["score"], color="tab:red")
        ax.set_title(f"{res['scoring']} {res['score']:.2f}, p={res['p_value']:.3f}")
        ax.set_xlabel(f"{res['scoring']} under permutation")
    return save_figure(fig, path)
