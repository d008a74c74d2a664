"""BrainMAE's samples: 15 s segments of ROI time series, windows of segments, ROI masks.

A window is ``n_segments`` consecutive segments of ``segment_len`` TRs,
shape (n_segments, n_rois, segment_len); the mask hides
``round(mask_ratio * n_rois)`` ROIs in every segment.
"""

from __future__ import annotations

import math

import numpy as np

from .._check import check_positive, check_positive_int

__all__ = ["n_masked", "segment_length", "segment_mask", "segment_windows", "standardize"]



def segment_length(tr, segment_s=15.0):
    """Segment length in TRs: ``round(segment_s / tr)``, at least 2.

    Parameters
    ----------
    tr : float
        Repetition time (s).
    segment_s : float
        Segment duration (s); 15 s in the paper.
    """
    tr, segment_s = float(tr), float(segment_s)
    if not math.isfinite(check_positive(tr, "tr", " of seconds")):
        raise ValueError(f"tr must be a positive number of seconds, got {tr!r}.")
    if not segment_s > 0:
        raise ValueError(f"segment_s must be > 0 seconds, got {segment_s!r}.")
    return max(2, int(round(segment_s / tr)))


def segment_windows(timeseries, segment_len, n_segments, step=None):
    """Cut one ROI time series into windows of consecutive segments.

    Parameters
    ----------
    timeseries : ndarray, shape (n_times, n_rois)
    segment_len : int
        Samples (TRs) per segment.
    n_segments : int
        Segments per window.
    step : int | None
        TRs between the starts of consecutive windows (default: one segment).

    Returns
    -------
    windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
        A copy (float32).
    """
    from ..kernels import sliding_windows

    x = np.asarray(timeseries, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"timeseries must have shape (n_times, n_rois), got {x.shape}.")
    segment_len = check_positive_int(segment_len, "segment_len")
    n_segments = check_positive_int(n_segments, "n_segments")
    step = segment_len if step is None else check_positive_int(step, "window_step")
    length = segment_len * n_segments
    if x.shape[0] < length:
        raise ValueError(
            f"A time series of {x.shape[0]} TRs is shorter than one window of n_segments={n_segments} "
            f"x segment_len={segment_len} = {length} TRs; lower n_segments."
        )
    win = sliding_windows(x.T, length, step)  # (n_windows, n_rois, length)
    win = win.reshape(win.shape[0], x.shape[1], n_segments, segment_len)
    return np.ascontiguousarray(win.transpose(0, 2, 1, 3))


def standardize(x):
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    return ((x - x.mean(axis=0)) / sd).astype(np.float32)


def segment_mask(shape, mask_ratio, device=None):
    """Segment-wise ROI mask: the same number of ROIs masked in every segment.

    Drawn from the global torch generator (the training loop seeds it).

    Parameters
    ----------
    shape : tuple of int
        ``(n_windows, n_segments, n_rois)``.
    mask_ratio : float
        Share of the ROIs masked per segment (``round(mask_ratio * n_rois)``).
    device : torch.device | None

    Returns
    -------
    mask : torch.BoolTensor, shape (n_windows, n_segments, n_rois)
        True where the ROI is masked.
    """
    import torch

    n_rois = shape[-1]
    k = n_masked(n_rois, mask_ratio)
    rank = torch.rand(shape, device=device).argsort(dim=-1).argsort(dim=-1)
    return rank < k


def n_masked(n_rois, mask_ratio):
    """ROIs masked per segment, ``round(mask_ratio * n_rois)`` within [1, n_rois - 1]."""
    mask_ratio = float(mask_ratio)
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}.")
    return int(min(max(round(mask_ratio * n_rois), 1), n_rois - 1))
