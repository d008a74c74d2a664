"""Bad EEG channels: flat and noisy detection, and the one policy applied to them.

Preprocessing (:func:`brainpipe.eeg.preprocess.preprocess_eeg_run`) and the
pseudo-online runs (:mod:`brainpipe.bci.runs`) both call
:func:`handle_bad_channels`, so a channel is treated the same way wherever
the recording is read; what was done is recorded in the sidecar.
"""

from __future__ import annotations

import logging

import numpy as np

from .._check import input_error

logger = logging.getLogger(__name__)

__all__ = ["find_bad_channels", "check_finite", "handle_bad_channels"]


def find_bad_channels(raw, flat_threshold=1e-7, noisy_z=5.0):
    """Find flat and noisy EEG channels.

    A channel is flat when its standard deviation is below ``flat_threshold``
    (volts); noisy when its log standard deviation is more than ``noisy_z``
    robust z-scores (median/MAD) away from the other channels'. The robust
    statistics keep one very bad channel from hiding others.

    Parameters
    ----------
    raw : mne.io.Raw
        Continuous EEG (filtered first, so drifts do not dominate).
    flat_threshold : float
        Standard deviation (V) below which a channel is flat.
    noisy_z : float
        Robust z-score of log standard deviation above which a channel is noisy.

    Returns
    -------
    flat : list of str
    noisy : list of str
    """
    picks = raw.copy().pick("eeg")
    data = picks.get_data()
    std = data.std(axis=1)
    names = np.array(picks.ch_names)
    flat = names[std < flat_threshold].tolist()
    ok = std >= flat_threshold
    noisy = []
    if ok.sum() >= 3:
        log_std = np.log(std[ok])
        med = np.median(log_std)
        mad = np.median(np.abs(log_std - med)) * 1.4826
        if mad > 0:
            z = np.abs(log_std - med) / mad
            noisy = names[ok][z > noisy_z].tolist()
    return flat, noisy


def check_finite(raw, source):
    """Raise naming ``source`` and the channels if the EEG holds NaN or inf.

    Parameters
    ----------
    raw : mne.io.Raw
        Loaded recording.
    source : path-like | str
        The file (or dataset and run) named in the error.
    """
    picks = raw.copy().pick("eeg", exclude=[])
    data = picks.get_data()
    if data.size == 0:
        raise input_error(source, "has no EEG channels")
    finite = np.isfinite(data)
    if not finite.all():
        bad = [picks.ch_names[i] for i in np.where(~finite.all(axis=1))[0]]
        raise input_error(
            source,
            f"contains NaN or infinite samples in channels {bad}; repair or drop them "
            "(e.g. status 'bad' in channels.tsv does not fix the samples)",
        )


def _has_position(raw, name):
    loc = raw.info["chs"][raw.ch_names.index(name)]["loc"][:3]
    return bool(np.all(np.isfinite(loc)) and np.any(loc != 0))


def handle_bad_channels(raw, source, *, flat_threshold=1e-7, noisy_z=5.0, interpolate_bads=True, detect_on=None):
    """Find flat and noisy EEG channels, then interpolate or drop them.

    The one bad-channel policy of brainpipe, used by preprocessing and by
    the pseudo-online run loading. A channel with a montage position is
    interpolated (spherical splines, when ``interpolate_bads``) or dropped; a
    channel without a position cannot be interpolated and is always dropped
    (interpolating it would write an all-NaN channel).

    Parameters
    ----------
    raw : mne.io.Raw
        Loaded EEG, modified in place.
    source : path-like | str
        Named in errors.
    flat_threshold, noisy_z : float
        See :func:`find_bad_channels`.
    interpolate_bads : bool
        Interpolate bad channels that have positions (else drop them).
    detect_on : mne.io.Raw | None
        Recording to compute the statistics on (e.g. a high-passed copy of a
        raw run); default ``raw`` itself.

    Returns
    -------
    record : dict
        ``flat``, ``noisy``, ``marked`` (already in ``raw.info["bads"]``, e.g.
        status "bad" in channels.tsv), ``interpolated`` and ``dropped``
        channel names (lists), for the output's sidecar.

    Raises
    ------
    BrainpipeInputError
        When more than half of the channels are bad, or too few good
        channels with positions are left to interpolate from.
    """
    marked = [c for c in raw.info["bads"] if c in raw.ch_names]
    flat, noisy = find_bad_channels(detect_on if detect_on is not None else raw, flat_threshold, noisy_z)
    bads = sorted(set(flat) | set(noisy) | set(marked))
    n_eeg = len(raw.copy().pick("eeg", exclude=[]).ch_names)
    if len(bads) > n_eeg // 2:
        raise input_error(source, f"more than half of the channels are flat or noisy: {bads}")
    with_pos = [c for c in bads if _has_position(raw, c)]
    interpolated = with_pos if interpolate_bads else []
    dropped = [c for c in bads if c not in interpolated]
    if dropped:
        logger.warning("%s: dropping bad channels %s (%s)", source, dropped,
                       "no montage position" if interpolate_bads else "interpolate_bads is off")
        raw.drop_channels(dropped)
    raw.info["bads"] = []
    if interpolated:
        eeg_names = raw.copy().pick("eeg", exclude=[]).ch_names
        unplaced = [c for c in eeg_names if not _has_position(raw, c)]
        good_with_pos = [c for c in eeg_names if c not in bads and c not in unplaced]
        if len(good_with_pos) < 4:
            raise input_error(
                source,
                f"cannot interpolate {interpolated}: only {len(good_with_pos)} good channels have "
                "montage positions (set interpolate_bads: false to drop bad channels instead)",
            )
        raw.info["bads"] = list(interpolated)
        # channels without positions can neither be interpolated nor help
        raw.interpolate_bads(reset_bads=True, exclude=unplaced, verbose="error")
        if not np.all(np.isfinite(raw.get_data(picks=interpolated))):
            raise input_error(source, f"interpolating {interpolated} gave non-finite values")
        raw.info["bads"] = []
    return {"flat": flat, "noisy": noisy, "marked": marked, "interpolated": interpolated, "dropped": dropped}
