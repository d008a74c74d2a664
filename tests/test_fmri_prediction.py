"""Prediction of demographics from FC: confound regression in folds, site CV, permutations."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score

from brainpipe._check import BrainpipeInputError
from brainpipe.fmri._outputs import write_relmat
from brainpipe.fmri.prediction import (
    ConfoundRegressor,
    connectivity_features,
    evaluate,
    make_model,
    predict_demographics,
    site_cv,
)
from brainpipe.report.fragments import read_fragment


def test_confound_regressor_fits_on_train_only():
    rng = np.random.default_rng(0)
    conf = rng.standard_normal((100, 2))
    feats = conf @ rng.standard_normal((2, 5)) + 0.1 * rng.standard_normal((100, 5)) + 3.0
    X = np.column_stack([feats, conf])
    cr = ConfoundRegressor(n_confounds=2).fit(X[:60])
    res = cr.transform(X[:60])
    assert res.shape == (60, 5)
    # training residuals are orthogonal to the confounds and centred
    np.testing.assert_allclose(conf[:60].T @ res, 0, atol=1e-9)
    np.testing.assert_allclose(res.mean(axis=0), 0, atol=1e-12)
    # held-out data use the training coefficients (not refitted)
    test = cr.transform(X[60:])
    np.testing.assert_allclose(test, feats[60:] - np.column_stack([np.ones(40), conf[60:]]) @ cr.coef_)
    assert np.abs(test).max() < 1.0
    # n_confounds=0 is the identity
    np.testing.assert_array_equal(ConfoundRegressor(0).fit_transform(feats), feats)
    # scikit-learn estimator API: parameters stored unchanged
    assert ConfoundRegressor(3).get_params() == {"n_confounds": 3}


def test_fisher_z_features():
    m = np.array([[1.0, 0.5, -0.2], [0.5, 1.0, 0.0], [-0.2, 0.0, 1.0]])
    np.testing.assert_allclose(connectivity_features(m[None]), np.arctanh([[0.5, -0.2, 0.0]]))
    tangent = m * 3
    np.testing.assert_allclose(connectivity_features(tangent[None]), [[1.5, -0.6, 0.0]])


def test_site_cv_holds_out_sites():
    groups = np.array(list("AABBCCAB"))
    for tr, te in site_cv(groups).split(np.zeros(8), groups=groups):
        assert len(set(groups[te])) == 1 and set(groups[te]).isdisjoint(groups[tr])
    assert site_cv(groups, "groupkfold", n_splits=5).get_n_splits() == 3
    with pytest.raises(ValueError, match="at least 2 sites"):
        site_cv(np.array(["A"] * 4))


def test_confound_in_folds_removes_a_pure_confound_signal():
    """A target predictable only through a confound is not predictable once removed."""
    rng = np.random.default_rng(1)
    n = 90
    motion = rng.standard_normal(n)
    y = motion + 0.3 * rng.standard_normal(n)
    X = np.outer(motion, rng.standard_normal(40)) + 0.5 * rng.standard_normal((n, 40))
    groups = np.repeat(list("ABC"), n // 3)
    leaky = evaluate(X, y, groups, "ridge", task="regression", n_permutations=19)
    clean = evaluate(X, y, groups, "ridge", task="regression", confounds=motion[:, None],
                     n_permutations=19)
    assert leaky["pearson_r"] > 0.8
    assert abs(clean["pearson_r"]) < 0.4 and clean["score"] < 0.1


def _simulated_fc(tmp_path, n_subjects=36, n_rois=35, seed=0):
    """FC of the demo's network model (ages, sexes, sites of the demo), as relmat files."""
    from brainpipe.io.simulate.fmri import network_model, simulate_roi_timeseries
    from brainpipe.io.simulate.participants import draw_participants, rng_for

    table = draw_participants(seed, n_subjects, 0)[["participant_id", "age", "sex", "site"]]
    nets = np.repeat(np.arange(7), n_rois // 7)
    names = [f"R{i}" for i in range(len(nets))]
    paths = []
    for i, row in table.iterrows():
        rng = rng_for(seed, 99, i)
        model = network_model(row["age"], row["sex"], rng)
        ts = simulate_roi_timeseries(rng, model, nets, 150, 2.0)
        ts += {"A": 0.0, "B": 0.4, "C": 0.2}[row["site"]] * rng.standard_normal(ts.shape)
        path = tmp_path / f"{row['participant_id']}_task-rest_stat-pearsoncorrelation_relmat.tsv"
        write_relmat(path, np.corrcoef(ts.T), names)
        paths.append(path)
    participants = tmp_path / "participants.tsv"
    table.to_csv(participants, sep="\t", index=False)
    return paths, participants


def test_age_from_fc_is_significant_with_site_cv(tmp_path):
    paths, participants = _simulated_fc(tmp_path)
    out, preds = tmp_path / "prediction.tsv", tmp_path / "predictions.tsv"
    fig, frag = tmp_path / "prediction.png", tmp_path / "prediction.json"
    predict_demographics(paths, participants, out, targets=("age", "sex"),
                         models={"age": ["ridge"], "sex": ["pca_lda"]}, n_permutations=49,
                         out_predictions_tsv=preds, figure=fig, fragment=frag,
                         confound_columns={"sex": ["age"]})
    back = pd.read_csv(out, sep="\t")
    assert list(back["model"]) == ["ridge", "pca_lda"]
    assert back.loc[1, "confounds"] == "age" and 0 <= back.loc[1, "score"] <= 1
    age = back[back["target"] == "age"].iloc[0]
    assert age["p_value"] < 0.05 and age["pearson_r"] > 0.4, age.to_dict()
    assert age["cv"] == "logo" and age["n_subjects"] == 36
    p = pd.read_csv(preds, sep="\t")
    assert len(p) == 36 * 2 and set(p["site"]) == {"A", "B", "C"}
    assert fig.stat().st_size > 10_000 and read_fragment(frag)["section"] == "fMRI group"


def test_prediction_bad_input(tmp_path):
    paths, participants = _simulated_fc(tmp_path, n_subjects=6, n_rois=14)
    table = pd.read_csv(participants, sep="\t")
    table.loc[2, "age"] = np.nan
    table.to_csv(participants, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(BrainpipeInputError, match="target 'age' is missing for"):
        predict_demographics(paths, participants, tmp_path / "o.tsv", targets=("age",))
    table.drop(index=3).to_csv(participants, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(BrainpipeInputError, match="has no row for sub-04"):
        predict_demographics(paths, participants, tmp_path / "o.tsv", targets=("sex",))
    assert not (tmp_path / "o.tsv").exists()


def test_models_follow_sklearn_api():
    from sklearn.base import clone

    for name in ("ridge", "pca_lda", "logistic"):
        est = make_model(name, 1)
        assert clone(est).get_params()["confoundregressor__n_confounds"] == 1
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 6))
    y = (X[:, 0] > 0).astype(int)
    Xc = np.column_stack([X, rng.standard_normal(40)])
    assert cross_val_score(make_model("logistic", 1), Xc, y, cv=4).mean() > 0.8


def test_features_note_reaches_the_report(tmp_path):
    """A note on what the features are (the harmonized FC's) is shown above the table and in the caption."""
    paths, participants = _simulated_fc(tmp_path, n_subjects=12, n_rois=14)
    frag, fig = tmp_path / "prediction.json", tmp_path / "prediction.png"
    note = "Decoded from the subjects' own age & sex: high scores are by construction."
    predict_demographics(paths, participants, tmp_path / "prediction.tsv", targets=("age",), n_permutations=9,
                         figure=fig, fragment=frag, title="after DemoVAE harmonization", note=note)
    items = {item["title"]: item for item in read_fragment(frag)["items"]}
    table = items["Prediction from connectivity (after DemoVAE harmonization)"]
    assert table["caption"] == note  # the report shows an html item's caption above it (tests/test_report.py)
    assert items["Prediction of demographics (after DemoVAE harmonization)"]["caption"].endswith(note)
    plain = tmp_path / "plain.json"
    predict_demographics(paths, participants, tmp_path / "plain.tsv", targets=("age",), n_permutations=9,
                         fragment=plain)
    assert read_fragment(plain)["items"][0]["caption"] == ""
