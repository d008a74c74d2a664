"""Continuous runs of one subject: the recordings the pseudo-online evaluation replays.

:class:`ContinuousRun` holds one run's EEG and its task periods;
:func:`run_from_raw` builds one from an MNE raw (cues from annotations or a
stim channel, bad channels handled as EEG preprocessing does) and
:func:`load_runs` reads every run of a subject from preprocessed FIF files, a
BIDS root or a MOABB dataset; :func:`check_same_montage` refuses runs that do
not share channels and sampling rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import input_error

log = logging.getLogger(__name__)

__all__ = ["ContinuousRun", "check_same_montage", "load_runs", "run_from_raw"]


@dataclass
class ContinuousRun:
    """One continuous run and its task periods.

    Attributes
    ----------
    subject, session, run : str
        Identifiers written in the results.
    data : ndarray, shape (n_channels, n_times)
        The EEG in volts, float64.
    sfreq : float
        Sampling frequency (Hz).
    events : DataFrame
        Task periods: ``onset`` (s from the first sample, the task start),
        ``duration`` (s), ``trial_type``. Everything else is idle.
    ch_names : list of str
    source : str
        Where the run came from (file name or dataset code).
    bad_channels : dict
        What :func:`brainpipe.eeg.preprocess.handle_bad_channels` did
        (flat, noisy, marked, interpolated, dropped channel names); empty
        when no handling was asked for.
    """

    subject: str
    session: str
    run: str
    data: np.ndarray
    sfreq: float
    events: pd.DataFrame
    ch_names: list = field(default_factory=list)
    source: str = ""
    bad_channels: dict = field(default_factory=dict)

    @property
    def n_times(self):
        return self.data.shape[1]


def run_from_raw(raw, subject, session, run, *, event_id=None, tmin=0.0, tmax=None, source="",
                 bad_channels=None):
    """Build a :class:`ContinuousRun` from an MNE raw.

    Cues come from the annotations whose description is in ``event_id``
    (our FIF/BIDS runs); when none is found and ``event_id`` is given, from
    the stim channel (MOABB datasets such as ``FakeDataset`` and BNCI).

    Parameters
    ----------
    raw : mne.io.Raw
        Continuous recording (EEG channels are kept, bad channels dropped).
    subject, session, run : str
        Identifiers.
    event_id : dict of str to int | None
        Cue names and stim codes. None takes every annotation that is not
        ``BAD*``/``EDGE*``.
    tmin, tmax : float | None
        Task period relative to the cue (s); ``tmax=None`` uses the cue
        annotation's duration.
    source : str
        Name of the file or dataset, for messages.
    bad_channels : dict | None
        Handle flat, noisy and marked bad channels as EEG preprocessing
        does (keys ``flat_threshold``, ``noisy_z``, ``interpolate_bads`` of
        :func:`brainpipe.eeg.preprocess.handle_bad_channels`, and ``l_freq``,
        ``h_freq`` of the band-passed copy the statistics are computed on).
        None drops the channels marked bad and detects nothing. NaN or
        infinite samples stop with an error naming ``source`` either way.

    Returns
    -------
    run : ContinuousRun
    """
    import mne

    sfreq = float(raw.info["sfreq"])
    ann = raw.annotations
    names = list(event_id) if event_id is not None else None
    keep = [
        (d in names) if names is not None else not d.upper().startswith(("BAD", "EDGE"))
        for d in ann.description
    ]
    if any(keep):
        # time_as_index handles both annotation origins (meas_date or first sample)
        idx = raw.time_as_index(ann.onset[keep], use_rounding=True, origin=ann.orig_time)
        cues = pd.DataFrame(
            {
                "onset": idx / sfreq,
                "duration": np.asarray(ann.duration[keep], dtype=float),
                "trial_type": np.asarray(ann.description)[keep],
            }
        )
    elif event_id is not None and len(mne.pick_types(raw.info, meg=False, stim=True)):
        ev = mne.find_events(raw, shortest_event=0, initial_event=True, verbose="error")
        inv = {v: k for k, v in event_id.items()}
        ev = ev[np.isin(ev[:, 2], list(inv))]
        cues = pd.DataFrame(
            {
                "onset": (ev[:, 0] - raw.first_samp) / sfreq,
                "duration": np.zeros(len(ev)),
                "trial_type": [inv[c] for c in ev[:, 2]],
            }
        )
    else:
        raise input_error(source or "raw", f"no cues {names or ''} in annotations or stim channel")
    if cues.empty:
        raise input_error(source or "raw", f"no cues {names or ''} found")
    start = cues["onset"] + float(tmin or 0.0)
    if tmax is None:
        if (cues["duration"] <= 0).any():
            raise input_error(
                source or "raw",
                "cues have no duration; set tmax (task end after the cue, s)",
            )
        duration = cues["duration"] - float(tmin or 0.0)
    else:
        duration = pd.Series(float(tmax) - float(tmin or 0.0), index=cues.index)
    events = pd.DataFrame(
        {"onset": start, "duration": duration, "trial_type": cues["trial_type"]}
    ).reset_index(drop=True)
    raw, record = _clean_channels(raw, source or "raw", bad_channels)
    picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
    if len(picks) == 0:
        raise input_error(source or "raw", "has no good EEG channels")
    data = raw.get_data(picks=picks).astype(np.float64, copy=False)
    return ContinuousRun(
        subject=str(subject),
        session=str(session),
        run=str(run),
        data=data,
        sfreq=sfreq,
        events=events,
        ch_names=[raw.ch_names[i] for i in picks],
        source=str(source),
        bad_channels=record,
    )


def _clean_channels(raw, source, bad_channels):
    """EEG channels of ``raw`` with NaN checked and bad channels handled.

    Returns a new raw (the caller's is left alone) and the record of what
    was done; see :func:`run_from_raw`.
    """
    from ..eeg.integrity import check_recording
    from ..eeg.preprocess import check_finite, handle_bad_channels

    fname = Path(raw.filenames[0]) if raw.filenames and raw.filenames[0] else None
    if fname is not None and fname.suffix.lower() == ".eeg":  # BrainVision data: its header
        fname = fname.with_suffix(".vhdr")
    if fname is not None and fname.suffix.lower() in (".vhdr", ".edf", ".bdf") and fname.exists():
        # a BIDS recording cut short: refuse it, as preprocessing does
        check_recording(fname, n_samples=raw.n_times, sfreq=raw.info["sfreq"])
    raw = raw.copy().pick("eeg", exclude=[])
    check_finite(raw, source)
    if bad_channels is None:
        return raw, {}
    unknown = set(bad_channels) - {"flat_threshold", "noisy_z", "interpolate_bads", "l_freq", "h_freq"}
    if unknown:
        raise ValueError(f"Unknown bad_channels keys {sorted(unknown)} (pseudo-online config).")
    l_freq, h_freq = bad_channels.get("l_freq"), bad_channels.get("h_freq")
    detect_on = raw
    if l_freq is not None or h_freq is not None:
        detect_on = raw.copy().filter(l_freq, h_freq, verbose="error")
    record = handle_bad_channels(
        raw, source, flat_threshold=bad_channels.get("flat_threshold", 1e-7),
        noisy_z=bad_channels.get("noisy_z", 5.0),
        interpolate_bads=bad_channels.get("interpolate_bads", True), detect_on=detect_on,
    )
    return raw, record


def _common_channels(runs):
    """Restrict runs to their shared channels when bad-channel drops made them differ."""
    if all(r.ch_names == runs[0].ch_names for r in runs):
        return runs
    dropped = {c for r in runs for c in r.bad_channels.get("dropped", [])}
    common = [c for c in runs[0].ch_names if all(c in r.ch_names for r in runs)]
    if any(set(r.ch_names) - set(common) - dropped for r in runs):
        return runs  # differ for another reason: check_same_montage names the run
    out = []
    for r in runs:
        idx = [r.ch_names.index(c) for c in common]
        extra = [c for c in r.ch_names if c not in common]
        record = {**r.bad_channels, "dropped_in_other_runs": extra}
        out.append(ContinuousRun(r.subject, r.session, r.run, r.data[idx], r.sfreq, r.events,
                                 common, r.source, record))
    log.warning("channels %s were dropped in some runs: every run keeps only %d shared channels",
                sorted(dropped), len(common))
    return out


def load_runs(inputs, subject, *, tmin=None, tmax=None, task="imagery", events=None, bad_channels=None,
              recordings=None):
    """Read every continuous run of one subject.

    Parameters
    ----------
    inputs : list of path-like | path-like | str | moabb dataset
        Preprocessed FIF files (``sub-XX_ses-Y_task-imagery_run-Z_desc-preproc_eeg.fif``,
        cues as annotations), a BIDS root, a MOABB dataset name
        (``"BNCI2014_001"``) or a MOABB dataset object (e.g. ``FakeDataset``).
    subject : int | str
        Subject number or BIDS label.
    tmin, tmax : float | None
        Task period after each cue (s); None takes ``dataset.interval``.
    task : str
        BIDS task (FIF / BIDS root inputs).
    events : dict | list | None
        Cue names (FIF / BIDS root inputs); None keeps the dataset default.
    bad_channels : dict | None
        Bad-channel handling of every run (see :func:`run_from_raw`). When a
        channel is dropped in one run, every run of the subject drops it.
    recordings : list of path-like | None
        With a BIDS root: evaluate only these recordings of the subject (the
        runs a workflow rule declares as its inputs); each must be one of the
        subject's runs. None takes every run.

    Returns
    -------
    runs : list of ContinuousRun
        Sorted by session then run.
    """
    from moabb.datasets.base import BaseDataset

    from .dataset import get_dataset, resolve_subject

    if isinstance(inputs, BaseDataset):
        dataset = inputs
    else:
        if isinstance(inputs, (list, tuple)):
            inputs = [str(p) for p in inputs]
        params = {}
        if isinstance(inputs, list) or Path(str(inputs)).exists():
            params["task"] = task
            if events is not None:
                params["events"] = events
        dataset = get_dataset(inputs, **params)
    number = resolve_subject(dataset, subject)
    interval = list(getattr(dataset, "interval", None) or [0.0, None])
    tmin = interval[0] if tmin is None else tmin
    tmax = interval[1] if tmax is None else tmax
    label = (
        dataset.subject_label(number) if hasattr(dataset, "subject_label") else f"{number:02d}"
    )
    data = dataset.get_data(subjects=[number])[number]
    wanted = None if recordings is None else {Path(p).resolve(): str(p) for p in recordings}
    runs, found = [], set()
    for session in sorted(data):
        for run in sorted(data[session]):
            source = _run_source(data[session][run], dataset, label, session, run)
            if wanted is not None:
                if Path(source).resolve() not in wanted:
                    continue
                found.add(Path(source).resolve())
            runs.append(
                run_from_raw(
                    data[session][run],
                    label,
                    session,
                    run,
                    event_id=dataset.event_id,
                    tmin=tmin,
                    tmax=tmax,
                    source=source,
                    bad_channels=bad_channels,
                )
            )
    if wanted is not None:
        for path in sorted(set(wanted) - found):
            raise input_error(wanted[path], f"is not one of the EEG runs of subject {label} in the dataset")
    runs = _common_channels(runs)
    check_same_montage(runs)
    return runs


def _run_source(raw, dataset, label, session, run):
    """The run's file when it has one (BIDS/FIF inputs), else dataset and keys."""
    fname = Path(raw.filenames[0]) if raw.filenames and raw.filenames[0] else None
    if fname is not None and fname.suffix.lower() == ".eeg":
        fname = fname.with_suffix(".vhdr")
    return str(fname) if fname is not None else f"{dataset.code} sub-{label} ses-{session} run-{run}"


def check_same_montage(runs):
    """Raise naming the run whose channels or sampling rate differ from the first run's."""
    first = runs[0]
    for r in runs[1:]:
        if r.ch_names != first.ch_names:
            raise input_error(
                r.source,
                f"channels differ from {first.source}: {r.ch_names} vs {first.ch_names}",
            )
        if not np.isclose(r.sfreq, first.sfreq):
            raise input_error(r.source, f"sfreq {r.sfreq} differs from {first.sfreq} ({first.source})")
