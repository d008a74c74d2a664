"""Lagged cross-product sums and the augmented covariances assembled from them."""

from __future__ import annotations

import numpy as np
import pytest
from moabb.pipelines.features import AugmentedDataset
from pyriemann.estimation import Covariances

from brainpipe.kernels.lagged_products import (
    assemble_covariances,
    lagged_augmented_covariances,
    lagged_products,
)

FIELDS = ("full", "head", "tail", "total", "head_sum", "tail_sum", "offset")


@pytest.fixture(scope="module")
def epochs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3, 41)).cumsum(axis=-1)  # correlated in time
    X += np.array([5.0, -3.0, 40.0])[:, None]  # offsets: the centring must cope
    return X


def _brute_lagged(x, lag, d, start, stop):
    """sum_{a=start}^{stop-1} x[:, a] x[:, a + d*lag]^T, one sample at a time."""
    out = np.zeros((x.shape[0], x.shape[0]))
    for a in range(start, stop):
        out += np.outer(x[:, a], x[:, a + d * lag])
    return out


@pytest.mark.parametrize("lag", [1, 3])
def test_reference_matches_definition(epochs, lag):
    P = 4
    lp = lagged_products(epochs, lag, P, backend="numpy")
    T = epochs.shape[-1]
    x = epochs[2] - epochs[2].mean(-1, keepdims=True)
    np.testing.assert_allclose(lp.offset[2], epochs[2].mean(-1))
    for d in range(P):
        n_terms = T - d * lag
        np.testing.assert_allclose(lp.full[2, d], _brute_lagged(x, lag, d, 0, n_terms),
                                   rtol=1e-12, atol=1e-10)
        for m in range(1, P):
            np.testing.assert_allclose(lp.head[2, d, m],
                                       _brute_lagged(x, lag, d, 0, m * lag),
                                       rtol=1e-12, atol=1e-10)
        for m in range(1, P + 1):
            np.testing.assert_allclose(
                lp.tail[2, d, m], _brute_lagged(x, lag, d, n_terms - m * lag, n_terms),
                rtol=1e-12, atol=1e-10)
    for m in range(P + 1):
        np.testing.assert_allclose(lp.head_sum[2, m], x[:, :m * lag].sum(-1), atol=1e-10)
        np.testing.assert_allclose(lp.tail_sum[2, m], x[:, T - m * lag:].sum(-1),
                                   atol=1e-10)
    assert lp.full.shape == (6, P, 3, 3) and lp.head.shape == (6, P, P, 3, 3)
    assert lp.tail.shape == (6, P, P + 1, 3, 3) and lp.n_channels == 3


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("lag", [1, 2, 5])
def test_backends_match_reference(epochs, backend, lag):
    ref = lagged_products(epochs, lag, 5, backend="numpy")
    got = lagged_products(epochs, lag, 5, backend=backend)
    scale = np.abs(ref.full).max()
    for name in FIELDS:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name),
                                   rtol=0, atol=1e-12 * scale, err_msg=name)
    assert (got.lag, got.max_order, got.n_times) == (lag, 5, epochs.shape[-1])


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("estimator", ["cov", "scm"])
@pytest.mark.parametrize("lag", [1, 2, 4])
def test_assembled_equals_moabb_pyriemann(epochs, backend, estimator, lag):
    lp = lagged_products(epochs, lag, 6, backend=backend)
    for order in (1, 2, 3, 6):
        ref = Covariances(estimator=estimator).transform(
            AugmentedDataset(order=order, lag=lag).transform(epochs))
        got = assemble_covariances(lp, order, estimator)
        assert got.shape == ref.shape == (6, 3 * order, 3 * order)
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err < 1e-12, (order, err)
        np.testing.assert_array_equal(got, got.swapaxes(-1, -2))


def test_order_one_ignores_lag(epochs):
    # MOABB's order 1 is the epoch unchanged, whatever the lag
    a = assemble_covariances(lagged_products(epochs, 1, 2), 1)
    b = assemble_covariances(lagged_products(epochs, 7, 2), 1)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(a, Covariances("cov").transform(epochs), rtol=1e-12)


def test_lagged_augmented_covariances(epochs):
    out = lagged_augmented_covariances(epochs, [4, 1, 2], 3, estimator="scm",
                                       backend="numba")
    assert sorted(out) == [1, 2, 4]
    ref = Covariances("scm").transform(AugmentedDataset(4, 3).transform(epochs))
    np.testing.assert_allclose(out[4], ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())


def test_errors(epochs):
    with pytest.raises(ValueError, match="too short"):
        lagged_products(epochs, 10, 4)  # 41 - 40 = 1 sample left
    lp = lagged_products(epochs, 1, 2)
    with pytest.raises(ValueError, match="exceeds the max_order"):
        assemble_covariances(lp, 3)
    with pytest.raises(ValueError, match="estimator"):
        assemble_covariances(lp, 2, "oas")
    with pytest.raises(ValueError, match="backend"):
        lagged_products(epochs, 1, 2, backend="cuda")
    with pytest.raises(ValueError, match="epochs"):
        lagged_products(epochs[0], 1, 2)
    bad = epochs.copy()
    bad[0, 0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lagged_products(bad, 1, 2)
    with pytest.raises(ValueError, match="lag"):
        lagged_products(epochs, 0, 2)


@pytest.mark.gpu
def test_torch_cuda_matches_reference(epochs):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ref = lagged_products(epochs, 2, 4, backend="numpy")
    got = lagged_products(epochs, 2, 4, backend="torch")  # runs on CUDA here
    np.testing.assert_allclose(got.tail, ref.tail, atol=1e-12 * np.abs(ref.full).max())
