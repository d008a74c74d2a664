"""torch backend: batched matrix products over unfolded windows (CUDA or CPU).

Each chunk of windows is unfolded (a view), delay-embedded, centred and
multiplied in one batched ``Z @ Z^T``. On a GPU that product runs at tensor
core speed, so recomputing the overlap of neighbouring windows costs less
than the sequential bookkeeping of the sliding sums the Numba backend uses
(which is the better choice on a CPU). Centring is explicit (each copy minus
its own window mean), so the rounding error is that of one dot product of
``n`` terms, whatever the DC offset.

Inputs may be numpy arrays (computed on CUDA when available, returned as
numpy) or torch tensors (computed on their own device, returned as tensors).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["window_covariances", "epoch_covariances", "default_device"]

# bytes of embedded data per batched product: bounds the temporary copy
_CHUNK_BYTES = 64 * 2**20


def default_device():
    """``cuda`` when a GPU is visible to torch, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _to_tensor(x):
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64), True
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=default_device()), False


def _embedded_covariances(Z, estimator):
    """pyriemann's estimators on embedded data Z (n, p, n_eff), in torch."""
    n = Z.shape[-1]
    p = Z.shape[-2]
    Zc = Z - Z.mean(dim=-1, keepdim=True)
    S = Zc @ Zc.transpose(-1, -2)
    S = 0.5 * (S + S.transpose(-1, -2))  # exact symmetry (blocked GEMM is not)
    if estimator == "cov":
        return S / (n - 1)
    S = S / n
    if estimator == "scm":
        return S
    trace = torch.diagonal(S, dim1=-2, dim2=-1).sum(-1)
    mu = trace / p
    sq = (S * S).sum(dim=(-2, -1))
    if estimator == "oas":
        alpha = sq / (p * p)
        num = alpha + mu**2
        den = (n + 1) * (alpha - mu**2 / p)
        shrink = torch.where(den == 0, torch.ones_like(den), torch.clamp(num / den, max=1.0))
    elif estimator == "lwf":
        if p == 1:
            return S
        fourth = ((Zc * Zc).sum(dim=-2) ** 2).sum(dim=-1)
        beta = (fourth / n - sq) / (p * n)
        delta = (sq - 2.0 * mu * trace + p * mu**2) / p
        beta = torch.minimum(beta, delta)
        shrink = torch.where(beta == 0, torch.zeros_like(beta), beta / delta)
    else:
        raise ValueError(f"unknown estimator {estimator!r}")
    out = (1.0 - shrink)[..., None, None] * S
    diag = torch.diagonal(out, dim1=-2, dim2=-1)
    diag += (shrink * mu)[..., None]
    return out


def _embed(W, order, lag, n_eff):
    """MOABB's AugmentedDataset on a batch (n, C, T) -> (n, C * order, n_eff)."""
    if order == 1:
        return W
    return torch.cat([W[..., p * lag : p * lag + n_eff] for p in range(order)], dim=-2)


def _n_per_chunk(n_channels, order, n_eff):
    return max(1, _CHUNK_BYTES // (8 * n_channels * order * max(n_eff, 1)))


def window_covariances(x, window, step, order, lag, estimator):
    """Augmented covariances of sliding windows (see ``covariance.window_covariances``).

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (n_channels, n_times)
    window, step, order, lag : int
    estimator : {"scm", "cov", "oas", "lwf"}

    Returns
    -------
    C : ndarray or torch.Tensor, shape (n_windows, n_channels * order, n_channels * order)
        A tensor on ``x``'s device when ``x`` is a tensor, else a numpy array.
    """
    xt, is_tensor = _to_tensor(x)
    n_channels, n_times = xt.shape
    n_eff = window if order == 1 else window - order * lag
    n_total = (n_times - window) // step + 1
    p = n_channels * order
    out = torch.empty((n_total, p, p), dtype=torch.float64, device=xt.device)
    per = _n_per_chunk(n_channels, order, n_eff)
    with torch.no_grad():
        for first in range(0, n_total, per):
            n = min(per, n_total - first)
            a = first * step
            seg = xt[:, a : a + (n - 1) * step + window]
            W = seg.unfold(1, window, step).permute(1, 0, 2)  # (n, C, window) view
            out[first : first + n] = _embedded_covariances(_embed(W, order, lag, n_eff), estimator)
    return out if is_tensor else out.cpu().numpy()


def epoch_covariances(X, order, lag, estimator):
    """Augmented covariances of epochs (see ``covariance.epoch_covariances``).

    Parameters
    ----------
    X : ndarray or torch.Tensor, shape (n_trials, n_channels, n_times)
    order, lag : int
    estimator : {"scm", "cov", "oas", "lwf"}

    Returns
    -------
    C : ndarray or torch.Tensor, shape (n_trials, n_channels * order, n_channels * order)
    """
    Xt, is_tensor = _to_tensor(X)
    n_trials, n_channels, n_times = Xt.shape
    n_eff = n_times if order == 1 else n_times - order * lag
    p = n_channels * order
    out = torch.empty((n_trials, p, p), dtype=torch.float64, device=Xt.device)
    per = _n_per_chunk(n_channels, order, n_eff)
    with torch.no_grad():
        for first in range(0, n_trials, per):
            Z = _embed(Xt[first : first + per], order, lag, n_eff)
            out[first : first + per] = _embedded_covariances(Z, estimator)
    return out if is_tensor else out.cpu().numpy()
