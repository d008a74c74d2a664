"""Numba CPU kernels: augmented covariances from sliding lagged sums.

Why this is fast
----------------
Block ``(p, q)`` (``q = p + d``) of the augmented covariance of a window that
starts at sample ``a`` is a range sum of the lag-``d * lag`` cross products of
the signal,

    B_pq = sum_{u = a + p*lag}^{a + p*lag + n - 1} y_u y_{u + d*lag}^T,

so only ``order`` distinct lag products exist. We keep their running prefix
sums ``H_d(u) = sum_{v < u} y_v y_{v + d*lag}^T`` (one rank-1 update per sample
and lag, ``n_channels * p`` multiply-adds per sample) and read every block of
every window as a difference of two prefixes: when the walk reaches a block's
first sample the kernel stores ``-H_d`` in a small ring buffer of open windows,
when it reaches the block's end it adds ``H_d``. The work therefore grows with
the recording length, not with ``window / step`` times it, and each output
matrix is written once, row by row, when its last block closes.

Numerical soundness
-------------------
The windows are processed in independent groups spanning at most
``_SPAN_WINDOWS * window`` samples (and at most one chunk of the streaming API).
Each group subtracts its own per-channel mean (the anchor) before any product
is formed and restarts its prefix sums at zero, so nothing runs over the whole
recording. Centring is shift invariant, so the anchor changes nothing in exact
arithmetic. In floating point the prefixes of a group grow to about
``N_g * (sigma^2 + delta^2)`` (``N_g`` the group span, ``delta`` the distance of
a window's mean from its group's mean, ``sigma`` the signal scale), and a
block is the difference of two of them, so the relative error of a window's
covariance is about ``eps * (N_g / n) * (1 + delta^2 / sigma^2)`` times a small
constant (``eps = 2.2e-16``, ``n`` the samples per copy): a constant DC offset
costs nothing, and the bound does not depend on the recording length.
"""

from __future__ import annotations

from functools import lru_cache

import numba as nb
import numpy as np

from brainpipe.kernels.windows import effective_length

__all__ = ["window_covariances", "epoch_covariances"]

_EST_CODES = {"scm": 0, "cov": 1, "oas": 2, "lwf": 3}

# A group spans about this many windows' worth of samples: restarting a group
# re-reads one window (1 / _SPAN_WINDOWS overhead) and the span bounds the
# rounding error (see the module docstring).
_SPAN_WINDOWS = 16

# FMA contraction only: results stay within rounding of the reference and
# no reassociation changes the summation order.
_FM = {"contract"}


# Indexing note: loops below index array *slices* with their own loop
# variable (``h[m]``, ``z[m]``) rather than flat offsets (``H[row + m]``): numba
# then knows the index is non-negative, drops its wrap-around check and LLVM
# vectorises the loops (about 4x faster here).


@nb.njit(cache=True, nogil=True, fastmath=_FM)
def _accumulate(y, H, H1, v0, v1, order, lag):
    """Add samples v0..v1-1 to the prefix sums H (C, P) and H1 (C,)."""
    C = y.shape[1]
    P = C * order
    yf = y.reshape(-1)
    for v in range(v0, v1):
        yv = y[v]
        for i in range(C):
            H1[i] += yv[i]
        if lag == 1:
            # y_v, y_{v+1}, ..., y_{v+order-1} are contiguous in time-major y
            z = yf[v * C : v * C + P]
            for i in range(C):
                h = H[i]
                yi = yv[i]
                for m in range(P):
                    h[m] += yi * z[m]
        else:
            for d in range(order):
                z = y[v + d * lag]
                for i in range(C):
                    h = H[i, d * C : (d + 1) * C]
                    yi = yv[i]
                    for j in range(C):
                        h[j] += yi * z[j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def _trace_fro(pend, slot, blk, order):
    """Trace and squared Frobenius norm of the (upper-block stored) matrix."""
    C = pend.shape[2]
    trace = 0.0
    fro = 0.0
    for p in range(order):
        for d in range(order - p):
            w = 1.0 if d == 0 else 2.0  # off-diagonal blocks appear twice
            blkv = pend[slot, blk[p, d]]
            acc = 0.0
            for i in range(C):
                row = blkv[i]
                for j in range(C):
                    acc += row[j] * row[j]
                if d == 0:
                    trace += row[i]
            fro += w * acc
    return trace, fro


@nb.njit(cache=True, nogil=True)
def _finalize(k, slot, k_out, start, y, pend, pend1, means, blk, out,
              order, lag, n_eff, est):
    """Centre, scale, shrink and write window k (its blocks are all closed).

    No FMA contraction here: each matrix entry is computed once and copied
    to both triangles, so the result is exactly symmetric.
    """
    C = y.shape[1]
    P = C * order
    for p in range(order):
        src = pend1[slot, p]
        m = means[p]
        for c in range(C):
            m[c] = src[c] / n_eff
    scale = 1.0 / (n_eff - 1) if est == 1 else 1.0 / n_eff
    # centre and scale the upper blocks in place:
    # sum (y - m_p)(y' - m_q)^T = sum y y'^T - n m_p m_q^T
    for p in range(order):
        for d in range(order - p):
            blkv = pend[slot, blk[p, d]]
            mq = means[p + d]
            for i in range(C):
                row = blkv[i]
                mi = means[p, i]
                for j in range(C):
                    # (m_i m_j) n, not (m_i n) m_j: symmetric in i, j
                    row[j] = (row[j] - (mi * mq[j]) * n_eff) * scale
    fac = 1.0
    target = 0.0
    if est >= 2:
        trace, fro = _trace_fro(pend, slot, blk, order)
        mu = trace / P
        shrink = 0.0
        if est == 2:  # OAS, scikit-learn's formula
            alpha = fro / (P * P)
            num = alpha + mu * mu
            den = (n_eff + 1) * (alpha - mu * mu / P)
            shrink = 1.0 if den == 0 else min(num / den, 1.0)
        elif P > 1:  # Ledoit-Wolf, scikit-learn's formula
            fourth = 0.0
            for t in range(n_eff):
                sq = 0.0
                for p in range(order):
                    yr = y[start + t + p * lag]
                    m = means[p]
                    for c in range(C):
                        z = yr[c] - m[c]
                        sq += z * z
                fourth += sq * sq
            beta = (fourth / n_eff - fro) / (P * n_eff)
            delta = (fro - 2.0 * mu * trace + P * mu * mu) / P
            beta = min(beta, delta)
            shrink = 0.0 if beta == 0 else beta / delta
        fac = 1.0 - shrink
        target = shrink * mu
    # write the full matrix row by row; lower blocks read the upper transposed
    o = out[k_out]
    for p in range(order):
        for i in range(C):
            r = p * C + i
            orow = o[r]
            for q in range(p):
                seg = orow[q * C : (q + 1) * C]
                src = pend[slot, blk[q, p - q], :, i]
                for j in range(C):
                    seg[j] = fac * src[j]
            for q in range(p, order):
                seg = orow[q * C : (q + 1) * C]
                src = pend[slot, blk[p, q - p], i]
                for j in range(C):
                    seg[j] = fac * src[j]
            orow[r] += target


@nb.njit(cache=True, nogil=True, fastmath=_FM)
def _segment(x, t0, n_win, step, window, n_eff, order, lag, est,
             ev_pos, ev_kind, ev_k, ev_p, blk, n_ring, out, k_out0):
    """Covariances of windows k_out0..k_out0+n_win-1 starting at x[:, t0]."""
    C = x.shape[0]
    P = C * order
    nbk = order * (order + 1) // 2
    span = (n_win - 1) * step + window
    # anchored, time-major copy, zero-padded so lagged reads stay in bounds
    y = np.zeros((span + order * lag, C))
    for c in range(C):
        xc = x[c, t0 : t0 + span]
        acc = 0.0
        for v in range(span):
            acc += xc[v]
        anchor = acc / span
        for v in range(span):
            y[v, c] = xc[v] - anchor
    H = np.zeros((C, P))
    H1 = np.zeros(C)
    pend = np.empty((n_ring, nbk, C, C))
    pend1 = np.empty((n_ring, order, C))
    means = np.empty((order, C))
    cur = 0
    for e in range(ev_pos.shape[0]):
        k = ev_k[e]
        if k >= n_win:
            continue
        pos = ev_pos[e]
        if pos > cur:
            _accumulate(y, H, H1, cur, pos, order, lag)
            cur = pos
        p = ev_p[e]
        slot = k % n_ring
        if ev_kind[e] == 0:  # block starts: remember -H
            for d in range(order - p):
                dst2 = pend[slot, blk[p, d]]
                for i in range(C):
                    src = H[i, d * C : (d + 1) * C]
                    dst = dst2[i]
                    for j in range(C):
                        dst[j] = -src[j]
            dst1 = pend1[slot, p]
            for c in range(C):
                dst1[c] = -H1[c]
        else:  # block ends: add H
            for d in range(order - p):
                dst2 = pend[slot, blk[p, d]]
                for i in range(C):
                    src = H[i, d * C : (d + 1) * C]
                    dst = dst2[i]
                    for j in range(C):
                        dst[j] += src[j]
            dst1 = pend1[slot, p]
            for c in range(C):
                dst1[c] += H1[c]
            if p == order - 1:  # last block of window k closed
                _finalize(k, slot, k_out0 + k, k * step, y, pend, pend1, means,
                          blk, out, order, lag, n_eff, est)


@nb.njit(cache=True, parallel=True)
def _windows_kernel(x, window, step, n_eff, order, lag, est, group,
                    ev_pos, ev_kind, ev_k, ev_p, blk, n_ring, out):
    n_total = out.shape[0]
    n_groups = (n_total + group - 1) // group
    for g in nb.prange(n_groups):
        k0 = g * group
        n_win = min(group, n_total - k0)
        _segment(x, k0 * step, n_win, step, window, n_eff, order, lag, est,
                 ev_pos, ev_kind, ev_k, ev_p, blk, n_ring, out, k0)


@nb.njit(cache=True, parallel=True)
def _epochs_kernel(X, n_eff, order, lag, est, ev_pos, ev_kind, ev_k, ev_p, blk, out):
    n_times = X.shape[2]
    for t in nb.prange(X.shape[0]):
        _segment(X[t], 0, 1, n_times, n_times, n_eff, order, lag, est,
                 ev_pos, ev_kind, ev_k, ev_p, blk, 1, out, t)


@lru_cache(maxsize=64)
def _events(n_win, step, n_eff, order, lag):
    """Block start (kind 0) and end (kind 1) events of n_win windows, by position."""
    k = np.repeat(np.arange(n_win, dtype=np.int64), order)
    p = np.tile(np.arange(order, dtype=np.int64), n_win)
    start = k * step + p * lag
    pos = np.concatenate([start, start + n_eff])
    kind = np.repeat(np.array([0, 1], dtype=np.int64), start.size)
    kk = np.concatenate([k, k])
    pp = np.concatenate([p, p])
    idx = np.lexsort((pp, kk, kind, pos))
    return tuple(np.ascontiguousarray(a[idx]) for a in (pos, kind, kk, pp))


@lru_cache(maxsize=16)
def _block_table(order):
    """blk[p, d]: index of upper block (p, p + d) in the pending buffers."""
    blk = np.full((order, order), -1, dtype=np.int64)
    idx = 0
    for p in range(order):
        for d in range(order - p):
            blk[p, d] = idx
            idx += 1
    return blk


def _group_size(n_total, window, step):
    if step >= window:  # windows do not overlap: nothing to share
        return 1
    group = max(1, ((_SPAN_WINDOWS - 1) * window) // step + 1)
    # at least one group per thread so every core has work
    per_thread = -(-n_total // max(1, nb.get_num_threads()))
    return max(1, min(group, per_thread))


def window_covariances(x, window, step, order, lag, estimator):
    """Augmented covariances of sliding windows (see ``covariance.window_covariances``).

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
    window, step, order, lag : int
    estimator : {"scm", "cov", "oas", "lwf"}

    Returns
    -------
    C : ndarray, shape (n_windows, n_channels * order, n_channels * order)
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_channels, n_times = x.shape
    n_eff = effective_length(window, order, lag)
    n_total = (n_times - window) // step + 1
    group = _group_size(n_total, window, step)
    n_ring = min(group, window // step + 2)
    events = _events(group, step, n_eff, order, lag)
    p = n_channels * order
    out = np.empty((n_total, p, p))
    _windows_kernel(x, window, step, n_eff, order, lag, _EST_CODES[estimator], group,
                    *events, _block_table(order), n_ring, out)
    return out


def epoch_covariances(X, order, lag, estimator):
    """Augmented covariances of epochs (see ``covariance.epoch_covariances``).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_channels, n_times)
    order, lag : int
    estimator : {"scm", "cov", "oas", "lwf"}

    Returns
    -------
    C : ndarray, shape (n_trials, n_channels * order, n_channels * order)
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_trials, n_channels, n_times = X.shape
    n_eff = effective_length(n_times, order, lag)
    events = _events(1, n_times, n_eff, order, lag)
    p = n_channels * order
    out = np.empty((n_trials, p, p))
    _epochs_kernel(X, n_eff, order, lag, _EST_CODES[estimator], *events,
                   _block_table(order), out)
    return out
