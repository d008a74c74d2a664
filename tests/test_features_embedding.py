"""Embedding criteria on signals whose embedding is known.

- Lorenz system (x component): minimum embedding dimension 3 (Kennel et al.
  1992, Cao 1997) and first AMI minimum near 0.17 time units;
- sine: AMI first minimum at a quarter period;
- Gaussian AR(2): the mutual information is ``-log(1 - rho^2) / 2``, so its
  first minimum is the first zero of the autocorrelation, known in closed
  form from the Yule-Walker recursion; Cao's E2 stays near 1 (stochastic).

The vectorised estimators are also checked against brute-force references.
"""

import time

import numpy as np
import pytest
from scipy.signal import lfilter
from sklearn.metrics import mutual_info_score

from brainpipe.features.embedding import (
    auto_mutual_information,
    cao_embedding_dimension,
    cao_statistics,
    estimate_embedding,
    false_nearest_neighbours,
    first_minimum_ami_lag,
    fnn_embedding_dimension,
)


def lorenz_x(n_times, n_series=1, dt=0.01, seed=0):
    """x component of the Lorenz system (10, 28, 8/3), RK4, transient dropped."""
    rng = np.random.default_rng(seed)
    state = rng.normal(size=(3, n_series)) + np.array([[1.0], [1.0], [20.0]])

    def f(s):
        x, y, z = s
        return np.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    h = dt / 2  # two RK4 steps per sample
    n_skip = 1500
    out = np.empty((n_series, n_times))
    for t in range(n_skip + n_times):
        for _ in range(2):
            k1 = f(state)
            k2 = f(state + h / 2 * k1)
            k3 = f(state + h / 2 * k2)
            k4 = f(state + h * k3)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if t >= n_skip:
            out[:, t - n_skip] = state[0]
    return out


@pytest.fixture(scope="module")
def lorenz_long():
    """8 trajectories of 9000 samples at dt = 0.01 (90 time units), made once."""
    return lorenz_x(9000, n_series=8, seed=1)


@pytest.fixture(scope="module")
def lorenz(lorenz_long):
    return lorenz_long[:2, :4000]


def ar2(n_times, radius, period, seed=0, n_series=1):
    """Gaussian AR(2) with poles ``radius * exp(+-2i pi / period)``."""
    a1 = 2 * radius * np.cos(2 * np.pi / period)
    a2 = -(radius**2)
    noise = np.random.default_rng(seed).standard_normal((n_series, n_times + 1000))
    return lfilter([1.0], [1.0, -a1, -a2], noise, axis=-1)[:, 1000:], (a1, a2)


def acf_first_zero(a1, a2):
    """First zero crossing of the AR(2) autocorrelation (linear interpolation)."""
    rho = [1.0, a1 / (1 - a2)]
    while rho[-1] > 0:
        rho.append(a1 * rho[-1] + a2 * rho[-2])
    k = len(rho) - 1
    return k - 1 + rho[k - 1] / (rho[k - 1] - rho[k])


# ---------------------------------------------------------------- AMI


def test_ami_matches_sklearn_mutual_info_on_the_same_boxes():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((3, 700)), axis=1)
    n_bins = 12
    ami = auto_mutual_information(x, max_lag=15, n_bins=n_bins)
    assert ami.shape == (3, 16)
    for s in range(3):
        lo, hi = x[s].min(), x[s].max()
        codes = np.minimum(((x[s] - lo) / (hi - lo) * n_bins).astype(int), n_bins - 1)
        ref = [mutual_info_score(codes[: len(codes) - t], codes[t:]) for t in range(16)]
        np.testing.assert_allclose(ami[s], ref, rtol=1e-12, atol=1e-14)


def test_ami_of_a_constant_series_is_zero_and_bad_input_is_refused():
    assert np.all(auto_mutual_information(np.ones(50), max_lag=5) == 0)
    with pytest.raises(ValueError, match="smaller than the number of samples"):
        auto_mutual_information(np.arange(5.0), max_lag=5)
    with pytest.raises(ValueError, match="NaN"):
        auto_mutual_information(np.array([1.0, np.nan, 2.0]), max_lag=1)


@pytest.mark.parametrize("period", [20.5, 40.0])
def test_sine_ami_minimum_is_at_a_quarter_period(period):
    t = np.arange(4000)
    rng = np.random.default_rng(3)
    x = np.sin(2 * np.pi * t / period) + 0.05 * rng.standard_normal((4, t.size))
    lags = first_minimum_ami_lag(x, max_lag=30)
    assert lags.shape == (4,)
    assert np.all(np.abs(lags - period / 4) <= 1), lags


@pytest.mark.parametrize("radius,period", [(0.9, 16), (0.95, 24), (0.97, 40)])
def test_ar2_ami_minimum_is_the_first_zero_of_the_autocorrelation(radius, period):
    x, (a1, a2) = ar2(5000, radius, period, seed=1, n_series=3)
    expected = acf_first_zero(a1, a2)
    lags = first_minimum_ami_lag(x, max_lag=30)
    assert np.all(np.abs(lags - expected) <= 1.0), (lags, expected)


@pytest.mark.parametrize("step", [1, 2])
def test_lorenz_ami_minimum_is_near_017_time_units(lorenz_long, step):
    # The minimum is shallow (single 40-time-unit series scatter from 0.16 to
    # 0.28), so compare the median over trajectories, in physical time so that
    # both samplings (dt = 0.01 and 0.02) must agree. (The autocorrelation's
    # first zero, the other classic delay rule, is much later.)
    dt = 0.01 * step
    x = lorenz_long[:, : 4000 * step : step]
    delay = np.median(first_minimum_ami_lag(x, max_lag=40)) * dt
    assert 0.15 <= delay <= 0.24, delay


def test_lag_is_clipped_to_max_lag_when_ami_still_decreases():
    x, _ = ar2(3000, 0.97, 40, seed=2)
    assert first_minimum_ami_lag(x[0], max_lag=4) == 4
    assert isinstance(first_minimum_ami_lag(x[0], max_lag=4), int)


# ---------------------------------------------------------------- Cao / FNN


def brute_force_cao(x, lag, max_dim, theiler):
    """Cao's E1/E2 with an O(N^2) neighbour search, for reference."""
    n_times = len(x)
    e, e_star = [], []
    for dim in range(1, max_dim + 2):
        n = n_times - dim * lag
        y = np.stack([x[k * lag : k * lag + n] for k in range(dim)], axis=1)
        dist = np.abs(y[:, None, :] - y[None, :, :]).max(axis=2)
        idx = np.arange(n)
        dist[np.abs(idx[:, None] - idx[None, :]) <= theiler] = np.inf
        nn = dist.argmin(axis=1)
        d = dist[idx, nn]
        extra = np.abs(x[idx + dim * lag] - x[nn + dim * lag])
        e.append(np.mean(np.maximum(d, extra) / d))
        e_star.append(np.mean(extra))
    e, e_star = np.array(e), np.array(e_star)
    return e[1:] / e[:-1], e_star[1:] / e_star[:-1]


def brute_force_fnn(x, lag, max_dim, theiler, rtol, atol):
    out = []
    for dim in range(1, max_dim + 1):
        n = len(x) - dim * lag
        y = np.stack([x[k * lag : k * lag + n] for k in range(dim)], axis=1)
        dist = np.sqrt(((y[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
        idx = np.arange(n)
        dist[np.abs(idx[:, None] - idx[None, :]) <= theiler] = np.inf
        nn = dist.argmin(axis=1)
        d = dist[idx, nn]
        extra = np.abs(x[idx + dim * lag] - x[nn + dim * lag])
        false = (extra / d > rtol) | (np.sqrt(d**2 + extra**2) / x.std() > atol)
        out.append(false.mean())
    return np.array(out)


@pytest.mark.parametrize("theiler", [0, 3])
def test_cao_matches_brute_force(theiler):
    rng = np.random.default_rng(4)
    x = np.cumsum(rng.standard_normal(400))
    e1, e2 = cao_statistics(x, lag=2, max_dim=5, theiler=theiler)
    r1, r2 = brute_force_cao(x, 2, 5, theiler)
    np.testing.assert_allclose(e1, r1, rtol=1e-12)
    np.testing.assert_allclose(e2, r2, rtol=1e-12)


def test_fnn_matches_brute_force():
    x = lorenz_x(500, seed=5)[0]
    got = false_nearest_neighbours(x, lag=8, max_dim=5, theiler=8, rtol=10.0, atol=2.0)
    ref = brute_force_fnn(x, 8, 5, 8, 10.0, 2.0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_coincident_points_are_skipped_as_in_cao():
    # quantised data: many exact duplicates in low dimension
    rng = np.random.default_rng(6)
    x = np.round(np.cumsum(rng.standard_normal(600)))
    e1, e2 = cao_statistics(x, lag=1, max_dim=3, theiler=0)
    assert np.all(np.isfinite(e1)) and np.all(np.isfinite(e2))


def test_lorenz_embedding_dimension_is_3(lorenz):
    for x in lorenz:
        assert cao_embedding_dimension(x, lag=17, max_dim=8) == 3
        assert fnn_embedding_dimension(x, lag=17, max_dim=8) == 3
        e1, _ = cao_statistics(x, lag=17, max_dim=6)
        assert e1[1] < 0.6 and np.all(e1[2:] > 0.85), e1  # saturates from d = 3


def test_cao_e2_separates_deterministic_from_stochastic(lorenz):
    _, e2_lorenz = cao_statistics(lorenz[0], lag=17, max_dim=6)
    x, _ = ar2(4000, 0.95, 24, seed=7)
    _, e2_ar = cao_statistics(x[0], lag=7, max_dim=6)
    assert np.max(np.abs(e2_lorenz - 1)) > 0.25
    assert np.max(np.abs(e2_ar[1:] - 1)) < 0.1, e2_ar


def test_reference_subsampling_keeps_the_lorenz_answer(lorenz):
    assert cao_embedding_dimension(lorenz[0], lag=17, max_dim=8, n_ref=500) == 3


def test_too_short_series_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="too few for dimension"):
        cao_statistics(np.random.default_rng(0).standard_normal(60), lag=10, max_dim=6)


# ---------------------------------------------------------------- estimate_embedding


def test_estimate_embedding_on_lorenz_epochs(lorenz_long):
    # 3 "channels" (independent trajectories) x 3 trials of 3000 samples (30
    # time units; with half that, finite-sample effects push Cao's answer to 4)
    epochs = lorenz_long[5:].reshape(3, 3, 3000).transpose(1, 0, 2)
    order, lag, details = estimate_embedding(
        epochs, max_order=6, max_lag=30, return_details=True
    )
    assert order == 3
    assert 15 <= lag <= 20
    assert details["lags"].shape == (3, 3) and details["orders"].shape == (3, 3)
    order_fnn, lag_fnn = estimate_embedding(epochs, max_order=6, max_lag=30,
                                            method="fnn")
    assert (order_fnn, lag_fnn) == (3, lag)


def test_estimate_embedding_on_ar2_epochs_finds_the_lag():
    x, (a1, a2) = ar2(1000, 0.95, 24, seed=9, n_series=40)
    epochs = x.reshape(8, 5, 1000)
    order, lag = estimate_embedding(epochs, max_order=6, max_lag=10, order=2)
    assert order == 2  # fixed orders pass through
    assert abs(lag - acf_first_zero(a1, a2)) <= 1


def test_estimate_embedding_uses_at_most_30_trials_and_channels():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((50, 35, 40))
    order, lag, details = estimate_embedding(
        X, max_order=2, max_lag=2, return_details=True
    )
    assert len(details["trials"]) == 30 and len(details["channels"]) == 30
    assert details["trials"][0] == 0 and details["trials"][-1] == 49
    assert details["channels"][-1] == 34
    assert 1 <= order <= 2 and 1 <= lag <= 2
    order2, lag2 = estimate_embedding(X, max_order=2, max_lag=2, lag=2, max_trials=3)
    assert lag2 == 2


def test_estimate_embedding_is_fast_on_a_bci_sized_block():
    # 10 trials x 8 channels x 500 samples (2 s at 250 Hz), band-limited noise
    rng = np.random.default_rng(11)
    X = lfilter([1.0], [1.0, -1.6, 0.81], rng.standard_normal((10, 8, 500)), axis=-1)
    start = time.perf_counter()
    order, lag = estimate_embedding(X, max_order=6, max_lag=10, n_ref=200)
    assert time.perf_counter() - start < 10  # seconds, on 2 shared cores
    assert 1 <= order <= 6 and 1 <= lag <= 10


def test_estimate_embedding_rejects_bad_input():
    with pytest.raises(ValueError, match="Invalid value for the 'method'"):
        estimate_embedding(np.zeros((2, 2, 100)) + 1, method="tisean")
    with pytest.raises(ValueError, match="epochs"):
        estimate_embedding(np.zeros((2, 2, 2, 100)))
