"""Per-trial spectral connectivity reduced to node strength (HappyFeat).

HappyFeat's connectivity features: coherence or absolute imaginary coherence
between every pair of channels, estimated within each trial from sliding
segments, then reduced to one number per channel and frequency, its node
strength (mean connectivity to the other channels). Imaginary coherence
ignores zero-lag coupling, so volume conduction does not inflate it.

``mne_connectivity.spectral_connectivity_epochs`` averages over epochs, so a
per-trial value would need one call per trial with the trial's segments as
"epochs". :func:`trial_connectivity` does the same computation (Hann-windowed
FFT of mean-removed segments, cross-spectra averaged over segments, as
mne-connectivity's ``mode="fourier"``) for all trials at once; a test checks
it against mne-connectivity.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from brainpipe._check import check_option
from brainpipe.features._epochs import (
    spectral_feature_names,
    channel_names,
    check_epochs,
    check_fitted_shape,
    check_sfreq,
    epochs_tags,
)
from brainpipe.features.psd import band_masks, resolve_bands

__all__ = [
    "ConnectivityNodeStrength",
    "trial_cross_spectra",
    "trial_connectivity",
    "node_strength",
    "METHODS",
]

METHODS = ("imcoh", "coh")

# trials per block: bounds the (trials, channels, segments, n_per_seg) copy
_TRIAL_CHUNK = 32


def _segment_params(n_times, sfreq, n_per_seg, n_overlap):
    if n_per_seg is None:
        n_per_seg = int(round(sfreq / 2))
    n_per_seg = min(int(n_per_seg), n_times)
    n_overlap = n_per_seg // 2 if n_overlap is None else int(n_overlap)
    if n_per_seg < 2 or not 0 <= n_overlap < n_per_seg:
        raise ValueError(
            f"Need n_per_seg >= 2 and 0 <= n_overlap < n_per_seg, got "
            f"n_per_seg={n_per_seg}, n_overlap={n_overlap}."
        )
    return n_per_seg, n_overlap


def trial_cross_spectra(X, sfreq, fmin=8.0, fmax=30.0, n_per_seg=None, n_overlap=None):
    """Cross-spectral matrices of each trial, averaged over its segments.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs.
    sfreq : float
        Sampling frequency in Hz.
    fmin, fmax : float, default=8.0, 30.0
        Frequencies kept, ``fmin <= f <= fmax``.
    n_per_seg : int or None, default=None
        Segment length in samples; ``None``: half a second (frequency
        resolution 2 Hz, about 15 segments in a 4 s trial).
    n_overlap : int or None, default=None
        Overlap between segments; ``None``: half a segment.

    Returns
    -------
    csd : ndarray of complex128, shape (n_trials, n_freqs, n_channels, n_channels)
        ``mean_s F_i(s, f) conj(F_j(s, f))`` with ``F`` the FFT of the
        mean-removed, Hann-windowed segment ``s``.
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz.
    """
    X = check_epochs(X)
    sfreq = check_sfreq(sfreq)
    n_trials, n_channels, n_times = X.shape
    n_per_seg, n_overlap = _segment_params(n_times, sfreq, n_per_seg, n_overlap)
    freqs = np.fft.rfftfreq(n_per_seg, 1.0 / sfreq)
    keep = (freqs >= fmin) & (freqs <= fmax)
    if not keep.any():
        raise ValueError(
            f"No frequency bin in [{fmin}, {fmax}] Hz at {freqs[1]:g} Hz resolution."
        )
    # np.hanning (symmetric) is the window of mne-connectivity's "fourier" mode
    window = np.hanning(n_per_seg)
    step = n_per_seg - n_overlap
    csd = np.empty((n_trials, int(keep.sum()), n_channels, n_channels), complex)
    for start in range(0, n_trials, _TRIAL_CHUNK):
        block = X[start : start + _TRIAL_CHUNK]
        segs = np.lib.stride_tricks.sliding_window_view(block, n_per_seg, axis=2)
        segs = segs[:, :, ::step]  # (trials, channels, segments, n_per_seg)
        segs = segs - segs.mean(axis=-1, keepdims=True)
        spec = np.fft.rfft(segs * window, axis=-1)[..., keep]
        # (trials, freqs, channels, segments): one batched matmul per block
        spec = np.ascontiguousarray(spec.transpose(0, 3, 1, 2))
        csd[start : start + _TRIAL_CHUNK] = (
            spec @ spec.conj().swapaxes(-1, -2) / spec.shape[-1]
        )
    return csd, freqs[keep]


def trial_connectivity(X, sfreq, fmin=8.0, fmax=30.0, method="imcoh", n_per_seg=None,
                       n_overlap=None):
    """Coherence or absolute imaginary coherence within each trial.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs.
    sfreq : float
        Sampling frequency in Hz.
    fmin, fmax : float, default=8.0, 30.0
        Frequencies kept, ``fmin <= f <= fmax``.
    method : {"imcoh", "coh"}, default="imcoh"
        ``|Im(S_ij)| / sqrt(S_ii S_jj)`` (absolute imaginary coherence, Nolte
        et al. 2004) or ``|S_ij| / sqrt(S_ii S_jj)`` (magnitude coherence).
    n_per_seg, n_overlap : int or None
        Segments, as in :func:`trial_cross_spectra`.

    Returns
    -------
    con : ndarray, shape (n_trials, n_freqs, n_channels, n_channels)
        Symmetric connectivity matrices, values in [0, 1].
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz.
    """
    check_option("method", method, METHODS)
    csd, freqs = trial_cross_spectra(X, sfreq, fmin, fmax, n_per_seg, n_overlap)
    power = np.real(np.einsum("tfii->tfi", csd))
    norm = np.sqrt(power[..., :, None] * power[..., None, :])
    value = np.abs(csd.imag) if method == "imcoh" else np.abs(csd)
    with np.errstate(divide="ignore", invalid="ignore"):
        con = np.where(norm > 0, value / norm, 0.0)
    return con, freqs


def node_strength(con):
    """Mean connectivity of each node to the other nodes.

    Parameters
    ----------
    con : ndarray, shape (..., n_channels, n_channels)
        Connectivity matrices.

    Returns
    -------
    strength : ndarray, shape (..., n_channels)
        ``sum_{j != i} con[..., i, j] / (n_channels - 1)``.
    """
    con = np.asarray(con)
    n = con.shape[-1]
    if n < 2:
        raise ValueError("Node strength needs at least 2 channels.")
    diagonal = np.einsum("...ii->...i", con)
    return (con.sum(axis=-1) - diagonal) / (n - 1)


class ConnectivityNodeStrength(TransformerMixin, BaseEstimator):
    """Node strength of per-trial spectral connectivity (HappyFeat).

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    fmin, fmax : float, default=8.0, 30.0
        Frequency range, ``fmin <= f <= fmax``.
    method : {"imcoh", "coh"}, default="imcoh"
        Absolute imaginary coherence or magnitude coherence.
    bands : dict, sequence of (float, float) or None, default=None
        ``None`` keeps one feature per channel and frequency bin (HappyFeat);
        bands (``low <= f < high``) average the node strength over their bins.
    n_per_seg : int or None, default=None
        Segment length in samples; ``None``: half a second.
    n_overlap : int or None, default=None
        Overlap in samples; ``None``: half a segment.
    ch_names : sequence of str or None, default=None
        Channel names for :meth:`get_feature_names_out`.

    Attributes
    ----------
    freqs_ : ndarray, shape (n_freqs,)
        Frequencies of the spectrum bins.
    band_names_ : list of str or None
        Band names (``None`` for per-frequency features).
    n_channels_in_ : int
        Number of channels seen in ``fit``.
    n_times_in_ : int
        Samples per epoch seen in ``fit``.

    Notes
    -----
    Features are channel-major: column ``c * n_freqs + f`` (or
    ``c * n_bands + b``) is the strength of channel ``c``.
    """

    def __init__(self, sfreq, fmin=8.0, fmax=30.0, method="imcoh", bands=None,
                 n_per_seg=None, n_overlap=None, ch_names=None):
        self.sfreq = sfreq
        self.fmin = fmin
        self.fmax = fmax
        self.method = method
        self.bands = bands
        self.n_per_seg = n_per_seg
        self.n_overlap = n_overlap
        self.ch_names = ch_names

    def fit(self, X, y=None):
        """Check parameters and work out the frequency grid.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Training epochs.
        y : None
            Ignored.

        Returns
        -------
        self : ConnectivityNodeStrength
        """
        sfreq = check_sfreq(self.sfreq)
        check_option("method", self.method, METHODS)
        X = check_epochs(X)
        if X.shape[1] < 2:
            raise ValueError("Connectivity needs at least 2 channels, got 1.")
        nyquist = sfreq / 2
        if not 0 <= self.fmin <= self.fmax <= nyquist:
            raise ValueError(
                f"Need 0 <= fmin <= fmax <= Nyquist ({nyquist:g} Hz), got "
                f"fmin={self.fmin!r}, fmax={self.fmax!r}."
            )
        self.n_channels_in_, self.n_times_in_ = X.shape[1:]
        self._ch_names = channel_names(self.ch_names, self.n_channels_in_)
        n_per_seg, _ = _segment_params(self.n_times_in_, sfreq, self.n_per_seg,
                                       self.n_overlap)
        freqs = np.fft.rfftfreq(n_per_seg, 1.0 / sfreq)
        freqs = freqs[(freqs >= self.fmin) & (freqs <= self.fmax)]
        if freqs.size == 0:
            raise ValueError(
                f"No frequency bin in [{self.fmin}, {self.fmax}] Hz with segments "
                f"of {n_per_seg} samples."
            )
        self.freqs_ = freqs
        if self.bands is None:
            self.band_names_ = None
        else:
            self.band_names_, edges = resolve_bands(self.bands, nyquist)
            masks = band_masks(freqs, edges)
            # average, not sum, so bands of different widths compare
            self._band_weights = masks / masks.sum(axis=1, keepdims=True)
        return self

    def transform(self, X):
        """Node strength per channel and frequency (or band) of every epoch.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Epochs with the channels and length seen in ``fit``.

        Returns
        -------
        features : ndarray, shape (n_trials, n_channels * n_freqs)
            Or ``(n_trials, n_channels * n_bands)`` with ``bands``.
        """
        check_is_fitted(self, "freqs_")
        X = check_epochs(X)
        check_fitted_shape(self, X, times=True)
        con, _ = trial_connectivity(
            X, self.sfreq, self.fmin, self.fmax, self.method, self.n_per_seg,
            self.n_overlap,
        )
        strength = np.swapaxes(node_strength(con), 1, 2)  # (trials, channels, freqs)
        if self.bands is not None:
            strength = strength @ self._band_weights.T
        return strength.reshape(len(X), -1)

    def get_feature_names_out(self, input_features=None):
        """Names ``<channel>_<freq>Hz`` or ``<channel>_<band>``, channel-major.

        Returns
        -------
        names : ndarray of str, shape (n_features_out,)
        """
        check_is_fitted(self, "freqs_")
        return spectral_feature_names(self._ch_names, self.freqs_, self.band_names_)

    def __sklearn_tags__(self):
        return epochs_tags(super().__sklearn_tags__())
