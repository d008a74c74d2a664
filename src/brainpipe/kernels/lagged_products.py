"""Lagged cross-product sums: the work shared by every (order, lag) ACM candidate.

MOABB's ``AugmentedDataset(order=p, lag=tau)`` stacks ``p`` delayed copies of
an epoch ``x`` (``n_channels x n_times``, ``T = n_times``): copy ``i`` is
``x[:, i*tau : T - (p-i)*tau]`` (``L = T - p*tau`` samples each; order 1 keeps
``x`` unchanged, ``L = T``). Block ``(i, j)`` of the centred covariance of the
stacked signal is therefore built from two kinds of sums:

- lagged products ``sum_a x[:, a] x[:, a + (j-i)*tau]^T`` over the samples
  ``a`` in ``[i*tau, T - (p-i)*tau)`` that copy ``i`` keeps,
- per-copy sums ``u_i = sum_a x[:, a]`` over the same samples (centring).

Both are a full sum minus a *head* (the first ``i*tau`` terms) minus a *tail*
(the last ``(p-j)*tau`` terms). So one pass per lag ``d*tau``
(``d = 0 .. P-1``) that records the full sum and its heads and tails at
multiples of ``tau`` serves every order ``p <= P`` of that lag: the grid
search over (order, lag) then costs ``P`` lagged products per lag instead of
``p^2`` blocks per candidate, and :func:`assemble_covariances` turns the sums
into each candidate's matrices in ``O(p^2 C^2)`` per trial.

The epochs are centred per trial and channel before the products (the
centred covariance does not change when a constant is subtracted from a
channel, and the same constant shifts every copy): it keeps
``sum xy - L * mean_x * mean_y`` free of cancellation when the data carry
an offset.

Backends: ``"numpy"`` is the plain reference (one matrix product per sum,
straight from the definition); ``"numba"`` makes one pass over the samples
per lag and trial (parallel over trials); ``"torch"`` uses batched matrix
products of ``tau``-sample chunks and cumulative sums (CUDA when available).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainpipe._check import check_option, check_positive_int
from brainpipe.kernels._backend import resolve_backend
from brainpipe.kernels.windows import effective_length

__all__ = [
    "LaggedProducts",
    "lagged_products",
    "assemble_covariances",
    "lagged_augmented_covariances",
    "LAGGED_ESTIMATORS",
]

#: Estimators that are plain functions of the centred sums (pyriemann's names).
LAGGED_ESTIMATORS = ("cov", "scm")


@dataclass(frozen=True)
class LaggedProducts:
    """Lagged cross-product sums of centred epochs for one lag.

    ``tau = lag``, ``P = max_order``, ``T = n_times``, ``C = n_channels``;
    ``x`` below is the epoch minus its per-channel mean (``offset``).

    Attributes
    ----------
    lag : int
        Lag ``tau`` in samples.
    max_order : int
        Largest order ``P`` the sums serve.
    n_times : int
        Samples per epoch ``T``.
    full : ndarray, shape (n_trials, P, C, C)
        ``full[:, d] = sum_{a=0}^{T-1-d*tau} x[:, a] x[:, a + d*tau]^T``.
    head : ndarray, shape (n_trials, P, P, C, C)
        ``head[:, d, m]``: the same sum over its first ``m*tau`` terms.
    tail : ndarray, shape (n_trials, P, P + 1, C, C)
        ``tail[:, d, m]``: the same sum over its last ``m*tau`` terms.
    total : ndarray, shape (n_trials, C)
        ``sum_a x[:, a]`` (zero up to rounding, since ``x`` is centred).
    head_sum : ndarray, shape (n_trials, P + 1, C)
        ``head_sum[:, m] = sum_{a < m*tau} x[:, a]``.
    tail_sum : ndarray, shape (n_trials, P + 1, C)
        ``tail_sum[:, m]``: sum of the last ``m*tau`` samples.
    offset : ndarray, shape (n_trials, C)
        Per-trial channel means removed before the products.
    """

    lag: int
    max_order: int
    n_times: int
    full: np.ndarray
    head: np.ndarray
    tail: np.ndarray
    total: np.ndarray
    head_sum: np.ndarray
    tail_sum: np.ndarray
    offset: np.ndarray

    @property
    def n_channels(self):
        return self.full.shape[-1]


def _check_epochs(X):
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"X must be epochs of shape (n_trials, n_channels, n_times), got {X.shape}."
        )
    if np.iscomplexobj(X):
        raise TypeError("X must be real-valued.")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values.")
    return X


def _check_span(n_times, max_order, lag):
    """Every order up to ``max_order`` must keep at least 2 samples."""
    if max_order > 1:
        effective_length(n_times, max_order, lag, what="n_times")


def _single_sums(x, lag, P):
    """``total``, ``head_sum`` and ``tail_sum`` of centred epochs (any backend)."""
    T = x.shape[-1]
    total = x.sum(-1)
    head_sum = np.zeros(x.shape[:1] + (P + 1,) + x.shape[1:2])
    tail_sum = np.zeros_like(head_sum)
    for m in range(1, P + 1):
        w = min(m * lag, T)
        head_sum[:, m] = x[..., :w].sum(-1)
        tail_sum[:, m] = x[..., T - w:].sum(-1)
    return total, head_sum, tail_sum


# --------------------------------------------------------------------------
# numpy reference: each sum straight from its definition


def _products_numpy(x, lag, P):
    n, C, T = x.shape
    full = np.empty((n, P, C, C))
    head = np.zeros((n, P, P, C, C))
    tail = np.zeros((n, P, P + 1, C, C))
    for d in range(P):
        k = d * lag
        n_terms = T - k
        a, b = x[..., :n_terms], x[..., k:]
        full[:, d] = a @ b.swapaxes(-1, -2)
        for m in range(1, P + 1):
            w = min(m * lag, n_terms)
            if m < P:
                head[:, d, m] = a[..., :w] @ b[..., :w].swapaxes(-1, -2)
            tail[:, d, m] = (a[..., n_terms - w:]
                             @ b[..., n_terms - w:].swapaxes(-1, -2))
    return full, head, tail


# --------------------------------------------------------------------------
# Numba: one pass over the samples per lag, recording heads on the way and
# accumulating tails backwards (so a tail is a sum of its own few terms, not
# a difference of two large sums).

_NUMBA_KERNEL = None


def _numba_kernel():
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is None:
        import numba

        @numba.njit(parallel=True, cache=True, fastmath=False)
        def kernel(xt, lag, P, full, head, tail):  # pragma: no cover - compiled
            n, T, C = xt.shape
            for r in numba.prange(n):
                x = xt[r]
                acc = np.empty((C, C))
                for d in range(P):
                    k = d * lag
                    n_terms = T - k
                    acc[:] = 0.0
                    m = 1
                    for t in range(n_terms):
                        while m < P and t == m * lag:
                            head[r, d, m] = acc
                            m += 1
                        for a in range(C):
                            va = x[t, a]
                            for b in range(C):
                                acc[a, b] += va * x[t + k, b]
                    while m < P:  # heads longer than the sum (never used)
                        head[r, d, m] = acc
                        m += 1
                    full[r, d] = acc
                    acc[:] = 0.0
                    t = n_terms - 1
                    for m in range(1, P + 1):
                        stop = max(n_terms - m * lag, 0)
                        while t >= stop:
                            for a in range(C):
                                va = x[t, a]
                                for b in range(C):
                                    acc[a, b] += va * x[t + k, b]
                            t -= 1
                        tail[r, d, m] = acc

        _NUMBA_KERNEL = kernel
    return _NUMBA_KERNEL


def _products_numba(x, lag, P):
    n, C, T = x.shape
    xt = np.ascontiguousarray(x.transpose(0, 2, 1))
    full = np.empty((n, P, C, C))
    head = np.zeros((n, P, P, C, C))
    tail = np.zeros((n, P, P + 1, C, C))
    _numba_kernel()(xt, lag, P, full, head, tail)
    return full, head, tail


# --------------------------------------------------------------------------
# torch: products of tau-sample chunks, cumulated into heads and tails.


def _products_torch(x, lag, P):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    xt = torch.as_tensor(x, dtype=torch.float64, device=device)
    n, C, T = x.shape
    full = torch.empty((n, P, C, C), dtype=torch.float64, device=device)
    head = torch.zeros((n, P, P, C, C), dtype=torch.float64, device=device)
    tail = torch.zeros((n, P, P + 1, C, C), dtype=torch.float64, device=device)
    for d in range(P):
        k = d * lag
        n_terms = T - k
        a, b = xt[..., :n_terms], xt[..., k:]
        full[:, d] = a @ b.mT
        # chunk q holds terms [q*lag, (q+1)*lag) from the start, or from the end
        edges = [min(m * lag, n_terms) for m in range(P + 1)]
        chunks_h = torch.stack(
            [a[..., edges[q]:edges[q + 1]] @ b[..., edges[q]:edges[q + 1]].mT
             for q in range(P - 1)], dim=1) if P > 1 else None
        if chunks_h is not None:
            head[:, d, 1:] = torch.cumsum(chunks_h, dim=1)
        chunks_t = torch.stack(
            [a[..., n_terms - edges[q + 1]:n_terms - edges[q]]
             @ b[..., n_terms - edges[q + 1]:n_terms - edges[q]].mT
             for q in range(P)], dim=1)
        tail[:, d, 1:] = torch.cumsum(chunks_t, dim=1)
    return full.cpu().numpy(), head.cpu().numpy(), tail.cpu().numpy()


_PRODUCTS = {"numpy": _products_numpy, "numba": _products_numba,
             "torch": _products_torch}


def lagged_products(X, lag, max_order, *, backend="auto"):
    """Lagged cross-product sums of epochs for one lag and every order up to ``max_order``.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs (real, finite).
    lag : int
        Lag ``tau`` between delayed copies, in samples.
    max_order : int
        Largest order ``P`` the sums must serve (every ``p <= P`` is served).
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        ``"numpy"`` is the reference; ``"auto"`` is CUDA torch when a GPU is
        present, else Numba.

    Returns
    -------
    products : LaggedProducts
        Sums of the per-trial, per-channel centred epochs; arrays of shape
        ``(n_trials, P, C, C)`` (``full``), ``(n_trials, P, P, C, C)``
        (``head``), ``(n_trials, P, P + 1, C, C)`` (``tail``) and the
        single-sample sums, see :class:`LaggedProducts`.
    """
    lag = check_positive_int(lag, "lag")
    max_order = check_positive_int(max_order, "max_order")
    backend = resolve_backend(backend)
    X = _check_epochs(X)
    _check_span(X.shape[-1], max_order, lag)
    offset = X.mean(-1)
    x = X - offset[..., None]
    full, head, tail = _PRODUCTS[backend](x, lag, max_order)
    total, head_sum, tail_sum = _single_sums(x, lag, max_order)
    return LaggedProducts(lag=lag, max_order=max_order, n_times=X.shape[-1],
                          full=full, head=head, tail=tail, total=total,
                          head_sum=head_sum, tail_sum=tail_sum, offset=offset)


def assemble_covariances(products, order, estimator="cov"):
    """Augmented covariance matrices of one order from its lagged sums.

    Equal (float64 rounding) to MOABB ``AugmentedDataset(order, lag)``
    followed by pyriemann ``Covariances(estimator)``.

    Parameters
    ----------
    products : LaggedProducts
        Output of :func:`lagged_products` with ``max_order >= order``.
    order : int
        Number of delayed copies ``p``.
    estimator : {"cov", "scm"}, default="cov"
        ``"cov"``: ``numpy.cov`` (centred, divided by ``L - 1``), what MOABB's
        ACM pipeline uses; ``"scm"``: pyriemann's sample covariance (centred,
        divided by ``L``).

    Returns
    -------
    covmats : ndarray, shape (n_trials, n_channels * order, n_channels * order)
        Block ``(i, j)`` pairs copies ``i`` and ``j``.
    """
    order = check_positive_int(order, "order")
    check_option("estimator", estimator, LAGGED_ESTIMATORS)
    if order > products.max_order:
        raise ValueError(
            f"order={order} exceeds the max_order={products.max_order} the "
            "lagged products were computed for."
        )
    T, lag = products.n_times, products.lag
    n, C = products.total.shape
    if order == 1:  # MOABB leaves the epoch unchanged: all T samples
        L = T
        sums = products.total[:, None]
        i_idx = j_idx = d_idx = np.zeros(1, dtype=int)
        blocks = products.full[:, :1]
    else:
        L = T - order * lag
        # per-copy sums: total minus the i*tau first and (p-i)*tau last samples
        copies = np.arange(order)
        sums = (products.total[:, None] - products.head_sum[:, copies]
                - products.tail_sum[:, order - copies])
        i_idx, j_idx = np.triu_indices(order)
        d_idx = j_idx - i_idx
        blocks = (products.full[:, d_idx] - products.head[:, d_idx, i_idx]
                  - products.tail[:, d_idx, order - j_idx])
    # centring: sum (x - mx)(y - my)^T = sum x y^T - L mx my^T
    blocks = blocks - sums[:, i_idx, :, None] * sums[:, j_idx, None, :] / L
    full = np.empty((n, order, order, C, C))
    full[:, i_idx, j_idx] = blocks
    full[:, j_idx, i_idx] = blocks.swapaxes(-1, -2)
    covmats = full.transpose(0, 1, 3, 2, 4).reshape(n, order * C, order * C)
    # the diagonal blocks are symmetric up to rounding: make them exactly so
    covmats = 0.5 * (covmats + covmats.swapaxes(-1, -2))
    covmats /= (L - 1) if estimator == "cov" else L
    return covmats


def lagged_augmented_covariances(X, orders, lag, *, estimator="cov", backend="auto"):
    """Augmented covariances of several orders sharing one lag.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs.
    orders : iterable of int
        Orders to build.
    lag : int
        Lag in samples.
    estimator : {"cov", "scm"}, default="cov"
        See :func:`assemble_covariances`.
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        Backend of :func:`lagged_products`.

    Returns
    -------
    covmats : dict of int to ndarray, shape (n_trials, n_channels * order, n_channels * order)
        One entry per order.
    """
    orders = [check_positive_int(p, "order") for p in orders]
    if not orders:
        raise ValueError("orders must not be empty.")
    products = lagged_products(X, lag, max(orders), backend=backend)
    return {p: assemble_covariances(products, p, estimator) for p in orders}
