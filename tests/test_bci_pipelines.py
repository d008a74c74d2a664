"""Named BCI pipelines: build, clone, decode simulated motor imagery, reject bad configs."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from brainpipe.bci.pipelines import PIPELINES, acm_parameters, make_pipeline, make_pipelines

SFREQ = 125.0


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # small matrices: threaded BLAS only adds overhead on the 2 shared cores
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def mi_epochs(n_trials=40, n_channels=8, n_times=250, effect=1.0, seed=0):
    """Two-class motor-imagery-like epochs (n_trials, n_channels, n_times) in µV.

    A 10 Hz mu rhythm on every channel; class 0 desynchronises channel 2
    (its mu amplitude drops by ``effect`` * 70 %), class 1 channel 5, as
    imagery of one hand does over the opposite motor cortex. ``effect=0``
    gives two classes with identical statistics.
    """
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_trials // 2)
    t = np.arange(n_times) / SFREQ
    amp = np.ones((n_trials, n_channels, 1)) * 10.0
    amp[y == 0, 2] *= 1 - 0.7 * effect
    amp[y == 1, 5] *= 1 - 0.7 * effect
    phase = rng.uniform(0, 2 * np.pi, (n_trials, n_channels, 1))
    freq = 10 + rng.normal(0, 0.5, (n_trials, n_channels, 1))
    X = amp * np.sin(2 * np.pi * freq * t + phase)
    X += 4.0 * rng.normal(size=(n_trials, n_channels, n_times))
    # some spatial mixing, as volume conduction gives
    mix = np.eye(n_channels) + 0.2 * rng.normal(size=(n_channels, n_channels))
    return np.einsum("ij,njt->nit", mix, X), y


RIEMANNIAN = [
    ("csp_lda", {}),
    ("ts_svm", {}),
    ("mdm", {}),
    ("acm_ts_svm", {"order": 3, "lag": 2, "implementation": "moabb"}),
]


@pytest.mark.parametrize("name, params", RIEMANNIAN)
def test_pipelines_decode_mi_and_not_noise(name, params):
    X, y = mi_epochs()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pipe = make_pipeline(name, **params)
    assert isinstance(pipe, Pipeline)
    assert cross_val_score(pipe, X, y, cv=cv).mean() > 0.85
    # control: same pipeline, classes with identical statistics -> about chance
    X0, y0 = mi_epochs(effect=0.0, seed=1)
    assert cross_val_score(make_pipeline(name, **params), X0, y0, cv=cv).mean() < 0.75


@pytest.mark.parametrize("estimator", ["cov", "oas"])
def test_acm_brainpipe_matches_moabb(estimator):
    X, y = mi_epochs()
    ours = make_pipeline("acm_ts_svm", order=3, lag=2, estimator=estimator)
    ref = make_pipeline("acm_ts_svm", order=3, lag=2, estimator=estimator,
                        implementation="moabb")
    assert [n for n, _ in ours.steps] == ["acm", "ts", "svm"]
    # same augmented covariances as MOABB's AugmentedDataset + pyriemann Covariances
    np.testing.assert_allclose(ours[:1].fit_transform(X, y), ref[:2].fit_transform(X, y), rtol=1e-8)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    assert cross_val_score(ours, X, y, cv=cv).mean() > 0.85


@pytest.mark.parametrize("name, params", [
    ("ts_svm", {}),
    ("mdm", {}),
    ("acm_ts_svm", {"order": 3, "lag": 2}),
])
def test_fast_pipelines_equal_plain_ones(name, params):
    # fast=True swaps in RiemannTangentSpace / GramSVC / RiemannMDM: same estimator, same outputs
    X, y = mi_epochs(n_trials=60)
    y = np.array(["left", "right", "idle"])[np.arange(60) % 3]  # three classes: libsvm's one-vs-one
    Xt, _ = mi_epochs(n_trials=30, seed=4)
    fast = make_pipeline(name, **params).fit(X, y)
    plain = make_pipeline(name, fast=False, **params).fit(X, y)
    np.testing.assert_array_equal(fast.predict(Xt), plain.predict(Xt))
    if name == "mdm":
        assert type(fast[-1]).__name__ == "RiemannMDM" and type(plain[-1]).__name__ == "MDM"
        np.testing.assert_allclose(fast.transform(Xt), plain.transform(Xt), rtol=1e-9)
    else:
        assert type(fast[-1]).__name__ == "GramSVC"
        np.testing.assert_allclose(fast[:-1].transform(Xt), plain[:-1].transform(Xt), atol=1e-7)
        np.testing.assert_allclose(fast.decision_function(Xt), plain.decision_function(Xt), atol=1e-6)


def test_float32_tangent_is_an_option():
    X, y = mi_epochs()
    pipe = make_pipeline("acm_ts_svm", order=3, lag=2, tangent_dtype="float32").fit(X, y)
    ref = make_pipeline("acm_ts_svm", order=3, lag=2).fit(X, y)
    assert pipe[1].transform_dtype == "float32"
    assert np.mean(pipe.predict(X) == ref.predict(X)) > 0.95
    with pytest.raises(ValueError, match="tangent_dtype"):
        make_pipeline("ts_svm", tangent_dtype="half")


def test_acm_search_refit_takes_the_float32_tangent():
    X, y = mi_epochs()
    grid = dict(orders=(1, 3), lags=(2,), Cs=(1.0,), kernels=("linear",), cv=3)
    low = make_pipeline("acm_search_svm", tangent_dtype="float32", **grid).fit(X, y)
    ref = make_pipeline("acm_search_svm", **grid).fit(X, y)
    assert low.best_params_ == ref.best_params_
    ts = low.best_estimator_.named_steps["ts"]
    assert ts.transform_dtype == "float32"
    # the same reference point; only the decision-time log maps are float32
    np.testing.assert_array_equal(ts.reference_, ref.best_estimator_.named_steps["ts"].reference_)
    d_low, d_ref = low.decision_function(X), ref.decision_function(X)
    assert np.abs(d_low - d_ref).max() < 1e-3 * np.abs(d_ref).max()
    assert np.mean(low.predict(X) == ref.predict(X)) > 0.95
    with pytest.raises(ValueError, match="tangent_dtype"):
        make_pipeline("acm_search_svm", tangent_dtype="half", **grid).fit(X, y)


def test_psd_lda_decodes_mi():
    X, y = mi_epochs()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    assert cross_val_score(make_pipeline("psd_lda", sfreq=SFREQ), X, y, cv=cv).mean() > 0.85


def test_coh_lda_runs():
    X, y = mi_epochs()
    pipe = make_pipeline("coh_lda", sfreq=SFREQ).fit(X, y)
    assert pipe.predict(X).shape == y.shape


def test_registry_and_clone():
    assert set(PIPELINES) == {"csp_lda", "ts_svm", "mdm", "acm_ts_svm", "acm_search_svm", "psd_lda", "coh_lda",
                              "tfm_transformer"}
    pipe = make_pipeline("ts_svm", estimator="lwf", C=0.5, kernel="rbf")
    params = clone(pipe).get_params()
    assert params["cov__estimator"] == "lwf" and params["svm__C"] == 0.5
    assert params["svm__kernel"] == "rbf"


def test_make_pipelines_config():
    pipes = make_pipelines(
        {
            "ts_svm": None,
            "mdm": {"estimator": "scm"},
            "acm_p3": {"pipeline": "acm_ts_svm", "order": 3, "lag": 1, "implementation": "moabb"},
        }
    )
    assert list(pipes) == ["ts_svm", "mdm", "acm_p3"]
    assert pipes["mdm"].get_params()["cov__estimator"] == "scm"
    assert acm_parameters(pipes["acm_p3"]) == {"order": 3, "lag": 1}
    assert acm_parameters(pipes["ts_svm"]) is None
    assert list(make_pipelines(["csp_lda", "mdm"])) == ["csp_lda", "mdm"]


def test_sfreq_is_required_and_injected():
    with pytest.raises(ValueError, match="needs the sampling frequency"):
        make_pipeline("psd_lda")
    with pytest.raises(ValueError, match="needs the sampling frequency"):
        make_pipelines({"coh_lda": {}})
    with pytest.raises(ValueError, match="sfreq must be > 0"):
        make_pipeline("psd_lda", sfreq=-1)


class _ChoosingEmbedding(BaseEstimator, TransformerMixin):
    """A transformer that picks its lag at fit time (as a search estimator would)."""

    def __init__(self, order=2, lag="auto"):
        self.order = order
        self.lag = lag

    def fit(self, X, y=None):
        self.order_, self.lag_ = self.order, 3
        return self

    def transform(self, X):
        return X


def test_acm_parameters_prefers_fitted_values():
    pipe = Pipeline([("acm", _ChoosingEmbedding()), ("ts", "passthrough")])
    assert acm_parameters(pipe) == {"order": 2, "lag": "auto"}
    pipe.fit(np.zeros((2, 2)), [0, 1])
    assert acm_parameters(pipe) == {"order": 2, "lag": 3}


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: make_pipeline("svm_magic"), ValueError, "Allowed values"),
        (lambda: make_pipeline("ts_svm", order=3), TypeError, "Unknown parameter"),
        (lambda: make_pipeline("ts_svm", estimator="bogus"), ValueError, "estimator"),
        (lambda: make_pipeline("acm_ts_svm", order=0), ValueError, "order must be an integer"),
        (lambda: make_pipeline("acm_ts_svm", lag=1.5), ValueError, "lag must be an integer"),
        (lambda: make_pipeline("acm_ts_svm", implementation="x"), ValueError, "implementation"),
        (lambda: make_pipeline("acm_ts_svm", order="auto", implementation="moabb"), ValueError,
         "use implementation='brainpipe'"),
        (lambda: make_pipelines({}), ValueError, "No pipeline configured"),
        (lambda: make_pipelines("ts_svm"), TypeError, "config must be"),
        (lambda: make_pipelines({"mine": {}}), ValueError, "unknown pipeline 'mine'"),
        (lambda: make_pipelines({"ts_svm": [1]}), TypeError, "params of pipeline"),
    ],
)
def test_bad_pipeline_requests(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_acm_search_pipeline_learns_and_reports_choice():
    X, y = mi_epochs()
    pipe = make_pipeline("acm_search_svm", orders=[1, 2], lags=[1, 2], Cs=[1.0], kernels=["linear"], cv=3)
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.7
    assert acm_parameters(pipe) == {"order": pipe.best_order_, "lag": pipe.best_lag_}


def test_acm_search_builder_passes_search_settings():
    pipe = make_pipeline("acm_search_svm", orders=[1, 2], lags=[1], search_subsample=3, search_tol=1e-3)
    params = pipe.get_params()
    assert (params["search_subsample"], params["search_tol"], params["n_jobs"]) == (3, 1e-3, -1)
