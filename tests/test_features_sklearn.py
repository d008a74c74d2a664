"""scikit-learn's estimator checks for every feature transformer.

``SignedR2Selector`` takes 2-D features and runs the full suite. The epoch
transformers take 3-D ``(n_trials, n_channels, n_times)`` arrays and say so in
their tags (``two_d_array=False``), which makes ``check_estimator`` skip them
entirely. So they are checked twice:

1. directly, with the tag flipped on a test-only subclass so that every check
   is generated: the checks that need no data (construction, ``get_params``,
   ``set_params``, clone, repr, tags, not-fitted errors, ...) must pass; the
   checks that fit on 2-D ``X`` are listed in ``EXPECTED_2D_FAILURES`` and must
   fail (strictly: a listed check that starts passing fails this test);
2. through ``Epochs2D``, an adapter that turns each row of a 2-D ``X`` into one
   epoch (one channel per feature), so the data checks (idempotence, sample
   order and subset invariance, pickling, dtypes, read-only input, pipelines)
   run the real transformer on real epochs.
"""

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks
from sklearn.utils.validation import check_is_fitted, validate_data

from brainpipe.features import (
    AugmentedCovariances,
    ConnectivityNodeStrength,
    PSDBandPower,
    SignedR2Selector,
)

SFREQ = 128.0

EPOCH_TRANSFORMERS = [
    AugmentedCovariances(order=2, lag=1, estimator="scm", backend="numpy"),
    AugmentedCovariances(order="auto", lag="auto", max_order=3, max_lag=3,
                         estimator="oas"),
    PSDBandPower(SFREQ),
    PSDBandPower(SFREQ, bands=None, fmin=4, fmax=30, relative=True),
    ConnectivityNodeStrength(SFREQ, fmin=8, fmax=30),
    ConnectivityNodeStrength(SFREQ, method="coh", bands=((8, 13), (13, 30))),
]

_2D = "fits on 2-D X (n_samples, n_features); epochs transformers take 3-D X"
EXPECTED_2D_FAILURES = {
    name: _2D
    for name in [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_estimators_dtypes",
        "check_pipeline_consistency",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ]
}
EXPECTED_2D_FAILURES.update({
    # these expect scikit-learn's own wording for a bad 2-D input; ours names
    # the 3-D shape instead (the adapter run covers the 2-D wording)
    "check_fit2d_1sample": _2D + " (expects '1 sample' wording)",
    "check_fit2d_1feature": _2D + " (expects '1 feature(s)' wording)",
    "check_estimators_empty_data_messages": _2D + " (expects '0 feature(s)' wording)",
    "check_estimators_nan_inf": _2D + " (NaN check tested in the unit tests)",
    "check_positive_only_tag_during_fit": _2D,
    "check_dtype_object": "object arrays are refused, with our wording",
    "check_estimator_sparse_tag": "sparse epochs are not a thing; refused as 2-D",
    "check_estimator_sparse_array": "sparse epochs are not a thing; refused as 2-D",
    "check_estimator_sparse_matrix": "sparse epochs are not a thing; refused as 2-D",
})


def _probe(estimator):
    """Same estimator, tagged as 2-D so that check_estimator generates every check."""
    cls = type(estimator)

    def __sklearn_tags__(self):
        tags = cls.__sklearn_tags__(self)
        tags.input_tags.two_d_array = True
        return tags

    probe_cls = type(cls.__name__, (cls,), {"__sklearn_tags__": __sklearn_tags__,
                                            "__module__": cls.__module__,
                                            "__doc__": cls.__doc__})
    return probe_cls(**estimator.get_params())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("estimator", EPOCH_TRANSFORMERS, ids=repr)
def test_epoch_transformer_passes_the_checks_that_apply_to_3d_input(estimator):
    results = check_estimator(
        _probe(estimator), expected_failed_checks=EXPECTED_2D_FAILURES, on_fail=None
    )
    status = {}
    for result in results:
        status.setdefault(result["check_name"], set()).add(result["status"])
    failed = {name for name, s in status.items() if "failed" in s}
    assert not failed, failed
    unexpected_pass = {
        name for name in EXPECTED_2D_FAILURES if status.get(name) == {"passed"}
    }
    assert not unexpected_pass, f"now passing, drop from the list: {unexpected_pass}"
    passed = {name for name, s in status.items() if s == {"passed"}}
    assert {"check_parameters_default_constructible", "check_get_params_invariance",
            "check_set_params", "check_no_attributes_set_in_init",
            "check_estimators_unfitted", "check_estimator_cloneable"} <= passed


def test_epoch_transformers_say_they_take_3d_input():
    for estimator in EPOCH_TRANSFORMERS:
        tags = estimator.__sklearn_tags__()
        assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array


class Epochs2D(TransformerMixin, BaseEstimator):
    """Test adapter: row ``i`` of a 2-D ``X`` becomes epoch ``i``.

    Channel ``c < n_features`` is ``X[i, c]`` times a carrier (its own
    frequency) plus fixed noise; one more channel holds fixed noise only, so
    that one feature still gives two channels. Each epoch depends on its own
    row only, as real epochs do, and the output is flattened to 2-D.
    """

    def __init__(self, transformer=None, n_times=256):
        self.transformer = transformer
        self.n_times = n_times

    def _epochs(self, X):
        n_channels = X.shape[1] + 1
        t = np.arange(self.n_times) / SFREQ
        freqs = 6.0 + 3.0 * (np.arange(X.shape[1]) % 8)
        carrier = np.sin(2 * np.pi * freqs[:, None] * t)
        noise = np.random.default_rng(0).standard_normal((n_channels, self.n_times))
        epochs = np.broadcast_to(noise, (len(X), n_channels, self.n_times)).copy()
        epochs[:, :-1] += X[:, :, None] * carrier
        return epochs

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.transformer_ = clone(self.transformer).fit(self._epochs(X), y)
        return self

    def transform(self, X):
        check_is_fitted(self, "transformer_")
        X = validate_data(self, X, reset=False)
        return self.transformer_.transform(self._epochs(X)).reshape(len(X), -1)


# one configuration per class is enough here: the direct run above covers
# every configuration, and each fit of "auto" runs an embedding search
@parametrize_with_checks(
    [Epochs2D(EPOCH_TRANSFORMERS[0]),
     Epochs2D(clone(EPOCH_TRANSFORMERS[1]).set_params(max_order=2, max_lag=2),
              n_times=128),
     Epochs2D(EPOCH_TRANSFORMERS[2]),
     Epochs2D(EPOCH_TRANSFORMERS[4])]
    + [SignedR2Selector(k=2), SignedR2Selector(k="all", multiclass="fisher")]
)
def test_sklearn_checks_on_2d_input(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", EPOCH_TRANSFORMERS, ids=repr)
def test_fit_leaves_parameters_alone_and_adds_only_trailing_underscore_attrs(estimator):
    # check_dont_overwrite_parameters, on 3-D input
    X = Epochs2D(n_times=256)._epochs(np.random.default_rng(1).standard_normal((6, 3)))
    est = clone(estimator)
    before = {k: joblib.hash(v) for k, v in est.get_params().items()}
    public_before = {k for k in vars(est) if not k.startswith("_")}
    est.fit(X)
    assert {k: joblib.hash(v) for k, v in est.get_params().items()} == before
    added = {k for k in vars(est) if not k.startswith("_")} - public_before
    assert added and all(k.endswith("_") for k in added), added
    # fit twice gives the same transform (check_fit_idempotent, 3-D)
    np.testing.assert_allclose(clone(estimator).fit(X).transform(X), est.transform(X))
