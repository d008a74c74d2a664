"""The TFM tokenizer's data: continuous EEG runs, single-channel windows, cue-locked epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._check import input_error

__all__ = ["cue_epochs", "cut_windows", "load_continuous_runs"]


def load_continuous_runs(paths):
    """Read preprocessed EEG runs (FIF): data, rate, channel names and cues.

    Parameters
    ----------
    paths : list of path-like

    Returns
    -------
    runs : list of dict
        ``data`` (n_chans, n_times) float64 in volts (good EEG channels),
        ``sfreq``, ``ch_names``, ``cues`` (list of ``(onset_s, description)``
        of the non-``BAD``/``EDGE`` annotations), ``path``.
    """
    import mne

    runs = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise input_error(p, "preprocessed EEG run does not exist")
        raw = mne.io.read_raw_fif(p, preload=True, verbose="error")
        picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
        if len(picks) == 0:
            raise input_error(p, "has no good EEG channels")
        data = raw.get_data(picks=picks)
        if not np.isfinite(data).all():
            raise input_error(p, "contains NaN or infinite samples")
        ann = raw.annotations
        onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time) / raw.info["sfreq"] \
            if len(ann) else np.zeros(0)
        cues = [(float(o), str(d)) for o, d in zip(onsets, ann.description)
                if not str(d).upper().startswith(("BAD", "EDGE"))]
        runs.append({"data": data, "sfreq": float(raw.info["sfreq"]),
                     "ch_names": [raw.ch_names[i] for i in picks], "cues": cues, "path": str(p)})
    if not runs:
        raise ValueError("No EEG runs given to the TFM tokenizer step.")
    for r in runs[1:]:
        if not np.isclose(r["sfreq"], runs[0]["sfreq"]):
            raise input_error(r["path"], f"sfreq {r['sfreq']} Hz differs from {runs[0]['sfreq']} Hz "
                                         f"({runs[0]['path']}); resample all runs to one rate")
    return runs


def cut_windows(runs, window_s):
    """Non-overlapping windows of every channel of every run, as single-channel rows.

    Returns
    -------
    rows : ndarray, shape (n_rows, n_window) float32
    """
    out = []
    for r in runs:
        w = int(round(window_s * r["sfreq"]))
        n = r["data"].shape[1] // w
        if n == 0:
            continue
        x = r["data"][:, : n * w].reshape(r["data"].shape[0], n, w).transpose(1, 0, 2)
        out.append(x.reshape(-1, w))
    if not out:
        raise ValueError(f"Every run is shorter than one window of {window_s} s.")
    return np.concatenate(out).astype(np.float32)


def cue_epochs(runs, window_s, classes=None):
    """Cue-locked epochs ``[cue, cue + window_s)`` of runs that share one montage.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_chans, n_window) float32
    y : ndarray of str, shape (n_epochs,)
    ch_names : list of str
    """
    ch_names = runs[0]["ch_names"]
    X, y = [], []
    for r in runs:
        if r["ch_names"] != ch_names:
            continue  # per-class figures need one montage; other runs are skipped
        w = int(round(window_s * r["sfreq"]))
        for onset, desc in r["cues"]:
            if classes is not None and desc not in classes:
                continue
            s = int(round(onset * r["sfreq"]))
            if s >= 0 and s + w <= r["data"].shape[1]:
                X.append(r["data"][:, s : s + w])
                y.append(desc)
    if not X:
        return None, np.zeros(0, dtype=str), ch_names
    return np.stack(X).astype(np.float32), np.asarray(y), ch_names
