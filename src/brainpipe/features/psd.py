"""Spectral power features of epochs (HappyFeat's PSD branch).

HappyFeat compares Welch power spectra with connectivity for motor imagery:
power per channel and frequency, ranked by signed R², the best ones fed to a
shrinkage LDA. :class:`PSDBandPower` gives either band power per channel or
the per-frequency spectrum as a flat feature vector, with names that say
which channel and frequency each column is, so that a selector's ranking can
be read back as a channel x frequency map.
"""

from __future__ import annotations

import numpy as np
from mne.time_frequency import psd_array_multitaper
from scipy.signal import welch
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

__all__ = ["PSDBandPower", "resolve_bands", "DEFAULT_BANDS"]

#: theta, mu/alpha and beta: the rhythms motor imagery modulates
DEFAULT_BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))


def resolve_bands(bands, nyquist):
    """Normalise ``bands`` to ``(names, edges)``.

    Parameters
    ----------
    bands : dict or sequence of (float, float)
        ``{name: (low, high)}`` or ``[(low, high), ...]`` in Hz; a band holds
        the frequencies ``low <= f < high``.
    nyquist : float
        Half the sampling frequency; every band must lie below it.

    Returns
    -------
    names : list of str
        Band names (``"8-13Hz"`` style when none are given).
    edges : ndarray, shape (n_bands, 2)
        Low and high edge of each band in Hz.
    """
    if isinstance(bands, dict):
        names = [str(name) for name in bands]
        pairs = list(bands.values())
    else:
        pairs = list(bands)
        names = None
    try:
        edges = np.asarray(pairs, dtype=float).reshape(len(pairs), 2)
    except (TypeError, ValueError):
        raise ValueError(
            f"bands must be (low, high) pairs in Hz, got {bands!r}."
        ) from None
    if len(edges) == 0:
        raise ValueError("bands is empty: give at least one (low, high) pair.")
    bad = (edges[:, 0] < 0) | (edges[:, 1] <= edges[:, 0]) | (edges[:, 1] > nyquist)
    if bad.any():
        raise ValueError(
            f"Every band needs 0 <= low < high <= Nyquist ({nyquist:g} Hz); "
            f"got {tuple(edges[np.flatnonzero(bad)[0]])}."
        )
    if names is None:
        names = [f"{lo:g}-{hi:g}Hz" for lo, hi in edges]
    return names, edges


def band_masks(freqs, edges):
    """Boolean ``(n_bands, n_freqs)`` masks; raise if a band has no bin."""
    masks = (freqs >= edges[:, :1]) & (freqs < edges[:, 1:])
    empty = ~masks.any(axis=1)
    if empty.any():
        lo, hi = edges[np.flatnonzero(empty)[0]]
        step = freqs[1] - freqs[0] if len(freqs) > 1 else float("nan")
        raise ValueError(
            f"Band {lo:g}-{hi:g} Hz holds no frequency bin at {step:g} Hz "
            "resolution: widen the band or lengthen the segments (n_per_seg)."
        )
    return masks


class PSDBandPower(TransformerMixin, BaseEstimator):
    """Band power (or per-frequency power) of each channel of each epoch.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    bands : dict, sequence of (float, float) or None, default=DEFAULT_BANDS
        ``DEFAULT_BANDS`` is ``((4, 8), (8, 13), (13, 30))``. Frequency bands in Hz (``low <= f < high``), as ``[(low, high), ...]``
        or ``{name: (low, high)}``. ``None`` keeps every frequency bin between
        ``fmin`` and ``fmax`` as its own feature (HappyFeat's channel x
        frequency ranking).
    fmin, fmax : float, default=1.0, 40.0
        Frequency range of the per-frequency features (``bands=None``) and of
        the total power that ``relative`` divides by.
    method : {"welch", "multitaper"}, default="welch"
        Spectrum estimator: Welch with MNE's conventions (Hamming windows,
        constant detrend, mean over segments; computed by
        :func:`scipy.signal.welch`, which gives the same values as
        :func:`mne.time_frequency.psd_array_welch` about 4 times faster on
        epochs) or :func:`mne.time_frequency.psd_array_multitaper`.
    log : bool, default=True
        Return ``log10`` of the power (features closer to Gaussian, as LDA
        assumes).
    relative : bool, default=False
        Divide by the total power in ``[fmin, fmax]`` of the same channel and
        epoch (removes overall amplitude differences between trials).
    n_per_seg : int or None, default=None
        Welch segment length in samples; ``None``: one second (``sfreq``
        samples, 1 Hz resolution) or the whole epoch if shorter.
    n_overlap : int or None, default=None
        Welch overlap in samples; ``None``: half a segment.
    ch_names : sequence of str or None, default=None
        Channel names for :meth:`get_feature_names_out`.

    Attributes
    ----------
    freqs_ : ndarray, shape (n_freqs,)
        Frequencies of the per-frequency features (``bands=None``) or of the
        spectrum bins that the bands sum.
    band_names_ : list of str or None
        Band names (``None`` for per-frequency features).
    n_channels_in_ : int
        Number of channels seen in ``fit``.
    n_times_in_ : int
        Samples per epoch seen in ``fit``.

    Notes
    -----
    Band power is ``sum(psd[f in band]) * df`` (V² for EEG in volts), so a
    sinusoid of amplitude ``A`` inside a band contributes ``A² / 2``. Features
    are ordered channel-major: column ``c * n_bands + b`` is channel ``c``,
    band (or frequency) ``b``.
    """

    def __init__(self, sfreq, bands=DEFAULT_BANDS, fmin=1.0, fmax=40.0, method="welch",
                 log=True, relative=False, n_per_seg=None, n_overlap=None,
                 ch_names=None):
        self.sfreq = sfreq
        self.bands = bands
        self.fmin = fmin
        self.fmax = fmax
        self.method = method
        self.log = log
        self.relative = relative
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
        self : PSDBandPower
        """
        sfreq = check_sfreq(self.sfreq)
        check_option("method", self.method, ("welch", "multitaper"))
        X = check_epochs(X)
        nyquist = sfreq / 2
        if not 0 <= self.fmin < self.fmax <= nyquist:
            raise ValueError(
                f"Need 0 <= fmin < fmax <= Nyquist ({nyquist:g} Hz), got "
                f"fmin={self.fmin!r}, fmax={self.fmax!r}."
            )
        self.n_channels_in_, self.n_times_in_ = X.shape[1:]
        self._ch_names = channel_names(self.ch_names, self.n_channels_in_)
        freqs = self._freq_grid(sfreq)
        self._df = freqs[1] - freqs[0] if len(freqs) > 1 else sfreq
        self._range_mask = (freqs >= self.fmin) & (freqs <= self.fmax)
        if not self._range_mask.any():
            raise ValueError(
                f"No frequency bin between fmin={self.fmin} and fmax={self.fmax} Hz."
            )
        if self.bands is None:
            self.band_names_ = None
            self.freqs_ = freqs[self._range_mask]
        else:
            self.band_names_, edges = resolve_bands(self.bands, nyquist)
            self._band_masks = band_masks(freqs, edges)
            self.freqs_ = freqs
        return self

    def _segments(self):
        n_per_seg = self.n_per_seg
        if n_per_seg is None:
            n_per_seg = int(round(self.sfreq))
        n_per_seg = min(int(n_per_seg), self.n_times_in_)
        n_overlap = n_per_seg // 2 if self.n_overlap is None else int(self.n_overlap)
        if not 0 <= n_overlap < n_per_seg:
            raise ValueError(
                f"n_overlap ({n_overlap}) must be in [0, n_per_seg={n_per_seg})."
            )
        return n_per_seg, n_overlap

    def _freq_grid(self, sfreq):
        n_fft = self._segments()[0] if self.method == "welch" else self.n_times_in_
        return np.fft.rfftfreq(n_fft, 1.0 / sfreq)

    def _spectrum(self, X):
        """Full one-sided spectrum, shape (n_trials, n_channels, n_freqs)."""
        if self.method == "welch":
            n_per_seg, n_overlap = self._segments()
            _, psd = welch(
                X, fs=float(self.sfreq), window="hamming", nperseg=n_per_seg,
                noverlap=n_overlap, nfft=n_per_seg, detrend="constant",
                scaling="density", average="mean", axis=-1,
            )
        else:
            # "full" normalisation makes it a density like Welch's (V²/Hz);
            # MNE's default "length" is n_times / sfreq times larger
            psd, _ = psd_array_multitaper(
                X, float(self.sfreq), fmin=0.0, fmax=np.inf, normalization="full",
                verbose=False,
            )
        return psd

    def transform(self, X):
        """Power features of every epoch.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Epochs with the channels and length seen in ``fit``.

        Returns
        -------
        features : ndarray, shape (n_trials, n_channels * n_bands)
            Band power per channel, or ``(n_trials, n_channels * n_freqs)``
            power spectral density per channel and frequency when
            ``bands=None``.
        """
        check_is_fitted(self, "freqs_")
        X = check_epochs(X)
        check_fitted_shape(self, X, times=True)
        psd = self._spectrum(X)
        df = self._df
        if self.bands is None:
            power = psd[..., self._range_mask]
        else:
            power = np.einsum("tcf,bf->tcb", psd, self._band_masks.astype(float)) * df
        if self.relative:
            total = psd[..., self._range_mask].sum(axis=-1, keepdims=True) * df
            power = power / np.where(total > 0, total, np.inf)
        if self.log:
            flat = ~(power > 0).all(axis=(0, 2))
            if flat.any():
                raise ValueError(
                    f"Channel {self._ch_names[int(np.flatnonzero(flat)[0])]} has "
                    "zero power in some epoch/band (a flat channel?): its log "
                    "power is undefined. Drop or interpolate it, or use log=False."
                )
            power = np.log10(power)
        return power.reshape(len(X), -1)

    def get_feature_names_out(self, input_features=None):
        """Names ``<channel>_<band>`` or ``<channel>_<freq>Hz``, channel-major.

        Returns
        -------
        names : ndarray of str, shape (n_features_out,)
        """
        check_is_fitted(self, "freqs_")
        return spectral_feature_names(self._ch_names, self.freqs_, self.band_names_)

    def __sklearn_tags__(self):
        return epochs_tags(super().__sklearn_tags__())
