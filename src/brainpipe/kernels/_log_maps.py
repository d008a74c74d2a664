"""Log maps of a set of SPD matrices at a moving reference: the Riemannian mean's inner loop.

:func:`log_maps` returns an object whose ``at(M^-1/2)`` decomposes every
``M^-1/2 C_i M^-1/2`` and returns the mean log map, ``tangent_vectors()``
the matrices' tangent vectors of that call and ``hessian(X)`` the
derivative of the mean log map (Daleckii-Krein). Two implementations behind
the kernels' one ``backend=`` switch: numpy/LAPACK in cache-sized blocks over
threads, and batched torch. The symmetric-matrix functions below are
pyriemann's (``sqrtm``, ``invsqrtm``, ``expm``, ``logm``, ``upper``: one
``eigh``, the same operations in the same order), so that kernels need no
pyriemann.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._backend import resolve_backend

__all__ = ["expm", "invsqrtm", "log_maps", "logm", "not_spd_error", "sqrtm", "upper"]


def _matrix_operator(C, operator):
    """pyriemann's matrix function of symmetric matrices: ``V diag(op(w)) V.T``."""
    if not np.all(np.isfinite(C)):
        raise ValueError("Matrices must be positive definite. "
                         "You should add regularization to avoid this error.")
    w, V = np.linalg.eigh(C)
    return V @ (operator(w)[..., None] * V.swapaxes(-1, -2))


def sqrtm(C):
    """Square root of SPD matrices, shape (..., n, n)."""
    return _matrix_operator(C, np.sqrt)


def invsqrtm(C):
    """Inverse square root of SPD matrices, shape (..., n, n)."""
    return _matrix_operator(C, lambda w: 1.0 / np.sqrt(w))


def expm(C):
    """Exponential of symmetric matrices, shape (..., n, n)."""
    return _matrix_operator(C, np.exp)


def logm(C):
    """Logarithm of SPD matrices, shape (..., n, n)."""
    return _matrix_operator(C, np.log)


def upper(X):
    """pyriemann's tangent vector of symmetric matrices: the upper triangle,
    off-diagonal terms times sqrt(2); shape (..., n * (n + 1) / 2)."""
    n = X.shape[-1]
    idx = np.triu_indices(n)
    coeffs = (math.sqrt(2) * np.triu(np.ones((n, n)), k=1) + np.eye(n))[idx[0], idx[1]]
    return coeffs * X[..., idx[0], idx[1]]


def effective_n_jobs(n_jobs):
    """Threads for ``n_jobs`` as joblib counts them (-1: every core)."""
    n_cpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning.")
    return max(n_cpu + 1 + n_jobs, 1) if n_jobs < 0 else n_jobs


def not_spd_error():
    """The error raised on matrices that are not positive definite, with advice."""
    return ValueError(
        "Covariance matrices are not positive definite (linearly dependent "
        "channels after average reference or ICA, a flat channel, or an order "
        "too high for the epoch length). Use a shrinkage estimator, "
        "estimator='oas' or 'lwf', or lower the largest order."
    )


def _log_kernel(logw, xp):
    """Daleckii-Krein weights of the Karcher gradient's derivative.

    For eigenvalues ``w = exp(logw)`` of ``W``, the derivative of
    ``logm(E^-1/2 W E^-1/2)`` at ``E = I`` in direction ``X`` is
    ``-V (K * (V.T X V)) V.T`` with ``K_jk = (w_j + w_k) / 2 * (log w_j -
    log w_k) / (w_j - w_k) = d / tanh(d)``, ``d = (log w_j - log w_k) / 2``
    (1 on the diagonal, >= 1 everywhere: the Hessian is positive definite).
    """
    d = (logw[..., :, None] - logw[..., None, :]) / 2
    small = xp.abs(d) < 1e-3
    safe = xp.where(small, xp.ones_like(d), d)
    return xp.where(small, 1 + d * d / 3, safe / xp.tanh(safe))


def _block_size(n, budget=2**20):
    """Matrices per batched call: about 1 MiB of float64 per stack, so that a
    block's products and eigendecompositions stay in cache (two threads
    streaming whole stacks through memory run 1.25x faster than one; in
    blocks, 1.9x)."""
    return max(1, budget // (8 * n * n))


def _log_reconstructions(V, logw):
    """``V_i diag(logw_i) V_i.T`` as ``B_i B_i.T - s_i I``, ``B_i = V_i
    diag(logw_i + s_i)^1/2``, ``s_i = max(0, -min(logw_i))`` (``V_i``
    orthogonal): a symmetric product (syrk), not a general one."""
    shift = np.maximum(-logw.min(axis=-1), 0.0)
    B = V * np.sqrt(logw + shift[:, None])[:, None, :]
    logs = B @ B.swapaxes(-1, -2)
    diag = np.arange(V.shape[-1])
    logs[:, diag, diag] -= shift[:, None]
    return logs


class _NumpyLogMaps:
    """Log maps of a fixed set of SPD matrices at a moving reference (LAPACK).

    ``at(Mmh)`` decomposes every ``Mmh @ C_i @ Mmh`` and returns the mean
    log map (pyriemann's gradient ``J``); ``tangent_vectors()`` pyriemann's
    tangent vectors of that call; ``hessian(X)`` the derivative of the mean
    log map there (float32: it only steers the conjugate gradient of a
    Newton step). The matrices go through in cache-sized blocks, the blocks
    split over ``n_jobs`` threads.
    """

    def __init__(self, covmats, n_jobs=1, cholesky=None):
        n_mat, n = covmats.shape[:2]
        size = _block_size(n)
        self._blocks = [slice(s, s + size) for s in range(0, n_mat, size)]
        n_jobs = min(effective_n_jobs(n_jobs), len(self._blocks))
        self._parts = [[self._blocks[b] for b in part] for part in
                       np.array_split(np.arange(len(self._blocks)), n_jobs)]
        self._n_jobs = n_jobs
        if cholesky is None:  # once, for every reference to come
            cholesky = np.empty_like(covmats)

            def factor(part):
                for sl in part:
                    cholesky[sl] = np.linalg.cholesky(covmats[sl])
            self._map(factor)
        self._n = n_mat
        self._L = cholesky
        self._V = np.empty_like(covmats)
        self._logw = np.empty((n_mat, n))
        self._hess = None

    def _map(self, func):
        if self._n_jobs == 1:
            return [func(part) for part in self._parts]
        with ThreadPoolExecutor(self._n_jobs) as pool:
            return list(pool.map(func, self._parts))

    def _decompose(self, part, Mmh):
        J = np.zeros(Mmh.shape)
        for sl in part:
            # Mmh C Mmh = B B.T with B = Mmh L: numpy's symmetric product
            # (syrk) does half the work of a second general product
            B = Mmh @ self._L[sl]
            A = B @ B.swapaxes(-1, -2)
            if not np.all(np.isfinite(A)):
                raise not_spd_error()
            w, V = np.linalg.eigh(A)
            if not np.all(w > 0):  # finite A and positive w: finite logs
                raise not_spd_error()
            logw = np.log(w)
            self._V[sl], self._logw[sl] = V, logw
            J += _log_reconstructions(V, logw).sum(axis=0)
        return J

    def at(self, Mmh):
        self._hess = None
        J = sum(self._map(lambda part: self._decompose(part, Mmh))) / self._n
        return (J + J.T) / 2

    def _tangent(self, part):
        # rebuilt from the kept eigendecompositions rather than stored at
        # every pass: only the last pass's log maps are features
        return [upper(_log_reconstructions(self._V[sl], self._logw[sl]))
                for sl in part]

    def tangent_vectors(self):
        return np.concatenate([t for part in self._map(self._tangent) for t in part])

    def _hessian_part(self, part, X):
        H = np.zeros(X.shape)
        for sl in part:
            V, Vt, K = self._hess[sl.start]
            Z = K * (Vt @ (X @ V))
            H += (V @ Z @ Vt).sum(axis=0)
        return H

    def _hessian_setup(self, part):
        # float32 copies and Daleckii-Krein weights, once per reference
        return {sl.start: (self._V[sl].astype(np.float32),
                           np.ascontiguousarray(self._V[sl].swapaxes(-1, -2),
                                                dtype=np.float32),
                           _log_kernel(self._logw[sl].astype(np.float32), np))
                for sl in part}

    def hessian(self, X):
        if self._hess is None:
            self._hess = {}
            for d in self._map(self._hessian_setup):
                self._hess.update(d)
        X = X.astype(np.float32)
        H = sum(self._map(lambda part: self._hessian_part(part, X))) / self._n
        return (H + H.T) / 2


class _TorchLogMaps:
    """:class:`_NumpyLogMaps` with the matrices on a torch device: each call is
    one batched ``torch.linalg.eigh`` (or matrix product) there."""

    def __init__(self, covmats, device):
        import torch

        self._torch = torch
        self._device = device
        self._C = torch.as_tensor(covmats, dtype=torch.float64, device=device)
        self._state = None

    def at(self, Mmh):
        torch = self._torch
        W = torch.as_tensor(Mmh, dtype=torch.float64, device=self._device)
        w, V = torch.linalg.eigh(W @ self._C @ W)
        if not bool(torch.all(w > 0)):
            raise not_spd_error()
        logw = torch.log(w)
        logs = (V * logw[..., None, :]) @ V.mT
        self._state = {"logs": logs, "V": V, "logw": logw}
        J = logs.mean(dim=0).cpu().numpy()
        return (J + J.T) / 2

    def tangent_vectors(self):
        return upper(self._state["logs"].cpu().numpy())

    def hessian(self, X):
        torch, s = self._torch, self._state
        if "K" not in s:
            s["V32"] = s["V"].to(torch.float32)
            s["K"] = _log_kernel(s["logw"].to(torch.float32), torch)
        X = torch.as_tensor(X, dtype=torch.float32, device=self._device)
        V = s["V32"]
        H = (V @ (s["K"] * (V.mT @ X @ V)) @ V.mT).to(torch.float64).mean(dim=0)
        H = H.cpu().numpy()
        return (H + H.T) / 2


def log_maps(covmats, backend="numpy", n_jobs=1, cholesky=None):
    """Log maps of ``covmats`` (shape (n_matrices, n, n)) at a moving reference.

    ``backend`` goes through :func:`brainpipe.kernels.resolve_backend`:
    ``"torch"`` keeps the matrices on torch's default device (CUDA when
    present) and batches every call there; the others use numpy/LAPACK in
    cache-sized blocks over ``n_jobs`` threads, from the lower Cholesky
    factors ``cholesky`` when given.
    """
    if resolve_backend(backend) == "torch":
        from ._torch import default_device

        return _TorchLogMaps(covmats, default_device())
    return _NumpyLogMaps(covmats, n_jobs, cholesky)
