"""Batched functions of many small SPD matrices: whitened log maps and distances.

What the tangent space and MDM decide with, on thousands of pseudo-online
windows at once:

* :func:`whitened_log_upper` - pyriemann's tangent vectors
  ``upper(logm(P C_i P))`` (off-diagonal terms weighted by sqrt(2)), one
  ``eigh`` per matrix;
* :func:`riemann_distances` - affine-invariant distances of every matrix to a
  few references, ``||log eig(P_k C_i P_k)||``, one ``eigvalsh`` per pair.

Why a module of its own: on small matrices (n <= ~100, as channel
covariances and order-4 ACM are) LAPACK's ``syevd`` runs one matrix at a
time and BLAS threads inside it are pure overhead. Measured on this 2-core
machine with other work running, numpy's batched ``eigh`` of 88 x 88
matrices took 9.7 ms per matrix with 2 OpenBLAS threads and 0.5-0.8 ms with
one. So the batch is cut into cache-sized chunks, every chunk runs with one
BLAS thread, and the chunks are spread over ``n_jobs`` Python threads (numpy's
linalg releases the GIL). ``backend="torch"`` does each call as one batched
``torch.linalg.eigh`` on the torch device instead (a CUDA GPU).

Each function has a plain per-matrix reference in the tests (scipy's
``logm``, pyriemann's ``distance_riemann``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from brainpipe._check import check_option

__all__ = ["invsqrtm", "one_blas_thread", "riemann_distances", "upper_weights", "whitened_log_upper"]

# About 1 MiB of float64 per chunk: a chunk's products and decompositions stay in cache.
_CHUNK_BYTES = 2**20

_NOT_SPD = (
    "A matrix is not positive definite (zero or negative eigenvalue): use a shrinkage "
    "covariance estimator (oas, lwf) or check for flat or duplicated channels."
)


def _n_jobs(n_jobs):
    """Threads for ``n_jobs`` (scikit-learn's meaning: None = 1, -1 = all cores)."""
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    cores = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return max(1, n_jobs)


def _chunk_slices(n_mat, n, n_jobs):
    size = max(1, _CHUNK_BYTES // (8 * n * n))
    # at least one chunk per thread, so both cores work on a small batch too
    size = min(size, max(1, -(-n_mat // n_jobs)))
    return [slice(s, min(s + size, n_mat)) for s in range(0, n_mat, size)]


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """Context manager: BLAS libraries run one thread inside it.

    One :class:`threadpoolctl.ThreadpoolController` per process: building it
    scans the loaded libraries, about 20 ms, too much per chunk of windows.
    """
    return _controller().limit(limits=1, user_api="blas")


@lru_cache(maxsize=4)
def _pool(n_threads):
    # kept for the process: starting threads took ~3 ms each on the busy
    # machine, as long as deciding a chunk of 256 small windows
    return ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="brainpipe-spd")


def _run_chunks(func, slices, n_jobs):
    """``func(sl)`` for every slice, over ``n_jobs`` threads with one BLAS thread each."""
    with one_blas_thread():
        if n_jobs <= 1 or len(slices) <= 1:
            for sl in slices:
                func(sl)
            return
        # list(): re-raise the first worker's error here
        list(_pool(min(n_jobs, len(slices))).map(func, slices))


def upper_weights(n):
    """Indices and weights of pyriemann's tangent vectors.

    Parameters
    ----------
    n : int
        Matrix size.

    Returns
    -------
    rows, cols : ndarray of int, shape (n * (n + 1) / 2,)
        Upper-triangle indices, row by row (pyriemann's order).
    weights : ndarray, shape (n * (n + 1) / 2,)
        1 on the diagonal, sqrt(2) off it (so that the Euclidean inner
        product of vectors is the Frobenius one of the matrices).
    """
    rows, cols = np.triu_indices(n)
    return rows, cols, np.where(rows == cols, 1.0, np.sqrt(2.0))


@lru_cache(maxsize=8)
def _upper_take(n):
    """Flat indices (into a row-major n x n matrix) and weights of
    :func:`upper_weights`, once per size: ``np.take`` on the flat indices
    gathers the vectors of a chunk faster than 2-D fancy indexing."""
    rows, cols, weights = upper_weights(n)
    flat = rows * n + cols
    flat.flags.writeable = weights.flags.writeable = False
    return flat, weights


def invsqrtm(C):
    """``C^-1/2`` of one SPD matrix (symmetric), by ``eigh``.

    Parameters
    ----------
    C : ndarray, shape (n, n)

    Returns
    -------
    P : ndarray, shape (n, n)
    """
    with one_blas_thread():  # threaded BLAS on one small matrix: 100x slower under load
        w, V = np.linalg.eigh(np.asarray(C, dtype=np.float64))
    if not np.all(w > 0):
        raise ValueError("The reference matrix is not positive definite.")
    P = (V / np.sqrt(w)) @ V.T
    return (P + P.T) / 2


def _check_stack(covmats, name="covmats"):
    covmats = np.asarray(covmats, dtype=np.float64)
    if covmats.ndim != 3 or covmats.shape[1] != covmats.shape[2]:
        raise ValueError(f"{name} must be square matrices (n_matrices, n, n), got shape {covmats.shape}.")
    return covmats


def whitened_log_upper(covmats, whitener, *, n_jobs=-1, backend="numpy", out=None, dtype="float64"):
    """Tangent vectors ``upper(logm(P C_i P))`` of many SPD matrices.

    pyriemann's ``TangentSpace(metric="riemann").transform`` with ``P`` the
    inverse square root of its reference point, computed with one ``eigh``
    per matrix.

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
        SPD matrices.
    whitener : ndarray, shape (n, n)
        Symmetric ``P`` (e.g. :func:`invsqrtm` of the reference point).
    n_jobs : int | None
        Threads over chunks (numpy backend; -1: all cores).
    backend : {"numpy", "torch"}
        ``"torch"``: one batched ``torch.linalg.eigh`` on the CUDA device
        when there is one (else torch's CPU).
    out : ndarray, shape (n_matrices, n * (n + 1) / 2), optional
        Written in place.
    dtype : {"float64", "float32"}
        Precision of the eigendecompositions and log maps. ``"float32"``
        gives vectors within about 1e-6 of the float64 ones, relative to
        their largest entry, on well-conditioned whitened matrices (shrinkage
        covariances); the whitening itself stays float64. On the CPU its
        ``eigh`` is torch's (MKL ``ssyevd``, measured 325 us against 510 us
        for numpy's OpenBLAS at n = 88; OpenBLAS's float32 is no faster than
        its float64), numpy's when torch is missing.

    Returns
    -------
    T : ndarray, shape (n_matrices, n * (n + 1) / 2)
        float64; off-diagonal entries weighted by sqrt(2).
    """
    check_option("backend", backend, ("numpy", "torch"))
    check_option("dtype", dtype, ("float64", "float32"))
    low = dtype == "float32"
    covmats = _check_stack(covmats)
    P = np.asarray(whitener, dtype=np.float64)
    n_mat, n = covmats.shape[:2]
    flat, weights = _upper_take(n)
    if out is None:
        out = np.empty((n_mat, len(flat)))
    if n_mat == 0:
        return out
    if backend == "torch":
        rows, cols = np.divmod(flat, n)
        return _whitened_log_upper_torch(covmats, P, rows, cols, weights.copy(), out, low)

    torch = _torch_or_none() if low else None

    def work(sl):
        S = P @ covmats[sl] @ P
        if torch is not None:
            w, U = torch.linalg.eigh(torch.from_numpy(S.astype(np.float32)))
            ok = bool(torch.all(w > 0))
            L = ((U * torch.log(w)[:, None, :]) @ U.transpose(-1, -2)).numpy() if ok else None
        else:
            w, U = np.linalg.eigh(S.astype(np.float32) if low else S)
            ok = bool(np.all(w > 0))
            L = (U * np.log(w)[:, None, :]) @ U.swapaxes(-1, -2) if ok else None
        if not ok:
            raise ValueError(_NOT_SPD)
        np.multiply(np.take(L.reshape(len(L), n * n), flat, axis=1), weights, out=out[sl])

    n_jobs = _n_jobs(n_jobs)
    with _torch_threads(torch, 1):  # our threads are the parallelism, as for BLAS
        _run_chunks(work, _chunk_slices(n_mat, n, n_jobs), n_jobs)
    return out


def _torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextmanager
def _torch_threads(torch, n):
    """torch's intra-op (and MKL) threads set to ``n`` inside, restored after."""
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def riemann_distances(covmats, whiteners, *, n_jobs=-1, backend="numpy", squared=False):
    """Affine-invariant Riemannian distances of every matrix to ``K`` references.

    ``d(C_i, M_k) = ||log eig(P_k C_i P_k)||`` with ``P_k = M_k^-1/2``: the
    eigenvalues pyriemann's ``distance_riemann`` takes from the generalised
    problem ``(C_i, M_k)``, from one symmetric ``eigvalsh`` per pair.

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
        SPD matrices.
    whiteners : ndarray, shape (n_refs, n, n)
        Inverse square roots of the references (:func:`invsqrtm`).
    n_jobs : int | None
        Threads over chunks (numpy backend; -1: all cores).
    backend : {"numpy", "torch"}
        ``"torch"``: batched ``torch.linalg.eigvalsh`` on the CUDA device when
        there is one (else torch's CPU).
    squared : bool
        Return squared distances.

    Returns
    -------
    D : ndarray, shape (n_matrices, n_refs)
    """
    check_option("backend", backend, ("numpy", "torch"))
    covmats = _check_stack(covmats)
    Ps = _check_stack(whiteners, "whiteners")
    n_mat, n = covmats.shape[:2]
    out = np.empty((n_mat, len(Ps)))
    if n_mat == 0:
        return out
    if backend == "torch":
        out = _riemann_distances_torch(covmats, Ps)
    else:
        def work(sl):
            for k, P in enumerate(Ps):
                w = np.linalg.eigvalsh(P @ covmats[sl] @ P)
                if not np.all(w > 0):
                    raise ValueError(_NOT_SPD)
                out[sl, k] = np.sum(np.log(w) ** 2, axis=-1)

        n_jobs = _n_jobs(n_jobs)
        _run_chunks(work, _chunk_slices(n_mat, n, n_jobs), n_jobs)
    return out if squared else np.sqrt(out)


# ---------------------------------------------------------------------------
# torch (CUDA) versions: one batched call per chunk on the device

def _torch_device():
    import torch

    return torch, ("cuda" if torch.cuda.is_available() else "cpu")


def _torch_chunk(n, budget=2**28):
    # a few hundred MiB of float64 per batch on the device
    return max(1, budget // (8 * n * n * 4))


def _whitened_log_upper_torch(covmats, P, rows, cols, weights, out, low=False):
    torch, device = _torch_device()
    n = covmats.shape[-1]
    Pt = torch.as_tensor(P, device=device)
    r = torch.as_tensor(rows, device=device)
    c = torch.as_tensor(cols, device=device)
    wt = torch.as_tensor(weights, device=device)
    step = _torch_chunk(n)
    for s in range(0, len(covmats), step):
        C = torch.as_tensor(covmats[s : s + step], device=device)
        S = Pt @ C @ Pt
        w, U = torch.linalg.eigh(S.float() if low else S)
        if not bool(torch.all(w > 0)):
            raise ValueError(_NOT_SPD)
        L = (U * torch.log(w)[:, None, :]) @ U.transpose(-1, -2)
        out[s : s + step] = (L[:, r, c] * wt.to(L.dtype)).cpu().numpy()
    return out


def _riemann_distances_torch(covmats, Ps):
    torch, device = _torch_device()
    n = covmats.shape[-1]
    Pt = torch.as_tensor(Ps, device=device)
    step = _torch_chunk(n)
    out = np.empty((len(covmats), len(Ps)))
    for s in range(0, len(covmats), step):
        C = torch.as_tensor(covmats[s : s + step], device=device)
        w = torch.linalg.eigvalsh(Pt[None] @ C[:, None] @ Pt[None])  # (chunk, K, n)
        if not bool(torch.all(w > 0)):
            raise ValueError(_NOT_SPD)
        out[s : s + step] = (torch.log(w) ** 2).sum(-1).cpu().numpy()
    return out
