"""AugmentedCovarianceSearchCV: same selection as GridSearchCV, no leakage, MOABB use."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from moabb.pipelines.features import AugmentedDataset
from pyriemann.estimation import Covariances
from pyriemann.geometry.base import expm, invsqrtm, logm, sqrtm
from pyriemann.geometry.mean import mean_riemann
from pyriemann.geometry.tangentspace import tangent_space
from pyriemann.tangentspace import TangentSpace
from scipy.signal import lfilter
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

import brainpipe.bci.acm_search as acm_search
from brainpipe.bci.acm_search import AugmentedCovarianceSearchCV, moabb_param_grid
from brainpipe.kernels import _log_maps, riemann_mean
from brainpipe.kernels.riemann_mean import riemann_mean_logmaps
from brainpipe.features.embedding import estimate_embedding
from brainpipe.kernels.lagged_products import lagged_augmented_covariances

GRID = {"orders": [1, 2, 3], "lags": [1, 2], "Cs": [0.5, 1.0], "kernels": ["rbf", "linear"]}


def _epochs(n_trials=36, n_channels=4, n_times=160, n_classes=2, seed=0):
    """Two classes of AR(2) rhythms whose frequency differs in one channel."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_trials) % n_classes
    X = np.empty((n_trials, n_channels, n_times))
    mixing = rng.standard_normal((n_channels, n_channels))
    for k in range(n_trials):
        src = np.empty((n_channels, n_times))
        for c in range(n_channels):
            f = 0.12 + (0.04 * y[k] if c == 0 else 0.0) + rng.normal(0, 0.01)
            a = [1, -2 * 0.95 * np.cos(2 * np.pi * f), 0.95**2]
            src[c] = lfilter([1], a, rng.standard_normal(n_times + 100))[100:]
        X[k] = mixing @ src + 0.3 * rng.standard_normal((n_channels, n_times))
    return X, y


@pytest.fixture(scope="module")
def data():
    return _epochs()


def _baseline(X, y, grid, cv, scoring=None, estimator="cov"):
    pipe = make_pipeline(AugmentedDataset(), Covariances(estimator=estimator),
                         TangentSpace(metric="riemann"), SVC())
    return GridSearchCV(pipe, moabb_param_grid(**grid), cv=cv, scoring=scoring).fit(X, y)


def _ours_params(gs_params):
    return [{"order": p["augmenteddataset__order"], "lag": p["augmenteddataset__lag"],
             "C": p["svc__C"], "kernel": p["svc__kernel"]} for p in gs_params]


# --------------------------------------------------------------- the mean


def test_riemann_mean_matches_pyriemann():
    X, _ = _epochs(n_trials=30, n_channels=3, n_times=120)
    covs = lagged_augmented_covariances(X, [3], 2)[3]
    M, feats, info = riemann_mean_logmaps(covs)
    ref = mean_riemann(covs)
    Mmh = invsqrtm(M)
    assert np.linalg.norm(logm(Mmh @ ref @ Mmh)) < 1e-7  # pyriemann's own tolerance
    assert info["grad_norm"] <= 1e-9 and info["n_iter"] < 30
    # the returned vectors are pyriemann's tangent vectors at the returned mean
    np.testing.assert_allclose(feats, tangent_space(covs, M, metric="riemann"),
                               rtol=0, atol=1e-10)
    # and within pyriemann's tolerance of its own TangentSpace
    np.testing.assert_allclose(feats, TangentSpace().fit_transform(covs), atol=1e-7)
    # Newton steps: a handful of eigendecompositions where pyriemann's fixed
    # point needs more, to the same point
    ref_tight = mean_riemann(covs, tol=1e-12, maxiter=500)
    assert np.linalg.norm(logm(Mmh @ ref_tight @ Mmh)) < 1e-9
    assert info["n_iter"] <= 6


def test_hessian_is_the_derivative_of_the_mean_log_map():
    # H(X) = -d/dt J(M^1/2 expm(tX) M^1/2) at t=0, by central differences
    X, _ = _epochs(n_trials=20, n_channels=3, n_times=120)
    covs = lagged_augmented_covariances(X, [2], 2)[2]
    M = covs.mean(axis=0)
    direction = np.random.default_rng(0).standard_normal(M.shape)
    direction = (direction + direction.T) / 2
    maps = _log_maps._NumpyLogMaps(covs)
    maps.at(invsqrtm(M))
    H = maps.hessian(direction)

    def J(t):
        # the mean log map at M^1/2 E M^1/2, E = expm(tX), in the frame
        # E^-1/2 M^-1/2 (a rotation of pyriemann's M_t^-1/2: same norm)
        Emh = invsqrtm(expm(t * direction))
        W = invsqrtm(M) @ covs @ invsqrtm(M)
        return logm(Emh @ W @ Emh).mean(axis=0)

    h = 1e-5
    numeric = -(J(h) - J(-h)) / (2 * h)
    np.testing.assert_allclose(H, numeric, rtol=0, atol=1e-5 * np.abs(numeric).max())
    # the Daleckii-Krein weights d / tanh(d) against their definition
    logw = np.log(np.array([0.5, 1.0, 1.0 + 1e-9, 40.0]))
    w = np.exp(logw)
    with np.errstate(invalid="ignore", divide="ignore"):
        direct = ((w[:, None] + w[None, :]) / 2 * (logw[:, None] - logw[None, :])
                  / (w[:, None] - w[None, :]))
    direct[np.isclose(w[:, None], w[None, :], rtol=1e-6)] = 1.0
    np.testing.assert_allclose(_log_maps._log_kernel(logw, np), direct, rtol=1e-6)


def test_geometric_harmonic_start_is_the_mean_of_two_matrices():
    # for two SPD matrices A # H is their Riemannian mean (the geodesic midpoint)
    X, _ = _epochs(n_trials=2, n_channels=3, n_times=120)
    covs = lagged_augmented_covariances(X, [2], 1)[2]
    start = riemann_mean.geometric_harmonic_start(covs, riemann_mean.spd_inverses(covs))
    np.testing.assert_allclose(start, mean_riemann(covs, tol=1e-12), rtol=1e-9)
    # unusable inverses: the Euclidean mean, pyriemann's start
    np.testing.assert_array_equal(riemann_mean.geometric_harmonic_start(covs, None),
                                  covs.mean(axis=0))


def test_search_tol_changes_no_score(data):
    # fold means at pyriemann's tolerance and at the default: same scores
    X, y = data
    grid = dict(GRID, orders=[2, 3])
    loose = AugmentedCovarianceSearchCV(**grid, cv=3).fit(X, y)
    tight = AugmentedCovarianceSearchCV(**grid, cv=3, search_tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(loose.cv_results_["mean_test_score"],
                                  tight.cv_results_["mean_test_score"])
    assert (loose.cv_results_["n_iter_mean"] < tight.cv_results_["n_iter_mean"]).all()
    np.testing.assert_allclose(loose.decision_function(X), tight.decision_function(X),
                               atol=1e-8)


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_riemann_mean_torch_device_matches_numpy(device):
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, _ = _epochs(n_trials=30, n_channels=3, n_times=120)
    covs = lagged_augmented_covariances(X, [3], 2)[3]
    M, feats, info = riemann_mean_logmaps(covs, backend="numpy")
    # backend="torch" runs on torch's default device: CUDA when present
    Mt, featst, infot = riemann_mean_logmaps(covs, backend="torch")
    np.testing.assert_allclose(Mt, M, rtol=1e-10, atol=1e-12 * np.abs(M).max())
    np.testing.assert_allclose(featst, feats, atol=1e-9)
    assert infot["grad_norm"] <= 1e-9


def test_torch_backend_search_gives_the_same_scores(data):
    pytest.importorskip("torch")
    X, y = data
    grid = dict(GRID, lags=[2])
    ref = AugmentedCovarianceSearchCV(**grid, cv=3, backend="numba").fit(X, y)
    got = AugmentedCovarianceSearchCV(**grid, cv=3, backend="torch").fit(X, y)
    np.testing.assert_array_equal(got.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])
    assert got.best_params_ == ref.best_params_
    np.testing.assert_allclose(got.decision_function(X), ref.decision_function(X),
                               atol=1e-8)


def test_riemann_mean_stops_at_rounding_noise_floor():
    # band-passed twice, order 10 lag 1: condition numbers ~1e12, where the
    # gradient cannot go below rounding noise and pyriemann runs 50 iterations
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [8, 32], btype="bandpass", fs=250, output="sos")
    rng = np.random.default_rng(0)
    X = sosfiltfilt(sos, sosfiltfilt(sos, rng.standard_normal((30, 3, 500)), axis=-1),
                    axis=-1)
    covs = lagged_augmented_covariances(X, [10], 1)[10]
    assert np.linalg.cond(covs[0]) > 1e10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M, feats, info = riemann_mean_logmaps(covs)
    assert info["n_iter"] < 15 and info["grad_norm"] > 1e-9
    assert np.all(np.isfinite(M)) and np.all(np.isfinite(feats))


# --------------------------------------------------------------- GridSearchCV


def test_candidate_order_is_gridsearch_order():
    got = list(ParameterGrid(moabb_param_grid(**GRID)))
    X, y = _epochs(n_trials=12, n_times=60)
    search = AugmentedCovarianceSearchCV(**GRID, cv=2).fit(X, y)
    assert search.cv_results_["params"] == _ours_params(got)


@pytest.mark.parametrize("scoring", [None, "roc_auc"])
def test_same_scores_and_selection_as_gridsearchcv(data, scoring):
    X, y = data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = AugmentedCovarianceSearchCV(**GRID, cv=cv, scoring=scoring,
                                       return_train_score=True).fit(X, y)
    gs = _baseline(X, y, GRID, cv, scoring=scoring)
    res, ref = ours.cv_results_, gs.cv_results_
    assert res["params"] == _ours_params(ref["params"])
    for key in ("split0_test_score", "split1_test_score", "split2_test_score",
                "mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_allclose(res[key], ref[key], rtol=0, atol=1e-12, err_msg=key)
    assert ours.best_index_ == gs.best_index_
    assert ours.best_params_ == _ours_params([gs.best_params_])[0]
    assert ours.best_score_ == gs.best_score_
    assert (ours.best_order_, ours.best_lag_) == (ours.best_params_["order"],
                                                  ours.best_params_["lag"])
    # order 1 ignores the lag: identical rows, ranked by the first (lag 1)
    n_svc = len(GRID["Cs"]) * len(GRID["kernels"])
    np.testing.assert_array_equal(res["mean_test_score"][:n_svc],
                                  res["mean_test_score"][3 * n_svc:4 * n_svc])
    # the refitted pipeline predicts as GridSearchCV's refit does
    assert np.mean(ours.predict(X) == gs.predict(X)) == 1.0
    np.testing.assert_allclose(ours.decision_function(X), gs.decision_function(X),
                               atol=1e-6)
    df = pd.DataFrame(ours.cv_results_)
    assert len(df) == 24 and {"param_order", "mean_train_score"} <= set(df.columns)


def test_parallel_threads_give_the_same_results(data):
    X, y = data
    grid = dict(GRID, lags=[2])
    one = AugmentedCovarianceSearchCV(**grid, cv=3, n_jobs=1).fit(X, y)
    two = AugmentedCovarianceSearchCV(**grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(one.cv_results_["mean_test_score"],
                                  two.cv_results_["mean_test_score"])
    assert one.best_params_ == two.best_params_


def test_shrinkage_estimator_matches_gridsearchcv(data):
    X, y = data
    grid = {"orders": [1, 2], "lags": [2], "Cs": [1.0], "kernels": ["linear"]}
    cv = StratifiedKFold(3, shuffle=True, random_state=1)
    ours = AugmentedCovarianceSearchCV(**grid, cv=cv, estimator="oas").fit(X, y)
    gs = _baseline(X, y, grid, cv, estimator="oas")
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               gs.cv_results_["mean_test_score"], atol=1e-12)


# --------------------------------------------------------------- leakage


def test_reference_mean_uses_training_folds_only(data, monkeypatch):
    X, y = data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    splits = list(cv.split(X, y))
    calls = []

    def recording(covmats, **kwargs):
        out = riemann_mean_logmaps(covmats, **kwargs)
        calls.append((covmats.copy(), out[0]))
        return out

    monkeypatch.setattr(acm_search, "riemann_mean_logmaps", recording)
    grid = {"orders": [2], "lags": [1], "Cs": [1.0], "kernels": ["linear"]}
    AugmentedCovarianceSearchCV(**grid, cv=cv).fit(X, y)
    covs = lagged_augmented_covariances(X, [2], 1)[2]
    # one mean per fold, each on exactly that fold's training matrices, then the refit
    assert len(calls) == len(splits) + 1
    for (mats, _), (train, _) in zip(calls, splits):
        np.testing.assert_allclose(mats, covs[train], rtol=1e-12)
    np.testing.assert_allclose(calls[-1][0], covs, rtol=1e-12)

    # scrambling fold 0's test trials leaves fold 0's reference mean unchanged
    first = calls[0][1]
    calls.clear()
    X2 = X.copy()
    X2[splits[0][1]] = np.random.default_rng(5).standard_normal(X2[splits[0][1]].shape)
    AugmentedCovarianceSearchCV(**grid, cv=cv).fit(X2, y)
    np.testing.assert_array_equal(calls[0][1], first)
    assert not np.allclose(calls[1][1], first)


# --------------------------------------------------------------- estimator API


def test_sklearn_api_and_pipeline_use(data):
    X, y = data
    search = AugmentedCovarianceSearchCV(orders=[1, 2], lags=[1], Cs=[1.0],
                                         kernels=["linear"], cv=3)
    assert clone(search).get_params()["orders"] == [1, 2]
    scores = cross_val_score(make_pipeline(search), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores >= 0)
    search.fit(X, y)
    assert search.score(X, y) == np.mean(search.predict(X) == y)
    assert not hasattr(search, "predict_proba")
    assert search.best_estimator_.named_steps["ts"].reference_.shape == (8, 8)
    assert search.search_time_ > 0 and search.refit_time_ > 0 and search.n_splits_ == 3


def test_moabb_within_session_evaluation(tmp_path, monkeypatch):
    from moabb.datasets import FakeDataset
    from moabb.evaluations import WithinSessionEvaluation
    from moabb.paradigms import LeftRightImagery

    monkeypatch.setenv("MNE_DATA", str(tmp_path))
    ds = FakeDataset(event_list=["left_hand", "right_hand"], n_subjects=1, n_sessions=1,
                     n_runs=1, n_events=20, duration=90, channels=("C3", "Cz", "C4"),
                     seed=2)
    search = AugmentedCovarianceSearchCV(orders=[1, 2], lags=[2], Cs=[1.0],
                                         kernels=["linear"], cv=3, random_state=0)
    evaluation = WithinSessionEvaluation(paradigm=LeftRightImagery(), datasets=[ds],
                                         n_splits=2, hdf5_path=tmp_path, overwrite=True,
                                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluation.process({"acm_search": search})
    assert len(res) == 1 and 0.0 <= res["score"].iloc[0] <= 1.0  # ROC-AUC


def test_embedding_mode(data):
    X, y = data
    search = AugmentedCovarianceSearchCV(orders=range(1, 5), lags=range(1, 5),
                                         Cs=[0.5, 1.0], kernels=["rbf", "linear"],
                                         cv=3, mode="embedding").fit(X, y)
    order, lag = estimate_embedding(X, max_order=4, max_lag=4)
    assert (search.embedding_order_, search.embedding_lag_) == (order, lag)
    assert len(search.cv_results_["params"]) == 4
    assert {p["order"] for p in search.cv_results_["params"]} == {order}
    assert (search.best_order_, search.best_lag_) == (order, lag)
    assert search.predict(X).shape == y.shape


def test_probability_and_errors(data):
    X, y = data
    grid = {"orders": [1], "lags": [1], "Cs": [1.0], "kernels": ["rbf"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 deprecates it
        search = AugmentedCovarianceSearchCV(**grid, cv=3, probability=True,
                                             random_state=0).fit(X, y)
    proba = search.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    with pytest.raises(ValueError, match="too short"):
        AugmentedCovarianceSearchCV(orders=[10], lags=[20], cv=3).fit(X, y)
    with pytest.raises(ValueError, match="kernels"):
        AugmentedCovarianceSearchCV(kernels=["cubic"]).fit(X, y)
    with pytest.raises(ValueError, match="mode"):
        AugmentedCovarianceSearchCV(mode="random").fit(X, y)
    with pytest.raises(ValueError, match="orders"):
        AugmentedCovarianceSearchCV(orders=[]).fit(X, y)
    with pytest.raises(ValueError, match="search_tol"):
        AugmentedCovarianceSearchCV(**grid, search_tol=0).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        AugmentedCovarianceSearchCV(**grid).fit(X, y[:-1])
    flat = X.copy()
    flat[:, 1] = flat[:, 0]  # linearly dependent channels: singular matrices
    with pytest.raises(ValueError, match="positive definite"):
        AugmentedCovarianceSearchCV(**grid, cv=3).fit(flat, y)


def test_refit_uses_the_fast_steps_with_pyriemann_outputs(data):
    # the refit keeps pyriemann's tangent vectors and libsvm's decisions
    from brainpipe.features import GramSVC, RiemannTangentSpace

    X, y = data
    grid = {"orders": [2], "lags": [1], "Cs": [1.0], "kernels": ["rbf"]}
    search = AugmentedCovarianceSearchCV(**grid, cv=3).fit(X, y)
    ts, svm = search.best_estimator_.named_steps["ts"], search.best_estimator_.named_steps["svm"]
    assert isinstance(ts, RiemannTangentSpace) and isinstance(svm, GramSVC)
    covs = search.best_estimator_.named_steps["acm"].transform(X)
    ref_ts = TangentSpace(metric="riemann").fit(covs)
    np.testing.assert_allclose(ts.transform(covs), ref_ts.transform(covs), atol=1e-7)
    ref_svc = SVC(C=1.0, kernel="rbf").fit(ts.transform(covs), y)
    np.testing.assert_allclose(search.decision_function(X), ref_svc.decision_function(ts.transform(covs)),
                               atol=1e-8)


def test_search_subsample_searches_every_kth_epoch_and_refits_on_all(data):
    X, y = data
    grid = {"orders": [1, 2], "lags": [1, 2], "Cs": [1.0], "kernels": ["linear"]}
    sub = AugmentedCovarianceSearchCV(**grid, cv=3, search_subsample=3).fit(X, y)
    ref = AugmentedCovarianceSearchCV(**grid, cv=3).fit(X[::3], y[::3])
    np.testing.assert_array_equal(sub.cv_results_["mean_test_score"],
                                  ref.cv_results_["mean_test_score"])
    assert sub.best_params_ == ref.best_params_
    # the refit's reference point is the mean of all epochs' matrices
    covs = sub.best_estimator_.named_steps["acm"].transform(X)
    M = sub.best_estimator_.named_steps["ts"].reference_
    Mmh = invsqrtm(M)
    assert np.linalg.norm(logm(Mmh @ mean_riemann(covs) @ Mmh)) < 1e-7
    with pytest.raises(ValueError, match="search_subsample"):
        AugmentedCovarianceSearchCV(**grid, search_subsample=0).fit(X, y)
