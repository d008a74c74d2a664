"""Property-based tests of the kernels: random shapes, NaN/inf, empty windows.

Either the result has the documented shape and properties, or one of our own
errors comes out (a ``ValueError``/``TypeError`` raised in brainpipe's code,
whose message names the parameter), never a numpy or backend error.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from brainpipe.kernels import sliding_windows, window_covariances  # noqa: E402
from brainpipe.kernels.covariance import epoch_covariances  # noqa: E402
from brainpipe.kernels.windows import n_windows, window_starts  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_own_error(err):
    """The error was raised by brainpipe's own checks, with a message."""
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    frames = traceback.extract_tb(err.__traceback__)
    assert "brainpipe" in frames[-1].filename, "".join(traceback.format_tb(err.__traceback__))
    assert str(err)


signals = hnp.arrays(
    np.float64,
    st.tuples(st.integers(0, 4), st.integers(0, 60)),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0]),
)


@SETTINGS
@given(x=signals, window=st.integers(-2, 70), step=st.integers(-2, 70))
def test_sliding_windows_shape_or_own_error(x, window, step):
    try:
        view = sliding_windows(x, window, step)
    except Exception as err:  # noqa: BLE001 - the property is about which errors
        assert_own_error(err)
        return
    n = n_windows(x.shape[1], window, step)
    assert view.shape == (n, x.shape[0], window)
    starts = window_starts(x.shape[1], window, step)
    for k in (0, n - 1):
        np.testing.assert_array_equal(view[k], x[:, starts[k]:starts[k] + window])


@SETTINGS
@given(x=signals, window=st.integers(0, 70), step=st.integers(0, 70), order=st.integers(0, 4),
       lag=st.integers(0, 3), estimator=st.sampled_from(["scm", "cov", "oas", "lwf", "bogus"]))
def test_window_covariances_psd_or_own_error(x, window, step, order, lag, estimator):
    try:
        covs = window_covariances(x, window, step, order=order, lag=lag, estimator=estimator, backend="numpy")
    except Exception as err:  # noqa: BLE001
        assert_own_error(err)
        return
    d = x.shape[0] * order
    assert covs.shape == (n_windows(x.shape[1], window, step), d, d)
    assert np.all(np.isfinite(covs))
    np.testing.assert_allclose(covs, np.swapaxes(covs, 1, 2), atol=1e-9)
    # positive semi-definite always (the notes say when it is definite)
    scale = np.abs(covs).max(initial=0.0) + 1e-300
    assert np.linalg.eigvalsh(covs).min(initial=0.0) >= -1e-9 * scale


@SETTINGS
@given(n_chan=st.integers(1, 3), n_times=st.integers(2, 40), order=st.integers(1, 3), lag=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_window_covariances_definite_when_documented(n_chan, n_times, order, lag, seed):
    """Full-rank random data with enough samples per copy: positive definite (scm),
    and the shrinkage estimators stay definite on too-short windows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_chan, n_times))
    n_eff = n_times if order == 1 else n_times - order * lag
    if n_eff < 2:
        with pytest.raises(ValueError, match="window"):
            window_covariances(x, n_times, 1, order=order, lag=lag, backend="numpy")
        return
    if n_eff >= 3:
        for est in ("oas", "lwf"):
            covs = window_covariances(x, n_times, 1, order=order, lag=lag, estimator=est, backend="numpy")
            assert np.linalg.eigvalsh(covs).min() > 1e-10 * np.abs(covs).max()
    covs = window_covariances(x, n_times, 1, order=order, lag=lag, estimator="scm", backend="numpy")
    if n_eff > n_chan * order + 1:
        assert np.linalg.eigvalsh(covs).min() > 1e-12 * np.abs(covs).max()
    elif n_eff <= n_chan * order:  # fewer samples than dimensions: singular, as documented
        assert np.linalg.eigvalsh(covs).min() < 1e-8 * np.abs(covs).max()


@SETTINGS
@given(n_chan=st.integers(1, 3), n_times=st.integers(3, 30), value=st.floats(-1e3, 1e3))
def test_constant_signal_gives_the_documented_zero_matrix(n_chan, n_times, value):
    x = np.full((n_chan, n_times), value)
    for est in ("scm", "cov", "oas", "lwf"):
        covs = window_covariances(x, n_times, 1, estimator=est, backend="numpy")
        np.testing.assert_allclose(covs, 0.0, atol=1e-9 * max(1.0, value * value))


def test_overflow_is_refused():
    x = np.random.default_rng(0).normal(size=(2, 50)) * 1e200
    with pytest.raises(ValueError, match="overflow"):
        window_covariances(x, 20, 5, backend="numpy")
    with pytest.raises(ValueError, match="overflow"):
        epoch_covariances(x[None], backend="numpy")


@SETTINGS
@given(X=hnp.arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 20)),
                    elements=st.floats(-10, 10) | st.just(np.nan)),
       order=st.integers(1, 3), lag=st.integers(1, 2))
def test_epoch_covariances_or_own_error(X, order, lag):
    try:
        covs = epoch_covariances(X, order=order, lag=lag, backend="numpy")
    except Exception as err:  # noqa: BLE001
        assert_own_error(err)
        return
    assert covs.shape == (X.shape[0], X.shape[1] * order, X.shape[1] * order)
    assert np.all(np.isfinite(covs))
