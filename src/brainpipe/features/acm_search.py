"""Hyper-parameter search of the ACM + tangent space + SVM pipeline, with shared work.

MOABB's ``AUG_TANG_SVM_grid`` runs ``GridSearchCV`` over
``AugmentedDataset(order, lag) -> Covariances("cov") -> TangentSpace("riemann")
-> SVC(C, kernel)``: every (order, lag, C, kernel) candidate and every fold
recomputes the embedding, the covariances, the Riemannian mean of the training
fold (the bulk of the time: tens of eigendecompositions of every training
matrix) and the tangent vectors. :class:`AugmentedCovarianceSearchCV` selects
the same candidate with far less work:

- the covariances of every order that shares a lag come from one set of
  lagged cross-product sums (:mod:`brainpipe.kernels.lagged_products`), once
  for all trials; order 1 (the epoch unchanged) is computed once for all lags;
- per (order, lag) and fold, the Riemannian mean of the *training* matrices is
  computed once, and the last iteration's matrix logarithms are the training
  tangent vectors; only the test matrices are projected on top;
- the (C, kernel) sub-grid reuses those features through precomputed Gram
  matrices (``SVC(kernel="precomputed")`` on the linear or RBF Gram of the
  same features gives the SVC that ``SVC(kernel=...)`` gives; ``gamma="scale"``
  is computed from the training features as SVC does);
- (order, fold) tasks run in parallel threads (``n_jobs``).

The Riemannian mean is pyriemann's ``mean_riemann`` (the zero of the mean
log map ``J(M) = mean_i logm(M^-1/2 C_i M^-1/2)``), found by inexact Newton
steps (:func:`riemann_mean_logmaps`) instead of pyriemann's fixed-point
iteration: quadratic convergence, 3 eigendecompositions of every training
matrix per fold where the fixed point needs 7-30 on high-order ACM matrices.
Each fold starts from the geometric mean of the arithmetic and harmonic means
of its training matrices (from those matrices only: nothing of the test fold
enters a reference). Each fold's mean in the search stops at a gradient norm
of ``search_tol=1e-4`` (pyriemann stops at 1e-8; the Newton step usually
lands near 1e-5): on BNCI2014_001-shaped order-8 matrices a gradient of
1e-4 moves the tangent vectors by a few 1e-6 relative and the SVC decision
values by ~1e-5, the size of the changes libsvm's own stopping rule makes
when the features move by 1e-9; the scores, ranks and selection are those of
``GridSearchCV`` (the tests and ``benchmarks/bench_acm_search.py`` check it;
set ``search_tol=1e-8`` for pyriemann's precision in every fold). The refit's
mean, the one the returned pipeline keeps, converges to ``tol=1e-8`` as
pyriemann's, from the mean of the fold means. On nearly singular matrices
(high order, lag 1, band-passed data: condition numbers above ~1e12) neither
mean is defined beyond rounding noise; the iteration then stops when the
gradient stops decreasing, where pyriemann runs its 50 iterations and warns.

The eigendecompositions are LAPACK's, on blocks of matrices small enough to
stay in cache (so that threads do not wait on memory), with the congruences
``M^-1/2 C_i M^-1/2`` and log reconstructions as symmetric products; what
remains is about half LAPACK ``eigh`` time, the floor on a CPU. With
``backend="torch"`` (what ``"auto"`` picks when a CUDA GPU is present) they
run batched on the GPU.
"""

from __future__ import annotations

import itertools
import numbers
import time

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from pyriemann.geometry.base import expm, invsqrtm, logm, sqrtm
from pyriemann.geometry.tangentspace import upper
from pyriemann.tangentspace import TangentSpace
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from brainpipe._check import check_option, check_positive_int

from .gram_svc import svc_kernel_from_gram as _svc_gram
from brainpipe.features._epochs import check_epochs, epochs_tags
from brainpipe.features.acm import AugmentedCovariances
from brainpipe.features.embedding import estimate_embedding
from brainpipe.kernels import BACKENDS, ESTIMATORS, epoch_covariances
from brainpipe.kernels._backend import cuda_available, resolve_backend
from brainpipe.kernels.lagged_products import (
    LAGGED_ESTIMATORS,
    assemble_covariances,
    lagged_products,
)

__all__ = ["AugmentedCovarianceSearchCV", "moabb_param_grid", "riemann_mean_logmaps"]

KERNELS = ("linear", "rbf", "poly", "sigmoid")

# pyriemann's Pipeline step names in MOABB's AUG_TANG_SVM_grid; GridSearchCV
# orders candidates by the sorted parameter names: lag, order, C, kernel.
_GRID_NAMES = {"lag": "augmenteddataset__lag", "order": "augmenteddataset__order",
               "C": "svc__C", "kernel": "svc__kernel"}


def moabb_param_grid(orders=range(1, 11), lags=range(1, 11), Cs=(0.5, 1, 1.5),
                     kernels=("rbf", "linear")):
    """The ``param_grid`` of MOABB's ``AUG_TANG_SVM_grid`` for these values.

    For ``GridSearchCV(make_pipeline(AugmentedDataset(), Covariances("cov"),
    TangentSpace(metric="riemann"), SVC()), moabb_param_grid(...))``, the
    baseline :class:`AugmentedCovarianceSearchCV` reproduces.

    Returns
    -------
    param_grid : dict of str to list
    """
    return {_GRID_NAMES["order"]: list(orders), _GRID_NAMES["lag"]: list(lags),
            _GRID_NAMES["C"]: list(Cs), _GRID_NAMES["kernel"]: list(kernels)}


# ---------------------------------------------------------------------------
# Riemannian mean that hands back the training tangent vectors


def _geometric_harmonic_start(covmats, inverses):
    """``A # H``: the geometric mean of the arithmetic and harmonic means.

    The Riemannian mean lies between ``H`` and ``A`` (Loewner order), and
    ``A # H`` is the Riemannian mean when the matrices are two; as a start
    it saves about one iteration on high-order ACM matrices. Falls back to
    ``A`` (pyriemann's start) when the inverses are not usable.
    """
    A = covmats.mean(axis=0)
    if inverses is None:
        return A
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            H = np.linalg.inv(inverses.mean(axis=0))
            np.linalg.cholesky(H)
            Ah, Amh = sqrtm(A), invsqrtm(A)
            start = Ah @ sqrtm(Amh @ H @ Amh) @ Ah
            np.linalg.cholesky(start)
        except np.linalg.LinAlgError:
            return A
    return start if np.all(np.isfinite(start)) else A


def _inverses(covmats):
    """Inverses of the matrices (for :func:`_geometric_harmonic_start`), or None."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            inv = np.linalg.inv(covmats)
        except np.linalg.LinAlgError:
            return None
    return inv if np.all(np.isfinite(inv)) else None


def _factors(covmats):
    """Cholesky factors (or None: not SPD, reported where they are needed)
    and inverses of the matrices of one (order, lag), shared by its folds."""
    try:
        chol = np.linalg.cholesky(covmats)
    except np.linalg.LinAlgError:
        chol = None
    return chol, _inverses(covmats)


def _not_spd_error():
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
        self._pool = Parallel(n_jobs=n_jobs, prefer="threads") if n_jobs > 1 else None
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
        if self._pool is None:
            return [func(part) for part in self._parts]
        return self._pool(delayed(func)(part) for part in self._parts)

    def _decompose(self, part, Mmh):
        J = np.zeros(Mmh.shape)
        for sl in part:
            # Mmh C Mmh = B B.T with B = Mmh L: numpy's symmetric product
            # (syrk) does half the work of a second general product
            B = Mmh @ self._L[sl]
            A = B @ B.swapaxes(-1, -2)
            if not np.all(np.isfinite(A)):
                raise _not_spd_error()
            w, V = np.linalg.eigh(A)
            if not np.all(w > 0):  # finite A and positive w: finite logs
                raise _not_spd_error()
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
            raise _not_spd_error()
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


def _log_maps(covmats, n_jobs=1, device=None, cholesky=None):
    if device is not None:
        return _TorchLogMaps(covmats, device)
    return _NumpyLogMaps(covmats, n_jobs, cholesky)


def _conjugate_gradient(hessian, b, rtol, max_iter=50):
    """Solve ``hessian(x) = b`` (symmetric positive definite) to ``rtol``.

    Returns ``x``, the Hessian products used and the relative residual reached.
    """
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = rr0 = float(np.sum(r * r))
    for n_iter in range(1, max_iter + 1):
        Hp = hessian(p)
        curvature = float(np.sum(p * Hp))
        if not curvature > 0:  # rounding: keep what we have
            break
        alpha = rr / curvature
        x += alpha * p
        r -= alpha * Hp
        rr_new = float(np.sum(r * r))
        if rr_new <= rtol**2 * rr0:
            return x, n_iter, np.sqrt(rr_new / rr0)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, n_iter, np.sqrt(rr / rr0)


def riemann_mean_logmaps(covmats, *, init=None, tol=1e-9, max_iter=50, n_jobs=1,
                         device=None, cholesky=None):
    """Affine-invariant Riemannian mean, with the log maps of the matrices at it.

    The mean pyriemann's ``mean_riemann`` computes (the zero of the mean log
    map ``J(M) = mean_i logm(M^-1/2 C_i M^-1/2)``), found by inexact Newton
    steps instead of pyriemann's fixed-point iteration
    ``M <- M^1/2 expm(J) M^1/2``: the step ``X`` of
    ``M <- M^1/2 expm(X) M^1/2`` solves ``H(X) = J`` by conjugate gradient,
    ``H`` the derivative of ``J`` along that curve (Daleckii-Krein formula on
    the eigendecompositions the log maps already computed; see
    :func:`_log_kernel`). Convergence is quadratic: on high-order ACM
    matrices (condition numbers ~1e6-1e8) 3 eigendecompositions of the set
    reach a gradient norm of 1e-5, where the fixed point needs 7-30 and
    Anderson mixing 5-8. The Hessian products run in float32 (they only
    steer the step; the gradient and the log maps are float64). A step that
    does not lower the gradient norm is halved from the best iterate.

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
        SPD matrices.
    init : ndarray, shape (n, n), or None
        Starting point (``None``: the Euclidean mean, as pyriemann). The
        result does not depend on it beyond ``tol``.
    tol : float, default=1e-9
        Stop when the Frobenius norm of ``J`` (the Riemannian gradient,
        pyriemann's criterion, which stops at 1e-8) is below ``tol``.
    max_iter : int, default=50
        Most eigendecompositions of the set; the iteration also stops when
        the gradient norm has not halved twice in a row (the rounding-noise
        floor of nearly singular matrices).
    n_jobs : int, default=1
        Threads over chunks of matrices (``-1``: all cores; run with one
        BLAS thread).
    device : str or None, default=None
        A torch device (``"cuda"``): the matrices are moved there once and
        every eigendecomposition and Hessian product runs there in one batch
        (``n_jobs`` is then ignored). ``None``: numpy/LAPACK.
    cholesky : ndarray, shape (n_matrices, n, n), or None
        Lower Cholesky factors of ``covmats`` if already computed (numpy
        path): every log map starts from ``M^-1/2 L_i``.

    Returns
    -------
    mean : ndarray, shape (n, n)
        The mean (the iterate with the smallest gradient norm).
    tangent : ndarray, shape (n_matrices, n * (n + 1) / 2)
        ``upper(logm(mean^-1/2 C_i mean^-1/2))``: pyriemann's tangent vectors
        of ``covmats`` at ``mean``.
    info : dict
        ``n_iter`` (eigendecompositions of the set), ``n_cg`` (Hessian
        products) and ``grad_norm``.
    """
    covmats = np.asarray(covmats, dtype=np.float64)
    # singular matrices show up as NaN somewhere in the square roots and logs:
    # report them once, with advice, instead of numpy warnings
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            M, tangent, info = _karcher(covmats, init, tol, max_iter, n_jobs, device,
                                        cholesky)
        except (ValueError, np.linalg.LinAlgError) as err:
            if "positive definite" in str(err) or "not positive" in str(err):
                raise _not_spd_error() from None
            raise
    if not (np.all(np.isfinite(M)) and np.all(np.isfinite(tangent))):
        raise _not_spd_error()
    return M, tangent, info


def _forcing(crit, previous, tol):
    """Relative CG tolerance of a Newton step (Eisenstat-Walker style).

    After a step from gradient norm ``g0`` solved to relative residual
    ``rho``, the new norm is about ``rho * g0 + c * g0**2``; with ``c``
    measured so, the next step's CG stops where its error matches the
    quadratic part ``c * crit**2`` (or half of ``tol``, if that is larger):
    solving further is wasted. ``previous`` is ``(g0, rho)`` or None.
    """
    if previous is None:
        eta = 0.02  # ~2 products; the first step is mostly quadratic error
    else:
        g0, rho = previous
        c = max(crit - rho * g0, 0.1 * crit) / g0**2
        eta = max(c * crit * crit, 0.5 * tol) / crit
    return min(0.1, max(eta, 1e-5))  # 1e-5: float32 Hessian products


def _karcher(covmats, init, tol, max_iter, n_jobs=1, device=None, cholesky=None):
    """The Newton iteration of :func:`riemann_mean_logmaps`."""
    log_maps = _log_maps(covmats, n_jobs, device, cholesky)
    M = covmats.mean(axis=0) if init is None else np.asarray(init, dtype=np.float64)
    np.linalg.cholesky(M)  # the Euclidean mean of SPD matrices is SPD
    # the best iterate: its gradient norm, square root, the step taken from
    # it and (norm, CG residual) of that step for the forcing term
    best_crit, best_M, best_Mh, step, last_step = np.inf, None, None, None, None
    stalled = n_cg = n_iter = 0
    tangent = None
    for n_iter in range(1, max_iter + 1):
        Mh = sqrtm(M)
        J = log_maps.at(invsqrtm(M))
        crit = float(np.linalg.norm(J))
        if not crit < best_crit:
            # the step overshot (far from the mean, or at the noise floor):
            # halve it from the best iterate
            stalled += 1
            if stalled >= 2:
                break
            step, last_step = step / 2, None
            M = best_Mh @ expm(step) @ best_Mh
            continue
        stalled = stalled + 1 if crit > 0.5 * best_crit else 0
        best_crit, best_M, best_Mh = crit, M, Mh
        if crit <= tol or stalled >= 2 or n_iter == max_iter:
            tangent = log_maps.tangent_vectors()
            break
        step, n, rho = _conjugate_gradient(log_maps.hessian, J,
                                           _forcing(crit, last_step, tol))
        n_cg += n
        last_step = (crit, rho)
        M = Mh @ expm(step) @ Mh
    if tangent is None:  # stopped on a worse iterate: the best one's log maps
        log_maps.at(invsqrtm(best_M))
        tangent = log_maps.tangent_vectors()
        n_iter += 1
    return best_M, tangent, {"n_iter": n_iter, "n_cg": n_cg, "grad_norm": best_crit}


# ---------------------------------------------------------------------------
# SVC on a shared Gram matrix


def _svc_extra(probability, random_state):
    """SVC keyword arguments: ``probability`` only when asked (scikit-learn
    1.9 warns as soon as it is passed, True or False)."""
    if not probability:
        return {}
    return {"probability": True, "random_state": random_state}


def _score_settings(feats, y, train, test, settings, scorer, probability,
                    random_state, return_train_score):
    """Fit and score every (C, kernel) on one fold's features.

    Returns lists (one entry per setting) of test scores, train scores, fit
    times and score times.
    """
    t0 = time.perf_counter()
    gram_rows = feats @ feats[train].T  # (n_trials, n_train)
    sq = np.einsum("ij,ij->i", feats, feats)
    # SVC's gamma="scale": 1 / (n_features * X.var()) of the training features
    var = feats[train].var()
    gamma = 1.0 / (feats.shape[1] * var) if var != 0 else 1.0
    shared = time.perf_counter() - t0
    kernels = {}
    out = {"test": [], "train": [], "fit_time": [], "score_time": []}
    for C, kernel in settings:
        t0 = time.perf_counter()
        if kernel not in kernels:  # shared by every C
            kernels[kernel] = _svc_gram(gram_rows, sq, sq[train], kernel, gamma)
        K = kernels[kernel]
        svc = SVC(C=C, kernel="precomputed", **_svc_extra(probability, random_state))
        svc.fit(K[train], y[train])
        t1 = time.perf_counter()
        out["test"].append(scorer(svc, K[test], y[test]))
        if return_train_score:
            out["train"].append(scorer(svc, K[train], y[train]))
        t2 = time.perf_counter()
        out["fit_time"].append(t1 - t0 + shared / len(settings))
        out["score_time"].append(t2 - t1)
    return out


def _evaluate_fold(covmats, factors, y, train, test, settings, scorer, tol,
                   probability, random_state, return_train_score, device=None):
    """Reference mean of the training fold, tangent vectors, SVC sub-grid.

    ``factors`` are :func:`_factors` of ``covmats``. Returns the per-setting
    scores and times, ``n_iter`` and the fold's ``mean``.
    """
    t0 = time.perf_counter()
    chol, inverses = factors
    # reference fitted on the training matrices only, started from the
    # training matrices only: no test information
    start = _geometric_harmonic_start(
        covmats[train], None if inverses is None else inverses[train])
    M, train_feats, info = riemann_mean_logmaps(
        covmats[train], init=start, tol=tol, device=device,
        cholesky=None if chol is None else chol[train])
    feats = np.empty((len(y), train_feats.shape[1]))
    feats[train] = train_feats
    with np.errstate(invalid="ignore", divide="ignore"):
        test_maps = _log_maps(covmats[test], device=device,
                              cholesky=None if chol is None else chol[test])
        test_maps.at(invsqrtm(M))
    feats[test] = test_maps.tangent_vectors()
    feature_time = time.perf_counter() - t0
    out = _score_settings(feats, y, train, test, settings, scorer, probability,
                          random_state, return_train_score)
    out["fit_time"] = [t + feature_time / len(settings) for t in out["fit_time"]]
    out["n_iter"] = info["n_iter"]
    out["mean"] = M
    return out


def _mean_of_fold_means(means):
    """Start of the refit's mean: the log-Euclidean mean of the fold means
    around the first. Every matrix is in all training folds but one, so to
    first order the fold means' log coordinates average to the mean of all
    matrices' (their gradient sums vanish): one Newton step fewer than from
    a fold mean."""
    Mh, Mmh = sqrtm(means[0]), invsqrtm(means[0])
    return Mh @ expm(np.mean([logm(Mmh @ M @ Mmh) for M in means], axis=0)) @ Mh


# ---------------------------------------------------------------------------


def _as_values(values, name, check):
    try:
        values = list(values)
    except TypeError:
        values = [values]
    if not values:
        raise ValueError(f"{name} must not be empty.")
    return [check(v) for v in values]


def _positive_float(value, name="C"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} values must be positive numbers, got {value!r}.")
    return value


class AugmentedCovarianceSearchCV(ClassifierMixin, BaseEstimator):
    """ACM order/lag and SVC hyper-parameter search with shared work.

    Selects (order, lag, C, kernel) for ``AugmentedDataset(order, lag) ->
    Covariances(estimator) -> TangentSpace("riemann") -> SVC(C, kernel)``
    exactly as ``GridSearchCV`` over that pipeline with
    :func:`moabb_param_grid` would (same folds, scores, ranks and first-best
    tie-breaking), at a fraction of the cost (see the module notes), then
    refits the best pipeline on all the data. ``mode="embedding"`` instead
    takes order and lag from the embedding criteria
    (:func:`~brainpipe.features.embedding.estimate_embedding`: first minimum
    of the auto mutual information, Cao's false nearest neighbours) and
    searches only ``Cs x kernels``, so its cross-validated score can be put
    next to the grid's.

    Parameters
    ----------
    orders : iterable of int, default=range(1, 11)
        Orders (delayed copies) searched; ``max(orders)`` also bounds the
        embedding estimate.
    lags : iterable of int, default=range(1, 11)
        Lags in samples.
    Cs : iterable of float, default=(0.5, 1, 1.5)
        SVC regularisation values.
    kernels : iterable of {"rbf", "linear", "poly", "sigmoid"}, default=("rbf", "linear")
        SVC kernels (SVC defaults otherwise: ``gamma="scale"``, ``degree=3``,
        ``coef0=0``).
    cv : int or cross-validation generator, default=5
        As ``GridSearchCV``: an int is ``StratifiedKFold(cv)`` (shuffled with
        ``random_state`` when that is set, as MOABB's inner CV does).
    estimator : str, default="cov"
        Covariance estimator, pyriemann's names; ``"cov"`` (MOABB's) and
        ``"scm"`` use the shared lagged sums, others (``"oas"``, ``"lwf"``)
        are computed per (order, lag) by
        :func:`brainpipe.kernels.epoch_covariances`.
    mode : {"grid", "embedding"}, default="grid"
        Full grid over ``orders x lags``, or (order, lag) from the embedding
        criteria.
    scoring : str, callable or None, default=None
        A scikit-learn scorer (``None``: accuracy, as the pipeline's
        ``score``). Scorers are called with the fold's SVC and its
        precomputed test kernel, so any scorer that uses ``predict``,
        ``decision_function`` (or ``predict_proba`` with
        ``probability=True``) works.
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        Backend of the covariance kernels; with ``"torch"`` (what ``"auto"``
        picks when a CUDA GPU is present) the Riemannian means'
        eigendecompositions also run batched in torch, on the GPU.
    n_jobs : int, default=1
        Threads over (order, fold) tasks, then over the matrices of the
        refit's mean (``-1``: all cores).
    random_state : int or None, default=None
        Shuffles the folds of an int ``cv``; seeds SVC's probability
        calibration.
    probability : bool, default=False
        Fit SVCs with probability estimates (``predict_proba``).
    return_train_score : bool, default=False
        Also score the training folds.
    search_tol : float, default=1e-4
        Gradient-norm tolerance of each fold's Riemannian mean in the search
        (see the module notes: below what changes a score; ``1e-8`` for
        pyriemann's own tolerance, at about twice the time).
    tol : float, default=1e-8
        Gradient-norm tolerance of the refit's Riemannian mean (pyriemann's).
    embedding_params : dict or None, default=None
        Extra keyword arguments of ``estimate_embedding`` in
        ``mode="embedding"`` (e.g. ``{"n_ref": 250}``).
    verbose : int, default=0
        Print one line per (order, lag) when > 0.

    Attributes
    ----------
    cv_results_ : dict of str to ndarray
        As ``GridSearchCV``'s (``pandas.DataFrame(cv_results_)`` works):
        ``params`` (dicts with keys ``order``, ``lag``, ``C``, ``kernel``),
        ``param_<name>``, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, the train scores with
        ``return_train_score``, ``mean_fit_time`` etc. (the shared feature
        time of a fold split evenly over its SVC settings) and
        ``n_iter_mean`` (Riemannian-mean iterations, per fold, averaged).
        Candidates are in ``GridSearchCV``'s order for
        :func:`moabb_param_grid`: lag, then order, then C, then kernel.
    best_index_ : int
    best_params_ : dict
        ``{"order", "lag", "C", "kernel"}`` of the first best mean test score.
    best_score_ : float
    best_order_, best_lag_ : int
    best_estimator_ : sklearn.pipeline.Pipeline
        ``AugmentedCovariances -> TangentSpace -> SVC`` refitted on all data.
    embedding_order_, embedding_lag_ : int
        The embedding estimate (``mode="embedding"`` only).
    classes_ : ndarray
    n_splits_ : int
    refit_time_, search_time_ : float
        Seconds.

    Examples
    --------
    >>> search = AugmentedCovarianceSearchCV(orders=[1, 2, 4], lags=[1, 2])
    >>> search.fit(X, y).best_params_  # doctest: +SKIP
    {'order': 4, 'lag': 2, 'C': 1, 'kernel': 'linear'}
    """

    def __init__(self, orders=range(1, 11), lags=range(1, 11), Cs=(0.5, 1, 1.5),
                 kernels=("rbf", "linear"), cv=5, estimator="cov", mode="grid",
                 scoring=None, backend="auto", n_jobs=1, random_state=None,
                 probability=False, return_train_score=False, search_tol=1e-4,
                 tol=1e-8, embedding_params=None, verbose=0):
        self.orders = orders
        self.lags = lags
        self.Cs = Cs
        self.kernels = kernels
        self.cv = cv
        self.estimator = estimator
        self.mode = mode
        self.scoring = scoring
        self.backend = backend
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.probability = probability
        self.return_train_score = return_train_score
        self.search_tol = search_tol
        self.tol = tol
        self.embedding_params = embedding_params
        self.verbose = verbose

    # -- parameters ---------------------------------------------------------

    def _check_params(self):
        orders = _as_values(self.orders, "orders",
                            lambda v: check_positive_int(v, "orders"))
        lags = _as_values(self.lags, "lags", lambda v: check_positive_int(v, "lags"))
        Cs = _as_values(self.Cs, "Cs", _positive_float)
        kernels = _as_values(self.kernels, "kernels",
                             lambda v: check_option("kernels", v, KERNELS))
        check_option("estimator", self.estimator, ESTIMATORS)
        check_option("mode", self.mode, ("grid", "embedding"))
        check_option("backend", self.backend, BACKENDS)
        for name in ("search_tol", "tol"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        return orders, lags, Cs, kernels

    def _mean_device(self):
        """Torch device of the Riemannian means: CUDA (or CPU when
        ``backend="torch"`` is asked without a GPU) for the torch backend,
        else None (numpy/LAPACK)."""
        if resolve_backend(self.backend) != "torch":
            return None
        return "cuda" if cuda_available() else "cpu"

    def _splits(self, X, y):
        cv = self.cv
        if isinstance(cv, numbers.Integral) and self.random_state is not None:
            cv = StratifiedKFold(cv, shuffle=True, random_state=self.random_state)
        cv = check_cv(cv, y, classifier=True)
        return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y)]

    # -- covariances ----------------------------------------------------------

    def _covariances(self, X, orders, lag, parallel=None):
        """``{order: covmats}`` for one lag (order 1 included if asked); the
        orders of the shared lagged sums are assembled in ``parallel`` (a
        joblib ``Parallel``) if given."""
        if self.estimator in LAGGED_ESTIMATORS:
            products = lagged_products(X, lag, max(orders), backend=self.backend)
            covs = (parallel or Parallel(n_jobs=1))(
                delayed(assemble_covariances)(products, p, self.estimator)
                for p in orders)
            return dict(zip(orders, covs))
        # one at a time: the kernels may be parallel themselves (Numba's
        # default threading layer must not be entered from two threads)
        return {p: epoch_covariances(X, order=p, lag=lag, estimator=self.estimator,
                                     backend=self.backend) for p in orders}

    # -- fit ------------------------------------------------------------------

    def fit(self, X, y):
        """Search the grid by cross-validation, then refit the best pipeline.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Epochs.
        y : array-like, shape (n_trials,)
            Labels.

        Returns
        -------
        self : AugmentedCovarianceSearchCV
        """
        t_start = time.perf_counter()
        orders, lags, Cs, kernels = self._check_params()
        X = check_epochs(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y must have shape ({X.shape[0]},) to match X, got {y.shape}."
            )
        if self.mode == "embedding":
            order, lag = estimate_embedding(X, max_order=max(orders),
                                            max_lag=max(lags), n_jobs=self.n_jobs,
                                            **dict(self.embedding_params or {}))
            self.embedding_order_, self.embedding_lag_ = int(order), int(lag)
            orders, lags = [self.embedding_order_], [self.embedding_lag_]
        for lag in lags:
            if max(orders) > 1 and X.shape[-1] - max(orders) * lag < 2:
                raise ValueError(
                    f"Epochs of {X.shape[-1]} samples are too short for "
                    f"order={max(orders)}, lag={lag}: the embedding keeps "
                    "n_times - order*lag samples, at least 2 are needed."
                )
        splits = self._splits(X, y)
        scorer = check_scoring(SVC(), scoring=self.scoring)
        settings = list(itertools.product(Cs, kernels))
        n_jobs = effective_n_jobs(self.n_jobs)

        device = self._mean_device()
        # (order, lag) -> per-fold outputs; order 1 ignores the lag
        results, refit_starts = {}, {}
        # one BLAS thread: the eigendecompositions of 10-200 channel matrices
        # run faster single-threaded, and the tasks are the parallel unit
        with threadpool_limits(limits=1), Parallel(n_jobs=n_jobs,
                                                   prefer="threads") as parallel:
            for lag in dict.fromkeys(lags):
                todo = [p for p in dict.fromkeys(orders)
                        if (p, lag if p > 1 else None) not in results]
                if not todo:
                    continue
                covs = self._covariances(X, todo, lag, parallel)
                # Cholesky factors and inverses (the folds' starting points),
                # once per order
                factors = dict(zip(todo, parallel(
                    delayed(_factors)(covs[p]) for p in todo)))
                tasks = [(p, k) for p in sorted(todo, reverse=True)
                         for k in range(len(splits))]
                outs = parallel(
                    delayed(_evaluate_fold)(
                        covs[p], factors[p], y, splits[k][0], splits[k][1],
                        settings, scorer, self.search_tol, self.probability,
                        self.random_state, self.return_train_score, device)
                    for p, k in tasks)
                for p in todo:
                    key = (p, lag if p > 1 else None)
                    folds = [o for (q, _), o in zip(tasks, outs) if q == p]
                    results[key] = folds
                    refit_starts[key] = _mean_of_fold_means(
                        [f.pop("mean") for f in folds])
                    if self.verbose:
                        best = max(np.mean([f["test"][s] for f in folds])
                                   for s in range(len(settings)))
                        print(f"[AugmentedCovarianceSearchCV] order={p} lag={lag}: "
                              f"best mean score {best:.4f}")
                del covs, factors

        self._format_results(results, orders, lags, settings, len(splits))
        self.n_splits_ = len(splits)
        self.search_time_ = time.perf_counter() - t_start
        t_refit = time.perf_counter()
        best = (self.best_order_, self.best_lag_ if self.best_order_ > 1 else None)
        with threadpool_limits(limits=1):
            self._refit(X, y, init=refit_starts[best])
        self.refit_time_ = time.perf_counter() - t_refit
        return self

    def _format_results(self, results, orders, lags, settings, n_splits):
        params, test, train, fit_t, score_t, n_iter = [], [], [], [], [], []
        # GridSearchCV's candidate order for moabb_param_grid (sorted names)
        for lag, order in itertools.product(lags, orders):
            folds = results[(order, lag if order > 1 else None)]
            for s, (C, kernel) in enumerate(settings):
                params.append({"order": order, "lag": lag, "C": C, "kernel": kernel})
                test.append([f["test"][s] for f in folds])
                if self.return_train_score:
                    train.append([f["train"][s] for f in folds])
                fit_t.append([f["fit_time"][s] for f in folds])
                score_t.append([f["score_time"][s] for f in folds])
                n_iter.append(np.mean([f["n_iter"] for f in folds]))
        res = {}

        def store(key, array, rank=False, splits=False):
            array = np.asarray(array, dtype=np.float64).reshape(len(params), n_splits)
            if splits:
                for k in range(n_splits):
                    res[f"split{k}_{key}"] = array[:, k]
            means = np.average(array, axis=1)
            res[f"mean_{key}"] = means
            res[f"std_{key}"] = np.sqrt(np.average((array - means[:, None]) ** 2,
                                                   axis=1))
            if rank:  # GridSearchCV: NaN ties with the worst, "min" ranks
                if np.isnan(means).all():
                    ranks = np.ones_like(means, dtype=np.int32)
                else:
                    means = np.nan_to_num(means, nan=np.nanmin(means) - 1)
                    ranks = rankdata(-means, method="min").astype(np.int32)
                res[f"rank_{key}"] = ranks

        store("fit_time", fit_t)
        store("score_time", score_t)
        for name in ("order", "lag", "C", "kernel"):
            res[f"param_{name}"] = np.array([p[name] for p in params], dtype=object)
        res["params"] = params
        store("test_score", test, rank=True, splits=True)
        if self.return_train_score:
            store("train_score", train, splits=True)
        res["n_iter_mean"] = np.asarray(n_iter)
        self.cv_results_ = res
        self.best_index_ = int(res["rank_test_score"].argmin())
        self.best_params_ = dict(params[self.best_index_])
        self.best_score_ = float(res["mean_test_score"][self.best_index_])
        self.best_order_ = self.best_params_["order"]
        self.best_lag_ = self.best_params_["lag"]

    def _refit(self, X, y, init=None):
        p = self.best_params_
        covmats = self._covariances(X, [p["order"]], p["lag"])[p["order"]]
        M, feats, _ = riemann_mean_logmaps(covmats, init=init, tol=self.tol,
                                           n_jobs=self.n_jobs,
                                           device=self._mean_device())
        acm = AugmentedCovariances(order=p["order"], lag=p["lag"],
                                   estimator=self.estimator,
                                   backend=self.backend).fit(X, y)
        ts = TangentSpace(metric="riemann")
        ts.reference_ = M  # the fitted attribute TangentSpace.fit would set
        svc = SVC(C=p["C"], kernel=p["kernel"],
                  **_svc_extra(self.probability, self.random_state)).fit(feats, y)
        self.best_estimator_ = Pipeline([("augmentedcovariances", acm),
                                         ("tangentspace", ts), ("svc", svc)])
        self.classes_ = svc.classes_

    # -- prediction -------------------------------------------------------------

    def predict(self, X):
        """Labels of epochs ``X``, shape (n_trials, n_channels, n_times)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def decision_function(self, X):
        """SVC decision values of epochs ``X``, shape (n_trials,) or (n_trials, n_classes)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    def _has_proba(self):
        return bool(self.probability)

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (``probability=True``), shape (n_trials, n_classes)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y):
        """Score of the refitted pipeline with ``scoring`` (default accuracy)."""
        check_is_fitted(self, "best_estimator_")
        return check_scoring(self.best_estimator_, scoring=self.scoring)(
            self.best_estimator_, X, y)

    def __sklearn_tags__(self):
        return epochs_tags(super().__sklearn_tags__())
