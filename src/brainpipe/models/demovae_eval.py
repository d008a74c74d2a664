"""How well a DemoVAE does what it claims: decorrelation, synthesis, harmonization.

Shared by the workflow steps (:mod:`brainpipe.models.demovae_steps`) and the
benchmark scripts, so the report and the README quote the same numbers.
Every score comes with its null: chance for classification, a label
permutation for correlations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "latent_correlations",
    "encoded_demographics",
    "synthesis_fidelity",
    "harmonization_scores",
    "combat_harmonize",
]


def encoded_demographics(coder, demographics):
    """Numeric demographics for correlations: continuous as is, categories one-hot.

    Returns
    -------
    D : ndarray, shape (n_subjects, coder.width_)
    names : list of str
        ``age``, ``sex=F``, ``sex=M``, ...
    """
    D = coder.transform(demographics)
    names = []
    for col, _ in coder.slices():
        names += [col.name] if col.kind == "continuous" else [f"{col.name}={lv}" for lv in col.levels]
    return D, names


def latent_correlations(Z, D):
    """Pearson r between every latent (columns of Z) and every column of D.

    Returns
    -------
    r : ndarray, shape (n_latents, n_demographic_columns)
    """
    Z = np.asarray(Z, dtype=float)
    D = np.asarray(D, dtype=float)
    Zc = Z - Z.mean(0)
    Dc = D - D.mean(0)
    denom = np.sqrt((Zc**2).sum(0))[:, None] * np.sqrt((Dc**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Zc.T @ Dc) / denom
    return np.nan_to_num(r)


def null_max_abs_r(n_subjects, shape, n_draws=200, seed=0):
    """The max |r| that independent Gaussian latents reach with ``n_subjects``.

    The floor a held-out decorrelation can be judged against: with few
    subjects, even independent latents correlate with demographics by chance.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_draws):
        Z = rng.standard_normal((n_subjects, shape[0]))
        D = rng.standard_normal((n_subjects, shape[1]))
        out.append(np.abs(latent_correlations(Z, D)).max())
    return float(np.median(out))


def _predictor(kind):
    if kind == "continuous":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))


def _score(kind, y_true, y_pred):
    if kind == "continuous":
        return float(np.corrcoef(y_true, y_pred)[0, 1]) if np.std(y_pred) > 0 else 0.0
    return float(balanced_accuracy_score(y_true, y_pred))


def synthesis_fidelity(model, X, demographics, *, seed=0, n_synthetic=None):
    """The paper's Table V style check of synthetic FC.

    A predictor trained on real FC predicts the demographics of synthetic FC
    generated for the real subjects' demographics ("real -> synthetic"), and
    one trained on synthetic FC predicts the real subjects' demographics
    ("synthetic -> real"). Continuous targets: Pearson r (null 0); categorical:
    balanced accuracy (null 1 / n_levels).

    Returns
    -------
    table : pandas.DataFrame
        ``direction, target, metric, score, null``.
    """
    demographics = demographics.reset_index(drop=True)
    n = len(demographics) if n_synthetic is None else int(n_synthetic)
    idx = np.resize(np.arange(len(demographics)), n)
    synth_demo = demographics.iloc[idx].reset_index(drop=True)
    X_syn, _ = model.generate(synth_demo, seed=seed)
    rows = []
    for col, _ in model.coder_.slices():
        kind = col.kind
        y_real = demographics[col.name].to_numpy() if kind == "continuous" else demographics[col.name].astype(str).to_numpy()
        y_syn = synth_demo[col.name].to_numpy() if kind == "continuous" else synth_demo[col.name].astype(str).to_numpy()
        metric = "pearson_r" if kind == "continuous" else "balanced_accuracy"
        null = 0.0 if kind == "continuous" else 1.0 / len(col.levels)
        for direction, (Xa, ya, Xb, yb) in {
            "real -> synthetic": (X, y_real, X_syn, y_syn),
            "synthetic -> real": (X_syn, y_syn, X, y_real),
        }.items():
            est = _predictor(kind).fit(Xa, ya)
            rows.append({"direction": direction, "target": col.name, "metric": metric,
                         "score": _score(kind, yb, est.predict(Xb)), "null": null})
    return pd.DataFrame(rows)


def _cv_scores(X, y, kind, seed, n_splits=5):
    if kind == "continuous":
        cv = KFold(n_splits, shuffle=True, random_state=seed)
    else:
        counts = pd.Series(y).value_counts()
        n_splits = int(min(n_splits, counts.min()))
        if n_splits < 2:
            return float("nan")
        cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    pred = cross_val_predict(_predictor(kind), X, y, cv=cv)
    return _score(kind, y, pred)


def harmonization_scores(features, demographics, *, site="site", keep=("age",), seed=0):
    """How predictable the site and the kept demographics are, per feature set.

    Parameters
    ----------
    features : dict of str -> ndarray (n_subjects, n_features)
        E.g. ``{"original": X, "DemoVAE": X_h, "ComBat": X_c}``.
    demographics : pandas.DataFrame
    site : str
        The column to remove (stratified 5-fold logistic regression; balanced
        accuracy, chance = 1 / n_sites).
    keep : sequence of str
        Columns that must stay predictable (continuous: 5-fold ridge,
        Pearson r; categorical: balanced accuracy).
    seed : int

    Returns
    -------
    table : pandas.DataFrame
        ``method, target, metric, score, chance``.
    """
    demographics = demographics.reset_index(drop=True)
    rows = []
    y_site = demographics[site].astype(str).to_numpy()
    chance_site = 1.0 / len(np.unique(y_site))
    for method, X in features.items():
        X = np.asarray(X, dtype=float)
        rows.append({"method": method, "target": site, "metric": "balanced_accuracy",
                     "score": _cv_scores(X, y_site, "categorical", seed), "chance": chance_site})
        for col in keep:
            values = demographics[col]
            numeric = pd.api.types.is_numeric_dtype(values)
            kind = "continuous" if numeric else "categorical"
            y = values.to_numpy(dtype=float) if numeric else values.astype(str).to_numpy()
            rows.append({"method": method, "target": col,
                         "metric": "pearson_r" if numeric else "balanced_accuracy",
                         "score": _cv_scores(X, y, kind, seed),
                         "chance": 0.0 if numeric else 1.0 / len(np.unique(y))})
    return pd.DataFrame(rows)


def combat_harmonize(X, demographics, *, site="site", covariates=("age", "sex")):
    """ComBat (neuroCombat) across sites, keeping ``covariates``' effects.

    neuroCombat is a comparison-only dependency (the ``test`` extra): this
    raises ImportError with the install line when it is missing.
    """
    try:
        from neuroCombat import neuroCombat
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("ComBat needs neuroCombat: pip install neuroCombat==0.2.12") from err
    demographics = demographics.reset_index(drop=True)
    covars = demographics[[site, *covariates]].copy()
    cont = [c for c in covariates if pd.api.types.is_numeric_dtype(covars[c])]
    cat = [c for c in covariates if c not in cont]
    covars[site] = covars[site].astype(str)
    X = np.asarray(X, dtype=float)
    # neuroCombat wants features x subjects; constant features break its
    # standardisation, so they pass through unchanged
    var = X.var(axis=0) > 0
    out = X.copy()
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        res = neuroCombat(dat=X[:, var].T, covars=covars, batch_col=site,
                          categorical_cols=cat or None, continuous_cols=cont or None)
    out[:, var] = res["data"].T
    return out
