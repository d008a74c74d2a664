"""Affine-invariant Riemannian mean by inexact Newton steps, with the log maps at it.

:func:`riemann_mean_logmaps` finds pyriemann's ``mean_riemann`` (the zero of
the mean log map ``J(M) = mean_i logm(M^-1/2 C_i M^-1/2)``) by Newton steps
solved by conjugate gradient instead of pyriemann's fixed-point iteration:
quadratic convergence, 3 eigendecompositions of every matrix where the fixed
point needs 7-30 on high-order ACM matrices, and the last iteration's log
maps are the matrices' tangent vectors. :func:`tangent_vectors_at` projects
other matrices (a test fold) at a mean. Starting points:
:func:`geometric_harmonic_start` (``A # H``, from a set's own matrices) and
:func:`mean_of_fold_means`. The eigendecompositions run in LAPACK blocks over
threads, or batched in torch (``backend="torch"``, on the GPU when present);
see :mod:`brainpipe.kernels._log_maps`.
"""

from __future__ import annotations

import numpy as np

from ._log_maps import expm, invsqrtm, log_maps, logm, not_spd_error, sqrtm

__all__ = [
    "geometric_harmonic_start",
    "mean_of_fold_means",
    "riemann_mean_logmaps",
    "spd_factors",
    "spd_inverses",
    "tangent_vectors_at",
]


def geometric_harmonic_start(covmats, inverses):
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


def spd_inverses(covmats):
    """Inverses of the matrices (for :func:`geometric_harmonic_start`), or None."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            inv = np.linalg.inv(covmats)
        except np.linalg.LinAlgError:
            return None
    return inv if np.all(np.isfinite(inv)) else None


def spd_factors(covmats):
    """Cholesky factors (or None: not SPD, reported where they are needed)
    and inverses of the matrices of one (order, lag), shared by its folds."""
    try:
        chol = np.linalg.cholesky(covmats)
    except np.linalg.LinAlgError:
        chol = None
    return chol, spd_inverses(covmats)


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
                         backend="auto", cholesky=None):
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
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        The kernels' switch (:func:`brainpipe.kernels.resolve_backend`):
        ``"torch"`` (what ``"auto"`` picks when a CUDA GPU is present) moves
        the matrices to torch's default device once and runs every
        eigendecomposition and Hessian product there in one batch (``n_jobs``
        is then ignored); the others use numpy/LAPACK.
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
            M, tangent, info = _karcher(covmats, init, tol, max_iter, n_jobs, backend,
                                        cholesky)
        except (ValueError, np.linalg.LinAlgError) as err:
            if "positive definite" in str(err) or "not positive" in str(err):
                raise not_spd_error() from None
            raise
    if not (np.all(np.isfinite(M)) and np.all(np.isfinite(tangent))):
        raise not_spd_error()
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


def _karcher(covmats, init, tol, max_iter, n_jobs=1, backend="auto", cholesky=None):
    """The Newton iteration of :func:`riemann_mean_logmaps`."""
    maps = log_maps(covmats, backend, n_jobs, cholesky)
    M = covmats.mean(axis=0) if init is None else np.asarray(init, dtype=np.float64)
    np.linalg.cholesky(M)  # the Euclidean mean of SPD matrices is SPD
    # the best iterate: its gradient norm, square root, the step taken from
    # it and (norm, CG residual) of that step for the forcing term
    best_crit, best_M, best_Mh, step, last_step = np.inf, None, None, None, None
    stalled = n_cg = n_iter = 0
    tangent = None
    for n_iter in range(1, max_iter + 1):
        Mh = sqrtm(M)
        J = maps.at(invsqrtm(M))
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
            tangent = maps.tangent_vectors()
            break
        step, n, rho = _conjugate_gradient(maps.hessian, J,
                                           _forcing(crit, last_step, tol))
        n_cg += n
        last_step = (crit, rho)
        M = Mh @ expm(step) @ Mh
    if tangent is None:  # stopped on a worse iterate: the best one's log maps
        maps.at(invsqrtm(best_M))
        tangent = maps.tangent_vectors()
        n_iter += 1
    return best_M, tangent, {"n_iter": n_iter, "n_cg": n_cg, "grad_norm": best_crit}


def tangent_vectors_at(covmats, mean, *, backend="auto", cholesky=None):
    """pyriemann's tangent vectors of ``covmats`` at ``mean``.

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
    mean : ndarray, shape (n, n)
        SPD reference point (e.g. :func:`riemann_mean_logmaps` of other matrices).
    backend : {"auto", "numpy", "numba", "torch"}
    cholesky : ndarray, shape (n_matrices, n, n), or None
        Lower Cholesky factors of ``covmats`` if already computed.

    Returns
    -------
    tangent : ndarray, shape (n_matrices, n * (n + 1) / 2)
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        maps = log_maps(covmats, backend, cholesky=cholesky)
        maps.at(invsqrtm(mean))
    return maps.tangent_vectors()


def mean_of_fold_means(means):
    """Start of the refit's mean: the log-Euclidean mean of the fold means
    around the first. Every matrix is in all training folds but one, so to
    first order the fold means' log coordinates average to the mean of all
    matrices' (their gradient sums vanish): one Newton step fewer than from
    a fold mean."""
    Mh, Mmh = sqrtm(means[0]), invsqrtm(means[0])
    return Mh @ expm(np.mean([logm(Mmh @ M @ Mmh) for M in means], axis=0)) @ Mh
