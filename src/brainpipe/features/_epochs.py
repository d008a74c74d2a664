"""Checks shared by the transformers that take epochs (3-D arrays).

scikit-learn's ``validate_data`` only knows 2-D ``X``; these helpers give the
epoch transformers the same kind of checks (shape, finiteness, the shape seen
in ``fit``) with sentences that say what was expected and what was found.
"""

from __future__ import annotations

import numpy as np

from .._check import check_positive

EPOCHS_SHAPE = "(n_trials, n_channels, n_times)"


def check_epochs(X, name="X"):
    """Return ``X`` as a float64 array of epochs, or raise a clear error.

    Parameters
    ----------
    X : array-like, shape (n_trials, n_channels, n_times)
        Epochs.
    name : str
        Name used in error messages.

    Returns
    -------
    X : ndarray of float64, shape (n_trials, n_channels, n_times)
    """
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {name} must be real epochs.")
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold numbers, got an array of dtype {X.dtype} instead."
        )
    if X.ndim != 3:
        hint = (
            " For a single epoch (n_channels, n_times), pass X[np.newaxis]."
            if X.ndim == 2
            else ""
        )
        raise ValueError(
            f"{name} must be epochs, a 3-D array {EPOCHS_SHAPE}; got an array of "
            f"shape {X.shape}.{hint}"
        )
    if min(X.shape) == 0:
        raise ValueError(f"{name} is empty: shape {X.shape} {EPOCHS_SHAPE}.")
    X = np.ascontiguousarray(X, dtype=np.float64)
    finite = np.isfinite(X).all(axis=2)
    if not finite.all():
        trial, channel = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains NaN or infinite values ({int((~finite).sum())} "
            f"trial/channel pairs, first at trial {trial}, channel {channel})."
        )
    return X


def check_fitted_shape(estimator, X, *, times=False):
    """Check that ``X`` has the channel (and time) count seen in ``fit``."""
    n_channels = X.shape[1]
    if n_channels != estimator.n_channels_in_:
        raise ValueError(
            f"X has {n_channels} channels, but {type(estimator).__name__} was "
            f"fitted on {estimator.n_channels_in_} channels."
        )
    if times and X.shape[2] != estimator.n_times_in_:
        raise ValueError(
            f"X has {X.shape[2]} samples per epoch, but "
            f"{type(estimator).__name__} was fitted on {estimator.n_times_in_}: "
            "the frequency grid depends on the epoch length."
        )


def check_sfreq(sfreq):
    """Return ``float(sfreq)`` or raise if it is not a positive number."""
    return float(check_positive(sfreq, "sfreq", " (Hz)"))


def epochs_tags(tags):
    """Mark scikit-learn tags for an epochs -> anything transformer."""
    tags.input_tags.two_d_array = False
    tags.input_tags.three_d_array = True
    return tags


def channel_names(ch_names, n_channels):
    """Channel names given by the user, or ``ch0, ch1, ...``."""
    if ch_names is None:
        return [f"ch{i}" for i in range(n_channels)]
    names = [str(name) for name in ch_names]
    if len(names) != n_channels:
        raise ValueError(
            f"ch_names has {len(names)} names but X has {n_channels} channels."
        )
    return names


def spectral_feature_names(ch_names, freqs, band_names=None):
    """Feature names ``<channel>_<band>`` or ``<channel>_<freq>Hz``, channel-major.

    Shared by the spectral transformers, whose outputs are laid out
    (n_channels, n_bands or n_freqs) and flattened channel by channel.

    Returns
    -------
    names : ndarray of str, shape (n_channels * n_labels,)
    """
    labels = [f"{f:g}Hz" for f in freqs] if band_names is None else band_names
    return np.asarray([f"{ch}_{lab}" for ch in ch_names for lab in labels], dtype=object)
