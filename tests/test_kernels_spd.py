"""kernels.spd: batched whitened log maps and Riemannian distances against per-matrix references."""

import numpy as np
import pytest
import scipy.linalg
from pyriemann.geometry.distance import distance_riemann

from brainpipe.kernels.spd import invsqrtm, one_blas_thread, riemann_distances, upper_weights, whitened_log_upper


def _spd(n_mat=40, n=10, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_mat, n, 3 * n))
    A[:, :2] += 3 * A[:, 2:4]  # correlated channels: condition numbers of a few hundred
    return np.einsum("nct,ndt->ncd", A, A) / (3 * n)


def _reference_log_upper(C, P):
    """The definition, one matrix at a time: scipy's logm, then the weighted upper triangle."""
    rows, cols = np.triu_indices(C.shape[-1])
    out = []
    for c in C:
        L = np.real(scipy.linalg.logm(P @ c @ P))
        out.append(L[rows, cols] * np.where(rows == cols, 1.0, np.sqrt(2.0)))
    return np.array(out)


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_whitened_log_upper_matches_logm(n_jobs):
    C = _spd()
    P = invsqrtm(C.mean(axis=0))
    ref = _reference_log_upper(C, P)
    got = whitened_log_upper(C, P, n_jobs=n_jobs)
    np.testing.assert_allclose(got, ref, atol=1e-10 * np.abs(ref).max())


def test_whitened_log_upper_many_chunks_and_out():
    # more matrices than one chunk holds: every chunk lands at its place
    C = _spd(n_mat=3000, n=6, seed=1)
    P = invsqrtm(C[0])
    out = np.full((len(C), 21), np.nan)
    got = whitened_log_upper(C, P, n_jobs=2, out=out)
    assert got is out and np.isfinite(out).all()
    np.testing.assert_allclose(got[::500], _reference_log_upper(C[::500], P), atol=1e-10)


def test_invsqrtm_and_weights():
    C = _spd(1, n=5)[0]
    P = invsqrtm(C)
    np.testing.assert_allclose(P @ C @ P, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(P, P.T)
    rows, cols, w = upper_weights(3)
    assert list(zip(rows, cols)) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    np.testing.assert_allclose(w, [1, np.sqrt(2), np.sqrt(2), 1, np.sqrt(2), 1])


@pytest.mark.parametrize("squared", [False, True])
def test_riemann_distances_match_pyriemann(squared):
    C = _spd(30, n=8)
    means = _spd(3, n=8, seed=5)
    got = riemann_distances(C, np.stack([invsqrtm(M) for M in means]), n_jobs=2, squared=squared)
    ref = np.column_stack([distance_riemann(C, M, squared=squared).ravel() for M in means])
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_not_spd_is_refused_with_advice():
    C = _spd(4, n=5)
    C[2] = np.diag([1.0, 1.0, 1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="shrinkage"):
        whitened_log_upper(C, np.eye(5))
    with pytest.raises(ValueError, match="shrinkage"):
        riemann_distances(C, np.eye(5)[None])
    with pytest.raises(ValueError, match="square"):
        whitened_log_upper(np.zeros((2, 3, 4)), np.eye(3))


def test_one_blas_thread_limits_and_restores():
    from threadpoolctl import threadpool_info

    before = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    with one_blas_thread():
        inside = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    after = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert all(v == 1 for v in inside.values())
    assert after == before


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    C = _spd(50, n=9)
    P = invsqrtm(C.mean(axis=0))
    np.testing.assert_allclose(whitened_log_upper(C, P, backend="torch"), whitened_log_upper(C, P),
                               atol=1e-10)
    Ps = np.stack([P, invsqrtm(C[0])])
    np.testing.assert_allclose(riemann_distances(C, Ps, backend="torch"), riemann_distances(C, Ps),
                               rtol=1e-9, atol=1e-12)  # atol: C[0]'s distance to itself


def test_cuda_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    C = _spd(500, n=24)
    P = invsqrtm(C.mean(axis=0))
    # the CUDA eigh (cuSOLVER) is float64 too: same tolerance as on the CPU
    np.testing.assert_allclose(whitened_log_upper(C, P, backend="torch"), whitened_log_upper(C, P),
                               atol=1e-9)
