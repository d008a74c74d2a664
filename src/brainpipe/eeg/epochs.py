"""Cue-locked epochs and trial covariances from preprocessed EEG runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._check import check_file, input_error
from ..io.atomic import write_npz, write_sidecar
from .preprocess import NON_TASK_PREFIXES


def load_epochs(fif_files, *, tmin=0.5, tmax=3.5, fmin=8.0, fmax=30.0):
    """Cut cue-locked epochs from preprocessed runs of one session.

    Parameters
    ----------
    fif_files : list of path-like
        Preprocessed runs (``*_desc-preproc_eeg.fif``) whose annotations mark
        the cues.
    tmin, tmax : float
        Epoch window relative to each cue (s).
    fmin, fmax : float | None
        Band-pass applied to the continuous run before epoching (``None``
        skips an edge), so filter edges do not fall inside the epochs.

    Returns
    -------
    X : ndarray, shape (n_trials, n_channels, n_times)
        Epochs in volts.
    y : ndarray of str, shape (n_trials,)
        Class labels (annotation descriptions).
    runs : ndarray of int, shape (n_trials,)
        Index of the run (in ``fif_files``) each trial came from.
    info : mne.Info
        Measurement info of the first run.
    """
    import mne

    X, y, runs, info = [], [], [], None
    for i, path in enumerate(fif_files):
        path = check_file(path, "preprocessed EEG")
        raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
        if fmin is not None or fmax is not None:
            raw.filter(fmin, fmax, verbose="error")
        descs = sorted({d for d in raw.annotations.description if not d.startswith(NON_TASK_PREFIXES)})
        if not descs:
            raise input_error(path, "has no task annotations to epoch on")
        events, event_id = mne.events_from_annotations(raw, event_id={d: j + 1 for j, d in enumerate(descs)}, verbose="error")
        epochs = mne.Epochs(
            raw, events, event_id, tmin=tmin, tmax=tmax, baseline=None, preload=True, verbose="error"
        )
        if len(epochs) == 0:
            raise input_error(path, f"no complete epochs in [{tmin}, {tmax}] s around the cues")
        if info is not None and epochs.ch_names != info.ch_names:
            raise input_error(path, f"channels differ from the first run's ({info.ch_names})")
        info = info or epochs.info
        inv = {v: k for k, v in epochs.event_id.items()}
        X.append(epochs.get_data(copy=False))
        y.extend(inv[c] for c in epochs.events[:, 2])
        runs.extend([i] * len(epochs))
    return np.concatenate(X), np.asarray(y), np.asarray(runs), info


def session_covariances(fif_files, out_npz, *, tmin=0.5, tmax=3.5, fmin=8.0, fmax=30.0, estimator="oas", fragment=None):
    """Write the trial covariance matrices of one session (pyriemann).

    Parameters
    ----------
    fif_files : list of path-like
        Preprocessed runs of the session.
    out_npz : path-like
        Output ``.npz`` with ``covs`` (n_trials, n_channels, n_channels),
        ``labels``, ``runs`` and ``ch_names``.
    tmin, tmax, fmin, fmax : float
        See :func:`load_epochs`.
    estimator : str
        pyriemann covariance estimator ("scm", "cov", "oas", "lwf").
    fragment : path-like | None
        Report fragment to write (section "EEG features").
    """
    from pyriemann.estimation import Covariances

    X, y, runs, info = load_epochs(fif_files, tmin=tmin, tmax=tmax, fmin=fmin, fmax=fmax)
    covs = Covariances(estimator=estimator).fit_transform(X)
    write_npz(out_npz, covs=covs, labels=y, runs=runs, ch_names=np.asarray(info.ch_names))
    write_sidecar(out_npz, fif_files, Description="Trial covariance matrices", Estimator=estimator,
                  EpochWindow=[tmin, tmax], Band=[fmin, fmax], NumberOfTrials=int(len(y)))
    if fragment is not None:
        _covariance_fragment(covs, y, info.ch_names, Path(out_npz), fragment)
    return covs, y


def _covariance_fragment(covs, y, ch_names, out_npz, fragment):
    from pyriemann.geometry.mean import mean_riemann

    from ..io.figures import new_subplots, save_figure
    from ..io.fragments import fragment_item, write_fragment

    classes = sorted(set(y))
    fig, axes = new_subplots(1, len(classes), figsize=(4 * len(classes), 3.6), squeeze=False)
    for ax, cls in zip(axes[0], classes):
        mean = mean_riemann(covs[y == cls])
        im = ax.imshow(mean, cmap="RdBu_r", vmin=-np.abs(mean).max(), vmax=np.abs(mean).max())
        ax.set_title(f"{cls} (n={int((y == cls).sum())})")
        ax.set_xticks(range(len(ch_names)), ch_names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(ch_names)), ch_names, fontsize=6)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.suptitle("Riemannian mean covariance per class")
    png = Path(fragment).parent / out_npz.name.replace("_features.npz", "_mean.png")
    save_figure(fig, png, dpi=80)
    session = out_npz.name.split("_task-")[0]
    write_fragment(fragment, "EEG features", [
        fragment_item("image", f"{session}: class-mean covariances", path=png,
                      caption=f"Mean covariance matrix of each class over the session's {len(y)} trials "
                              f"({len(ch_names)} channels, band-passed epochs): differences between the "
                              "classes over the sensorimotor channels are what the covariance pipelines "
                              "decode."),
    ], order=30)
