"""AugmentedCovariances against MOABB + pyriemann, in pipelines and searches."""

import numpy as np
import pytest
from moabb.pipelines.features import AugmentedDataset
from pyriemann.classification import MDM
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from brainpipe.features import AugmentedCovariances


def moabb_pyriemann(X, order, lag, estimator):
    """The reference: MOABB's delay embedding, then pyriemann's estimator."""
    embedded = AugmentedDataset(order=order, lag=lag).fit(X, None).transform(X)
    return Covariances(estimator=estimator).fit_transform(embedded)


@pytest.fixture(scope="module")
def epochs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((12, 5, 160))


def mi_like(n_per_class=30, n_channels=6, n_times=200, seed=0):
    """Two classes that differ in the temporal structure of one channel.

    Class 1 carries a 20 Hz (at 100 Hz sampling) oscillation on channel 0 with
    the same variance as class 0's noise: spatial covariance barely differs,
    the lagged covariance does, which is what ACM adds over plain covariance.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2 * n_per_class, n_channels, n_times))
    t = np.arange(n_times) / 100.0
    phase = rng.uniform(0, 2 * np.pi, n_per_class)
    osc = np.sqrt(2) * np.sin(2 * np.pi * 20 * t + phase[:, None])
    X[n_per_class:, 0] = 0.3 * X[n_per_class:, 0] + osc * np.sqrt(1 - 0.09)
    y = np.repeat([0, 1], n_per_class)
    return X, y


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("estimator", ["scm", "cov", "oas", "lwf"])
@pytest.mark.parametrize("order,lag", [(1, 1), (2, 3), (4, 1), (6, 2)])
def test_equals_moabb_augmented_dataset_plus_pyriemann(epochs, estimator, order, lag,
                                                       backend):
    ours = AugmentedCovariances(order=order, lag=lag, estimator=estimator,
                                backend=backend).fit_transform(epochs)
    ref = moabb_pyriemann(epochs, order, lag, estimator)
    assert ours.shape == (12, 5 * order, 5 * order)
    assert ours.dtype == np.float64
    rel = np.abs(ours - ref).max() / np.abs(ref).max()
    assert rel < 1e-10


def test_tangent_space_svc_pipeline_decodes_temporal_structure():
    X, y = mi_like()
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    acm = make_pipeline(AugmentedCovariances(order=3, lag=1, estimator="cov"),
                        TangentSpace(metric="riemann"), SVC(kernel="linear"))
    acc = cross_val_score(acm, X, y, cv=cv).mean()
    assert acc > 0.9
    mdm = make_pipeline(AugmentedCovariances(order=3, lag=1, estimator="oas"), MDM())
    assert cross_val_score(mdm, X, y, cv=cv).mean() > 0.8


def test_grid_search_over_order_and_lag_including_auto():
    X, y = mi_like(n_per_class=20, n_channels=4, n_times=150, seed=1)
    pipe = make_pipeline(AugmentedCovariances(estimator="oas", max_order=5),
                         TangentSpace(metric="riemann"), SVC(kernel="linear"))
    grid = GridSearchCV(
        pipe,
        {"augmentedcovariances__order": [1, 3, "auto"],
         "augmentedcovariances__lag": [1, 2]},
        cv=3,
        error_score="raise",
    )
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 6
    # order 1 is a plain covariance: it cannot see the oscillation
    scores = dict(zip(map(str, grid.cv_results_["params"]),
                      grid.cv_results_["mean_test_score"]))
    best = grid.best_params_["augmentedcovariances__order"]
    assert best != 1
    assert max(scores.values()) > 0.85


def test_auto_chooses_order_and_lag_in_fit_only():
    X, _ = mi_like(n_per_class=10, n_channels=3, n_times=300, seed=2)
    est = AugmentedCovariances(order="auto", lag="auto", max_order=5, max_lag=8,
                               estimator="oas")
    covs = est.fit_transform(X)
    assert est.order == "auto" and est.lag == "auto"  # parameters untouched
    assert 1 <= est.order_ <= 5 and 1 <= est.lag_ <= 8
    assert covs.shape == (20, 3 * est.order_, 3 * est.order_)
    # transform reuses the fitted values
    assert est.transform(X[:2]).shape[1] == 3 * est.order_
    # fixed order with estimated lag
    est2 = AugmentedCovariances(order=2, lag="auto", max_lag=8).fit(X)
    assert est2.order_ == 2 and est2.lag_ == est.lag_
    # extra estimate_embedding arguments pass through, reserved ones are refused
    est3 = AugmentedCovariances(order="auto", lag=est.lag_, max_order=5,
                                embedding_params={"n_ref": 100, "max_trials": 5})
    assert 1 <= est3.fit(X).order_ <= 5
    with pytest.raises(ValueError, match="embedding_params cannot set"):
        AugmentedCovariances(embedding_params={"max_order": 3}).fit(X)


def test_average_reference_error_suggests_shrinkage(epochs):
    car = epochs - epochs.mean(axis=1, keepdims=True)  # rank n_channels - 1
    with pytest.raises(ValueError, match="estimator='oas' or estimator='lwf'"):
        AugmentedCovariances(order=2, lag=1, estimator="scm").fit_transform(car)
    covs = AugmentedCovariances(order=2, lag=1, estimator="oas").fit_transform(car)
    assert np.all(np.linalg.eigvalsh(covs)[:, 0] > 0)
    # and pyriemann accepts them
    TangentSpace().fit_transform(covs)


def test_too_few_samples_for_the_matrix_size_is_refused_in_fit():
    X = np.random.default_rng(3).standard_normal((4, 8, 60))
    with pytest.raises(ValueError, match="too few for a positive definite"):
        AugmentedCovariances(order=8, lag=1, estimator="cov").fit(X)
    AugmentedCovariances(order=8, lag=1, estimator="lwf").fit(X)  # shrinkage is fine
    with pytest.raises(ValueError, match="too short for order=8, lag=8"):
        AugmentedCovariances(order=8, lag=8, estimator="lwf").fit(X)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"estimator": "mcd"}, "'estimator' parameter"),
        ({"backend": "cuda"}, "'backend' parameter"),
        ({"order": 0}, "order must be an integer >= 1 or 'auto'"),
        ({"lag": 1.5}, "lag must be an integer >= 1 or 'auto'"),
        ({"order": "best"}, "'order' parameter"),
        ({"embedding": "mdop"}, "'embedding' parameter"),
    ],
)
def test_invalid_parameters_fail_in_fit_not_init(epochs, params, match):
    est = AugmentedCovariances(**params)  # sklearn: __init__ only stores
    with pytest.raises(ValueError, match=match):
        est.fit(epochs)


def test_input_shape_errors(epochs):
    est = AugmentedCovariances(order=2).fit(epochs)
    with pytest.raises(ValueError, match=r"X\[np.newaxis\]"):
        est.transform(epochs[0])
    with pytest.raises(ValueError, match="fitted on 5 channels"):
        est.transform(epochs[:, :3])
    bad = epochs.copy()
    bad[1, 2, 5] = np.nan
    with pytest.raises(ValueError, match="trial 1, channel 2"):
        est.transform(bad)


def test_clone_keeps_parameters_unchanged():
    est = AugmentedCovariances(order="auto", lag=3, estimator="lwf", backend="numpy")
    assert clone(est).get_params() == est.get_params()
