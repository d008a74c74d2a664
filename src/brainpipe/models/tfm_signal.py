"""The TFM tokenizer's preprocessing: FFT resampling, percentile scaling, STFT magnitude (torch)."""

from __future__ import annotations

import torch

__all__ = ["percentile_scale", "resample_fft", "stft_magnitude"]



def resample_fft(x, n_out):
    """Resample the last axis to ``n_out`` samples by FFT (``scipy.signal.resample``).

    Parameters
    ----------
    x : torch.Tensor, shape (..., n_times)
        Real signal.
    n_out : int
        Samples after resampling.

    Returns
    -------
    y : torch.Tensor, shape (..., n_out)
    """
    n_in = x.shape[-1]
    n_out = int(n_out)
    if n_out == n_in:
        return x
    m = min(n_in, n_out)
    spec = torch.fft.rfft(x, dim=-1)[..., : m // 2 + 1]
    if m % 2 == 0:
        # the unpaired bin at m // 2: folded in (down) or split (up), as scipy does
        factor = torch.ones(m // 2 + 1, dtype=x.dtype, device=x.device)
        factor[m // 2] = 2.0 if n_out < n_in else 0.5
        spec = spec * factor
    return torch.fft.irfft(spec, n=n_out, dim=-1) * (n_out / n_in)


def percentile_scale(x, q=0.95, eps=1e-8):
    """Divide each row by the ``q`` quantile of its absolute values (linear interpolation).

    Parameters
    ----------
    x : torch.Tensor, shape (..., n_times)

    Returns
    -------
    scaled : torch.Tensor, shape (..., n_times)
    """
    scale = torch.quantile(x.abs(), float(q), dim=-1, keepdim=True)
    return x / (scale + eps)


def stft_magnitude(x, n_fft=200, hop_length=100, n_bins=None):
    """Magnitude STFT with the tokenizer's settings.

    Periodic Hann window of ``n_fft`` samples, ``center=False``, one-sided,
    no normalisation (``torch.stft``); equals ``|scipy.signal.stft(x,
    nperseg=n_fft, noverlap=n_fft - hop_length, boundary=None,
    padded=False)| * window.sum()``.

    Parameters
    ----------
    x : torch.Tensor, shape (n_signals, n_times)
    n_fft, hop_length : int
    n_bins : int | None
        Keep the first bins (``n_fft // 2`` by default: drops Nyquist).

    Returns
    -------
    mag : torch.Tensor, shape (n_signals, n_bins, n_frames)
        ``n_frames = 1 + (n_times - n_fft) // hop_length``.
    """
    if x.shape[-1] < n_fft:
        raise ValueError(
            f"The signal has {x.shape[-1]} samples, fewer than n_fft={n_fft}: the tokenizer "
            "needs at least one 1 s frame (n_times >= sfreq)."
        )
    n_bins = n_fft // 2 if n_bins is None else int(n_bins)
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length, win_length=n_fft, window=window,
                      center=False, onesided=True, return_complex=True)
    return spec.abs()[:, :n_bins, :]
