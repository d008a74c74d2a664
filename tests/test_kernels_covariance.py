"""Augmented covariances: every backend against MOABB + pyriemann and the reference."""

import os

import numpy as np
import pytest

from brainpipe.kernels import (
    epoch_covariances,
    resolve_backend,
    sliding_windows,
    window_covariances,
)

torch = pytest.importorskip("torch")

BACKENDS = ["numpy", "numba", "torch"]
ESTIMATORS = ["scm", "cov", "oas", "lwf"]
CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """MOABB AugmentedDataset followed by pyriemann Covariances (the definition)."""
    os.environ.setdefault("MNE_DATA", str(tmp_path_factory.mktemp("mne_data")))
    from moabb.pipelines.features import AugmentedDataset
    from pyriemann.estimation import Covariances

    def compute(epochs, order, lag, estimator):
        Z = AugmentedDataset(order=order, lag=lag).transform(np.ascontiguousarray(epochs))
        return Covariances(estimator=estimator).transform(Z)

    return compute


def rel_err(a, b):
    """Largest absolute difference relative to the largest entry of b."""
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def eeg_like(n_channels, n_times, seed=0, offset=0.0):
    """Correlated, coloured noise (AR(1) sources mixed into channels)."""
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n_channels, n_times))
    for t in range(1, n_times):
        src[:, t] += 0.9 * src[:, t - 1]
    mix = rng.standard_normal((n_channels, n_channels)) / np.sqrt(n_channels)
    return 10.0 * (mix + np.eye(n_channels)) @ src + offset


# (n_channels, n_times, window, step, order, lag)
CASES = {
    "overlap_order4": (5, 400, 60, 17, 4, 1),
    "lag3": (4, 300, 50, 9, 3, 3),
    "order1": (6, 300, 40, 7, 1, 1),
    "order1_lag_ignored": (3, 200, 40, 7, 1, 4),
    "step_eq_window": (4, 300, 50, 50, 2, 1),
    "step_gt_window": (4, 300, 40, 55, 3, 2),
    "whole_signal": (4, 120, 120, 5, 5, 2),
    "one_channel": (1, 300, 60, 10, 3, 1),
    "one_channel_order1": (1, 300, 60, 10, 1, 1),
    "step_one": (3, 90, 30, 1, 4, 1),
    "min_length": (3, 100, 10, 3, 4, 2),  # 2 samples per copy
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_window_covariances_match_moabb_pyriemann(peer, backend, estimator, case):
    n_channels, n_times, window, step, order, lag = CASES[case]
    x = eeg_like(n_channels, n_times, seed=sorted(CASES).index(case), offset=50.0)
    ours = window_covariances(x, window, step, order=order, lag=lag,
                              estimator=estimator, backend=backend)
    expected = peer(sliding_windows(x, window, step), order, lag, estimator)
    assert ours.shape == expected.shape
    assert ours.dtype == np.float64
    assert rel_err(ours, expected) < 1e-10


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_backends_match_reference_tightly_on_real_shape(backend, estimator):
    # 22 channels at 250 Hz, 1 s windows every 0.1 s, order 4: the benchmark shape
    x = eeg_like(22, 250 * 6, seed=3, offset=-200.0)
    kw = dict(order=4, lag=1, estimator=estimator)
    ref = window_covariances(x, 250, 25, backend="numpy", **kw)
    ours = window_covariances(x, 250, 25, backend=backend, **kw)
    assert ours.shape == (51, 88, 88)
    assert rel_err(ours, ref) < 1e-12


def test_real_shape_matches_moabb_pyriemann_order8(peer):
    x = eeg_like(22, 250 * 3, seed=4)
    ours = window_covariances(x, 250, 25, order=8, lag=1, estimator="cov")
    expected = peer(sliding_windows(x, 250, 25), 8, 1, "cov")
    assert ours.shape == (21, 176, 176)
    assert rel_err(ours, expected) < 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_are_symmetric_positive_definite(backend):
    x = eeg_like(6, 500, seed=5, offset=1e3)
    covs = window_covariances(x, 100, 10, order=3, lag=2, backend=backend)
    np.testing.assert_array_equal(covs, np.swapaxes(covs, -1, -2))
    assert np.all(np.linalg.eigvalsh(covs) > 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("order, lag", [(1, 1), (3, 2), (8, 1)])
def test_epoch_covariances_match_moabb_pyriemann(peer, backend, estimator, order, lag):
    rng = np.random.default_rng(order * 10 + lag)
    X = np.stack([eeg_like(4, 80, seed=s) for s in range(5)]) + rng.normal(0, 30, (5, 4, 1))
    ours = epoch_covariances(X, order=order, lag=lag, estimator=estimator, backend=backend)
    expected = peer(X, order, lag, estimator)
    assert ours.shape == (5, 4 * order, 4 * order)
    assert rel_err(ours, expected) < 1e-10


def test_auto_backend_is_numba_without_cuda():
    assert resolve_backend("auto") == ("torch" if CUDA else "numba")
    x = eeg_like(3, 200)
    np.testing.assert_allclose(
        window_covariances(x, 50, 10, order=2),
        window_covariances(x, 50, 10, order=2, backend="numpy"), rtol=1e-12, atol=0,
    )


def test_torch_tensor_in_tensor_out():
    x = eeg_like(3, 200)
    out = window_covariances(torch.from_numpy(x), 50, 10, order=2, backend="torch")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    ref = window_covariances(x, 50, 10, order=2, backend="numpy")
    assert rel_err(out.numpy(), ref) < 1e-12
    # other backends take CPU tensors too and return numpy
    out = window_covariances(torch.from_numpy(x), 50, 10, order=2, backend="numba")
    assert isinstance(out, np.ndarray) and rel_err(out, ref) < 1e-12


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cuda_matches_reference(estimator):
    x = eeg_like(22, 250 * 4, seed=6, offset=100.0)
    ref = window_covariances(x, 250, 25, order=8, estimator=estimator, backend="numpy")
    gpu = window_covariances(torch.from_numpy(x).cuda(), 250, 25, order=8,
                             estimator=estimator, backend="torch")
    assert gpu.is_cuda
    assert rel_err(gpu.cpu().numpy(), ref) < 1e-12
    X = np.stack([eeg_like(22, 500, seed=s) for s in range(3)])
    ref = epoch_covariances(X, order=4, lag=2, estimator=estimator, backend="numpy")
    gpu = epoch_covariances(X, order=4, lag=2, estimator=estimator, backend="torch")
    assert rel_err(gpu, ref) < 1e-12  # numpy in, numpy out, computed on CUDA


@pytest.mark.parametrize("backend", BACKENDS)
def test_window_too_short_for_embedding(backend):
    x = np.random.default_rng(0).standard_normal((3, 100))
    with pytest.raises(ValueError, match=r"window=9 .*order=4 and lag=2"):
        window_covariances(x, 9, 1, order=4, lag=2, backend=backend)
    with pytest.raises(ValueError, match=r"n_times=20 .*order=5 and lag=4"):
        epoch_covariances(x[None, :, :20], order=5, lag=4, backend=backend)


def test_bad_arguments_are_named():
    x = np.random.default_rng(0).standard_normal((3, 100))
    with pytest.raises(ValueError, match="'estimator' parameter.*'scm'.*'mcd'"):
        window_covariances(x, 10, 5, estimator="mcd")
    with pytest.raises(ValueError, match="'backend' parameter.*'numba'.*'jax'"):
        window_covariances(x, 10, 5, backend="jax")
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        window_covariances(x, 10, 5, order=0)
    with pytest.raises(ValueError, match=r"window \(101 samples\)"):
        window_covariances(x, 101, 5)
    with pytest.raises(ValueError, match=r"shape \(n_trials, n_channels, n_times\)"):
        epoch_covariances(x)
    with pytest.raises(ValueError, match="no channels"):
        window_covariances(np.zeros((0, 100)), 10, 5)
    x[1, 50] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        window_covariances(x, 10, 5)
    with pytest.raises(TypeError, match="real-valued"):
        window_covariances(x + 1j, 10, 5)
