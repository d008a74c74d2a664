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
from .._check import check_file, input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from .prediction_models import (
    CV_SCHEMES,
    MODELS,
    ConfoundRegressor,
    connectivity_features,
    evaluate,
    make_model,
    site_cv,
)

__all__ = ["CV_SCHEMES", "MODELS", "ConfoundRegressor", "connectivity_features", "evaluate", "make_model",
           "predict_demographics", "site_cv"]

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
    note=None,
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
    note : str | None
        What a reader must know to read the scores, shown in the report above
        the table and in the figure's caption (e.g. that harmonized FC was
        decoded from the very demographics predicted here).

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
    # a cohort scikit-learn cannot fit (too few subjects, one site, a class missing from a
    # site-held-out training fold): skipped with the reason, so the group report still builds
    reasons = _cohort_problems(table, subjects, [], site_column, cv)
    skipped = {t: _cohort_problems(table, subjects, [t], site_column, cv) for t in targets if t in table.columns}
    if reasons or (targets and all(skipped.get(t) for t in targets)):
        by_target = {t: reasons or skipped.get(t, []) for t in targets}
        return _write_skipped(by_target, subjects, relmat_tsvs, participants_tsv, cv, out_tsv,
                              out_predictions_tsv, figure, fragment, title)

    rows, preds, nulls = [], [], []
    for target in targets:
        if target not in table.columns:
            raise input_error(participants_tsv, f"has no target column {target!r}")
        if skipped.get(target):
            rows.append({"target": target, "model": "none", "scoring": "n/a", "score": np.nan,
                         "p_value": np.nan, "n_subjects": len(subjects), "cv": cv,
                         "skipped": "; ".join(skipped[target])})
            continue
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
            items = [fragment_item("html", "Prediction from connectivity" + suffix, html=html, caption=note or "")]
            if figure is not None:
                items.insert(0, fragment_item(
                    "image", "Prediction of demographics" + suffix, path=figure,
                    caption=f"Demographics predicted from each subject's FC, site-held-out CV ({cv}): "
                    "predicted against true values (numeric targets) and confusion matrices (categorical), "
                    f"then each score (red line) against its null from {n_permutations} within-site "
                    "permutations (grey): an effect is a red line right of the grey histogram."
                    + (f" {note}" if note else "")))
            write_fragment(fragment, "fMRI group", items, order=45)
    return results


def _cohort_problems(table, subjects, targets, site_column, cv="logo"):
    """Why this cohort cannot be fitted (:func:`brainpipe.io.validate.plan.prediction_skips`)."""
    from ..io.validate.plan import prediction_skips

    config = {"fmri": {"enabled": True, "prediction": {"enabled": True, "targets": list(targets),
                                                         "site_column": site_column, "cv": cv}}}
    people = table.reset_index().rename(columns={"index": "participant_id"})
    labels = [s[len("sub-"):] if s.startswith("sub-") else s for s in subjects]
    return prediction_skips(config, people, labels)


def _write_skipped(by_target, subjects, relmat_tsvs, participants_tsv, cv, out_tsv,
                   out_predictions_tsv, figure, fragment, title):
    """Outputs of a skipped prediction: one row per target saying why, a note in the report."""
    from ..io.figures import new_subplots, save_figure

    reasons = list(dict.fromkeys(r for rs in by_target.values() for r in rs))
    note = "; ".join(reasons)
    results = pd.DataFrame({"target": list(by_target), "model": "none", "score": np.nan, "p_value": np.nan,
                            "n_subjects": len(subjects), "cv": cv,
                            "skipped": ["; ".join(rs) for rs in by_target.values()]})
    if title is not None:
        results.insert(0, "features", str(title))
    with all_or_nothing(out_tsv, out_predictions_tsv, figure, fragment):
        write_tsv(out_tsv, results)
        write_sidecar(out_tsv, list(relmat_tsvs) + [participants_tsv], Skipped=reasons)
        if out_predictions_tsv is not None:
            write_tsv(out_predictions_tsv, pd.DataFrame(
                columns=["participant_id", "site", "target", "model", "true", "predicted"]))
            write_sidecar(out_predictions_tsv, list(relmat_tsvs) + [participants_tsv], Skipped=reasons)
        if figure is not None:
            fig, ax = new_subplots(1, 1, figsize=(6, 1.5))
            ax.axis("off")
            ax.text(0, 0.5, "Prediction skipped:\n" + "\n".join(reasons), va="center", fontsize=8, wrap=True)
            save_figure(fig, figure)
        if fragment is not None:
            import html

            suffix = f" ({title})" if title else ""
            items = [fragment_item("html", "Prediction from connectivity" + suffix,
                                   html=f"<p>Skipped: {html.escape(note)}.</p>")]
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
