"""Pseudo-online BCI evaluation on continuous runs (Carrara et al.).

The usual offline evaluation scores a classifier on cue-locked task epochs
only. An online BCI instead decides on every window of the continuous signal,
including the long stretches where the user does nothing. The pseudo-online
framework of Carrara et al. ("Pseudo-online framework for BCI evaluation: a
MOABB perspective") replays recorded runs that way:

* every run is cut into overlapping sliding windows (``window`` seconds long,
  ``step`` seconds apart);
* every window is labelled with a task class or ``"idle"``
  (:mod:`brainpipe.bci.labels`);
* a pipeline is trained on the task and idle windows of the training runs
  (windows lying wholly inside a task period or an idle stretch) and then
  decides on *every* window of a held-out run, in time order;
* decisions are scored with the normalised MCC and the Wolpaw ITR
  (:mod:`brainpipe.bci.metrics`), next to the offline epoch score of the same
  pipeline on the same split.

Causality. Window ``k`` uses samples ``[k * step, k * step + window)`` and
nothing after; its decision time is the window's end. Nothing is normalised
with statistics of the test run. Two things upstream can still see the
future, and we say so in every output:

* our preprocessing (``brainpipe.eeg.preprocess``) band-passes the whole run
  with MNE's default zero-phase FIR filter, which uses future samples (up to
  half the filter length); bad-channel detection and re-referencing use
  whole-run statistics. Set ``causal_filter`` to band-pass every run here
  with a forward-only IIR filter (``mne.filter.filter_data`` with
  ``method="iir", phase="forward"``), what an online system would run. For a
  strictly causal replay, also give runs that were not band-passed
  upstream (e.g. the raw BIDS recordings);
* a forward IIR filter over a whole run gives exactly the output of the
  same filter run chunk by chunk with its state carried over, so filtering
  the run in one call is an online computation.

Streaming. Windows are never all in memory. Pipelines whose first step
computes covariances (pyriemann ``Covariances``, MOABB ``AugmentedDataset`` +
``Covariances``, brainpipe ``AugmentedCovariances``) are split into that step,
replaced by :func:`brainpipe.kernels.iter_window_covariances` with the same
estimator, order and lag, and the rest of the pipeline, applied chunk by
chunk. Other pipelines (CSP on raw windows, PSD, coherence) get chunks of the
zero-copy :func:`brainpipe.kernels.sliding_windows` view. The time spent
making windows/covariances and the time spent in the classifier are logged
per pipeline.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix
from sklearn.pipeline import Pipeline

from .._check import check_option, check_positive_int, input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from .labels import IDLE, sample_labels, task_classes, window_coverage, window_labels
from .smoothing import SMOOTHING_METHODS, smooth_decisions

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CONFIG",
    "RESULT_COLUMNS",
    "SCORE_COLUMNS",
    "TIMING_COLUMNS",
    "ContinuousRun",
    "PseudoOnlineResult",
    "WindowDecoder",
    "causal_bandpass",
    "decisions_table",
    "evaluate_pseudo_online",
    "load_runs",
    "offline_epochs",
    "resolve_config",
    "run_from_raw",
    "run_pseudo_online",
    "run_pseudo_online_group",
    "split_covariance_step",
    "training_windows",
]

EVALUATIONS = ("within-session", "cross-session")

#: Columns of :attr:`PseudoOnlineResult.scores`, in order.
RESULT_COLUMNS = (
    "subject",
    "session",
    "run",
    "pipeline",
    "mode",
    "nmcc",
    "itr",
    "accuracy",
    "balanced_accuracy",
    "n_windows",
    "smoothing",
    "evaluation",
    "n_classes",
    "seconds_per_decision",
    "fit_s",
    "window_s",
    "classify_s",
)

#: Timings (s): they differ between identical runs, so they are written to
#: ``*_timing.tsv`` beside the scores, keyed by the identifying columns.
TIMING_COLUMNS = ("fit_s", "window_s", "classify_s")
#: Columns of the results TSV: two identical runs give identical bytes.
SCORE_COLUMNS = tuple(c for c in RESULT_COLUMNS if c not in TIMING_COLUMNS)
#: Columns that identify a row of the scores (and of the timing table).
KEY_COLUMNS = ("subject", "session", "run", "pipeline", "mode", "smoothing", "evaluation")

#: Defaults of the ``bci.pseudo_online`` config section (every knob).
DEFAULT_CONFIG = {
    # pipelines: names of brainpipe.bci.pipelines.make_pipeline, or a dict
    # name -> parameters (or name -> ready scikit-learn estimator in Python)
    "pipelines": ["csp_lda", "ts_svm", "mdm"],
    # trained TFM tokenizer file for tfm_transformer pipelines (tokenizer: group);
    # the workflow fills it in from the group tokenizer rule
    "tfm_tokenizer": None,
    "window": 1.0,  # window length (s)
    "step": 0.1,  # step between windows (s): one decision per step
    "train_step": 0.25,  # step of the training windows (s); None = step
    "min_overlap": 0.5,  # task fraction a window needs for a task label; None = plurality
    "tmin": None,  # task start after the cue (s); None = the dataset's interval
    "tmax": None,  # task end after the cue (s); None = the dataset's interval
    "classes": None,  # task classes; None = the dataset's events
    "evaluations": list(EVALUATIONS),
    "smoothing": [5, 10],  # extra rows: causal smoothing over k windows
    "smoothing_method": "vote",  # "vote" | "proba"
    "causal_filter": None,  # e.g. {"l_freq": 8.0, "h_freq": 30.0, "order": 4}
    "idle_ratio": 1.0,  # training idle windows <= ratio x mean task-class count; None = all
    "offline": True,  # also score offline task epochs on the same split
    "chunk": 256,  # windows per chunk
    "backend": "auto",  # kernels backend
    "use_kernels": True,  # covariance pipelines through the streaming kernels
    "task": "imagery",  # BIDS task (BIDS root / FIF inputs)
    "events": None,  # cue names -> codes (BIDS/FIF inputs); None = dataset default
    # bad channels of each run, handled as EEG preprocessing does (the
    # eeg.preprocess keys; l_freq/h_freq only band the copy the statistics
    # are computed on); None skips the handling (NaN samples still stop)
    "bad_channels": {"flat_threshold": 1e-7, "noisy_z": 5.0, "interpolate_bads": True,
                     "l_freq": 1.0, "h_freq": 40.0},
}


# --------------------------------------------------------------------------
# Continuous runs
# --------------------------------------------------------------------------
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
        return runs  # differ for another reason: _check_same_montage names the run
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


def load_runs(inputs, subject, *, tmin=None, tmax=None, task="imagery", events=None, bad_channels=None):
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
    runs = []
    for session in sorted(data):
        for run in sorted(data[session]):
            runs.append(
                run_from_raw(
                    data[session][run],
                    label,
                    session,
                    run,
                    event_id=dataset.event_id,
                    tmin=tmin,
                    tmax=tmax,
                    source=_run_source(data[session][run], dataset, label, session, run),
                    bad_channels=bad_channels,
                )
            )
    runs = _common_channels(runs)
    _check_same_montage(runs)
    return runs


def _run_source(raw, dataset, label, session, run):
    """The run's file when it has one (BIDS/FIF inputs), else dataset and keys."""
    fname = Path(raw.filenames[0]) if raw.filenames and raw.filenames[0] else None
    if fname is not None and fname.suffix.lower() == ".eeg":
        fname = fname.with_suffix(".vhdr")
    return str(fname) if fname is not None else f"{dataset.code} sub-{label} ses-{session} run-{run}"


def _check_same_montage(runs):
    first = runs[0]
    for r in runs[1:]:
        if r.ch_names != first.ch_names:
            raise input_error(
                r.source,
                f"channels differ from {first.source}: {r.ch_names} vs {first.ch_names}",
            )
        if not np.isclose(r.sfreq, first.sfreq):
            raise input_error(r.source, f"sfreq {r.sfreq} differs from {first.sfreq} ({first.source})")


def causal_bandpass(data, sfreq, l_freq=None, h_freq=None, order=4):
    """Band-pass a continuous signal with a forward-only (causal) IIR filter.

    A Butterworth filter (second-order sections) applied once forward, from a
    zero initial state: the output at sample ``t`` depends on samples ``<= t``
    only, exactly what an online system filtering chunk by chunk computes.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
    sfreq : float
    l_freq, h_freq : float | None
        Pass-band edges (Hz); None skips that edge.
    order : int
        Butterworth order.

    Returns
    -------
    filtered : ndarray, shape (n_channels, n_times)
    """
    import mne

    return mne.filter.filter_data(
        data,
        sfreq,
        l_freq,
        h_freq,
        method="iir",
        phase="forward",
        iir_params=dict(order=int(order), ftype="butter", output="sos"),
        verbose="error",
    )


# --------------------------------------------------------------------------
# Pipelines over sliding windows
# --------------------------------------------------------------------------
def split_covariance_step(pipeline):
    """Find the covariance step at the front of a pipeline.

    Recognised fronts: pyriemann ``Covariances(estimator)``; MOABB
    ``AugmentedDataset(order, lag)`` followed by ``Covariances``; an
    ``AugmentedCovariances(order, lag, estimator)`` step (brainpipe.features).
    Estimators other than those of the kernels ("scm", "cov", "oas", "lwf")
    or extra ``Covariances`` keywords are not recognised.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline | estimator

    Returns
    -------
    spec : dict | None
        ``{"estimator": str, "order": int, "lag": int}``, or None.
    n_steps : int
        Number of leading steps the kernels replace (0 when ``spec`` is None).
    """
    if not isinstance(pipeline, Pipeline):
        return None, 0
    steps = [est for _, est in pipeline.steps]
    order, lag, k = 1, 1, 0
    if type(steps[0]).__name__ == "AugmentedDataset":
        params = steps[0].get_params()
        order, lag, k = int(params["order"]), int(params["lag"]), 1
    if k >= len(steps):
        return None, 0
    step = steps[k]
    name = type(step).__name__
    if name == "Covariances":
        if getattr(step, "kwds", None):
            return None, 0
        estimator = step.get_params()["estimator"]
    elif name == "AugmentedCovariances" and k == 0:
        params = step.get_params()
        estimator = params.get("estimator", "scm")
        order, lag = params.get("order", 1), params.get("lag", 1)
        if not all(isinstance(v, (int, np.integer)) for v in (order, lag)):
            return None, 0  # chosen at fit time: not known before
        order, lag = int(order), int(lag)
    else:
        return None, 0
    if not isinstance(estimator, str) or estimator not in ("scm", "cov", "oas", "lwf"):
        return None, 0
    return {"estimator": estimator, "order": order, "lag": lag}, k + 1


class WindowDecoder:
    """A scikit-learn pipeline applied to the sliding windows of continuous runs.

    Parameters
    ----------
    pipeline : estimator
        Works on epochs ``(n_windows, n_channels, window)``.
    window, step : int
        Window length and step in samples (decisions every ``step``).
    chunk : int
        Windows processed together.
    backend : str
        Backend of :func:`brainpipe.kernels.iter_window_covariances`.
    use_kernels : bool
        Replace a covariance front (:func:`split_covariance_step`) by the
        streaming kernels. It is checked against the pipeline's own step on
        a few training windows; on a mismatch the decoder warns and falls
        back to windows.

    Attributes
    ----------
    mode_ : {"kernels", "windows"}
        How decisions are computed (a search fitted on windows still decides
        through the kernels when its refitted pipeline has a covariance front).
    spec_ : dict | None
        Covariance estimator, order and lag used by the kernels.
    estimator_ : estimator
        The fitted pipeline (its covariance front removed in "kernels" mode).
    classes_ : ndarray
    timing_ : dict
        ``fit_s``, and after :meth:`predict` ``window_s`` (making windows or
        covariances), ``classify_s`` (the rest of the pipeline), ``n_windows``.
    """

    def __init__(self, pipeline, window, step, *, chunk=256, backend="auto", use_kernels=True):
        self.pipeline = pipeline
        self.window = window
        self.step = step
        self.chunk = chunk
        self.backend = backend
        self.use_kernels = use_kernels

    # -- features, chunk by chunk --------------------------------------------
    def _chunks(self, x, step):
        """Yield ``(first_window_index, features)`` for all windows of ``x``, in time order."""
        from ..kernels import iter_window_covariances, sliding_windows

        chunk = check_positive_int(self.chunk, "chunk")
        if self.mode_ == "kernels":
            i0 = 0
            for covs in iter_window_covariances(
                x,
                self.window,
                step,
                chunk=chunk,
                order=self.spec_["order"],
                lag=self.spec_["lag"],
                estimator=self.spec_["estimator"],
                backend=self.backend,
            ):
                yield i0, covs
                i0 += len(covs)
        else:
            view = sliding_windows(x, self.window, step)
            for i0 in range(0, len(view), chunk):
                yield i0, np.ascontiguousarray(view[i0 : i0 + chunk])

    def _kernel_matches(self, front, xs, selections):
        """Compare the kernels with the pipeline's own covariance step on a few
        windows of the first training signal that has chosen windows."""
        from ..kernels import iter_window_covariances, sliding_windows

        first = next(i for i, (idx, _, _) in enumerate(selections) if len(idx))
        x, step = xs[first], selections[first][2]
        view = sliding_windows(x, self.window, step)
        n = min(4, len(view))
        # covariance fronts are stateless; MOABB's AugmentedDataset wants a y
        ref = front.fit_transform(np.ascontiguousarray(view[:n]), np.zeros(n))
        got = next(
            iter_window_covariances(
                x[:, : (n - 1) * step + self.window],
                self.window,
                step,
                chunk=n,
                order=self.spec_["order"],
                lag=self.spec_["lag"],
                estimator=self.spec_["estimator"],
                backend=self.backend,
            )
        )
        got = np.asarray(got)
        scale = np.abs(ref).max()
        return got.shape == ref.shape and np.allclose(got, ref, rtol=1e-6, atol=1e-9 * scale)

    def fit(self, xs, selections):
        """Fit on chosen windows of training runs.

        Parameters
        ----------
        xs : list of ndarray, shape (n_channels, n_times_i)
            Continuous training signals.
        selections : list of (ndarray of int, ndarray, int)
            Per signal: indices of the chosen windows among all windows at the
            given step, their labels, and that step (samples).

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        pipeline = clone(self.pipeline)
        spec, n_front = split_covariance_step(pipeline) if self.use_kernels else (None, 0)
        self.spec_ = spec
        self.mode_ = "kernels" if spec is not None else "windows"
        if spec is not None:
            if not self._kernel_matches(pipeline[:n_front], xs, selections):
                warnings.warn(
                    f"The streaming covariance kernels do not reproduce the first "
                    f"step(s) of {pipeline[:n_front]} exactly; using sliding windows "
                    "through the whole pipeline instead.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.mode_, self.spec_ = "windows", None
        self.estimator_ = pipeline[n_front:] if self.mode_ == "kernels" else pipeline
        feats, ys = [], []
        for x, (idx, y, step) in zip(xs, selections):
            idx = np.asarray(idx)
            if idx.size == 0:
                continue
            for i0, f in self._chunks(x, step):
                sel = idx[(idx >= i0) & (idx < i0 + len(f))] - i0
                if sel.size:
                    feats.append(np.asarray(f)[sel])
            ys.append(np.asarray(y))
        X, y = np.concatenate(feats), np.concatenate(ys)
        self.estimator_.fit(X, y)
        if self.mode_ == "windows" and self.use_kernels:
            self._stream_refitted(xs, selections)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.timing_ = {"fit_s": time.perf_counter() - t0}
        return self

    def _stream_refitted(self, xs, selections):
        """Stream the covariance front of a fitted search's refitted pipeline.

        A search (``AugmentedCovarianceSearchCV``, ``GridSearchCV``) needs
        windows to fit, as its order and lag are chosen then; once fitted, its
        ``best_estimator_`` has a fixed front that the kernels can replace
        for the decisions.
        """
        best = getattr(self.estimator_, "best_estimator_", None)
        spec, n_front = split_covariance_step(best) if best is not None else (None, 0)
        if spec is None:
            return
        self.spec_ = spec
        if self._kernel_matches(best[:n_front], xs, selections):
            self.mode_, self.estimator_ = "kernels", best[n_front:]
        else:
            self.spec_ = None

    def predict(self, x, *, proba=False):
        """Decide on every window of a continuous signal, in time order.

        Parameters
        ----------
        x : ndarray, shape (n_channels, n_times)
        proba : bool
            Also return class probabilities (None when the pipeline has no
            ``predict_proba``); the decisions are then their arg-max.

        Returns
        -------
        y_pred : ndarray, shape (n_windows,)
        proba : ndarray, shape (n_windows, n_classes) | None
        """
        has_proba = proba and hasattr(self.estimator_, "predict_proba")
        preds, probas = [], []
        t_win = t_clf = 0.0
        t0 = time.perf_counter()
        for _, f in self._chunks(x, self.step):
            t1 = time.perf_counter()
            t_win += t1 - t0
            if has_proba:
                p = self.estimator_.predict_proba(f)
                probas.append(p)
                preds.append(self.classes_[np.argmax(p, axis=1)])
            else:
                preds.append(self.estimator_.predict(f))
            t0 = time.perf_counter()
            t_clf += t0 - t1
        y_pred = np.concatenate(preds)
        self.timing_.update(window_s=t_win, classify_s=t_clf, n_windows=len(y_pred))
        return y_pred, (np.concatenate(probas) if has_proba else None)


# --------------------------------------------------------------------------
# Training sets
# --------------------------------------------------------------------------
def training_windows(run, window, step, classes, idle_ratio=1.0):
    """Pure task and idle windows of a training run.

    A window is kept when one label covers all of it: wholly inside a task
    period (the offline task epochs, cut as windows) or wholly inside an idle
    stretch (the idle epochs). Idle windows are thinned evenly in time to at
    most ``idle_ratio`` times the mean count of a task class.

    Parameters
    ----------
    run : ContinuousRun
    window, step : int
        Window length and step in samples.
    classes : tuple of str
        Task classes.
    idle_ratio : float | None
        None keeps every idle window.

    Returns
    -------
    idx : ndarray of int, shape (n_kept,)
        Indices among ``window_starts(run.n_times, window, step)``.
    y : ndarray of str, shape (n_kept,)
    """
    from ..kernels import window_starts

    starts = window_starts(run.n_times, window, step)
    codes, names = sample_labels(run.events, run.n_times, run.sfreq, classes=classes)
    counts, _ = window_coverage(codes, starts, window, len(names))
    pure = counts.max(axis=1) == window
    idx = np.flatnonzero(pure)
    y = np.asarray(names)[counts[idx].argmax(axis=1)]
    if idle_ratio is not None:
        task = y != IDLE
        n_task = np.bincount(counts[idx][task].argmax(axis=1), minlength=len(names))[1:]
        n_keep = int(np.ceil(float(idle_ratio) * n_task[n_task > 0].mean())) if task.any() else 0
        idle = np.flatnonzero(~task)
        if len(idle) > n_keep:
            chosen = idle[np.linspace(0, len(idle) - 1, n_keep).round().astype(int)] if n_keep else []
            keep = task.copy()
            keep[chosen] = True
            idx, y = idx[keep], y[keep]
    return idx, y


def offline_epochs(run, length, classes):
    """Cue-locked task epochs (the offline evaluation's trials).

    Parameters
    ----------
    run : ContinuousRun
    length : int
        Epoch length in samples, from the task start.
    classes : tuple of str

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, length)
    y : ndarray of str, shape (n_epochs,)
    """
    ev = run.events[run.events["trial_type"].isin(classes)]
    starts = np.round(ev["onset"].to_numpy() * run.sfreq).astype(int)
    ok = (starts >= 0) & (starts + length <= run.n_times)
    X = np.stack([run.data[:, s : s + length] for s in starts[ok]]) if ok.any() else None
    return X, ev["trial_type"].to_numpy()[ok].astype(str)


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
@dataclass
class PseudoOnlineResult:
    """What :func:`evaluate_pseudo_online` returns.

    Attributes
    ----------
    scores : DataFrame
        One row per subject/session/run/pipeline/mode/smoothing/evaluation
        (columns :data:`RESULT_COLUMNS`).
    decisions : list of dict
        Per evaluation/test run/pipeline: ``times`` (decision time = window
        end, s), ``y_true``, ``y_pred`` (unsmoothed), plus identifiers.
    confusion : list of dict
        Confusion matrices (``labels``, ``matrix``) per score row.
    labels : tuple of str
        ``("idle", *classes)``.
    """

    scores: pd.DataFrame
    decisions: list
    confusion: list
    labels: tuple


def _score(y_true, y_pred, labels, seconds_per_decision):
    from .metrics import itr, nmcc

    acc = accuracy_score(y_true, y_pred)
    with warnings.catch_warnings():
        # a run may lack a class that the classifier predicts
        warnings.simplefilter("ignore", UserWarning)
        bacc = balanced_accuracy_score(y_true, y_pred)
    return {
        "nmcc": nmcc(y_true, y_pred),
        "itr": itr(float(acc), len(labels), float(seconds_per_decision)),
        "accuracy": float(acc),
        "balanced_accuracy": float(bacc),
        "n_windows": int(len(y_true)),
        "n_classes": len(labels),
        "seconds_per_decision": float(seconds_per_decision),
    }, confusion_matrix(y_true, y_pred, labels=list(labels))


def _splits(runs, evaluations):
    """Yield ``(evaluation, train_runs, test_runs)``."""
    sessions = {}
    for r in runs:
        sessions.setdefault(r.session, []).append(r)
    for ev in evaluations:
        check_option("evaluations", ev, EVALUATIONS)
        if ev == "within-session":
            for ses, rs in sessions.items():
                if len(rs) < 2:
                    log.warning("within-session: session %s has one run, no leave-one-run-out", ses)
                    continue
                for test in rs:
                    yield ev, [r for r in rs if r is not test], [test]
        else:
            if len(sessions) < 2:
                log.warning("cross-session: subject has one session, skipped")
                continue
            for ses, rs in sessions.items():
                yield ev, [r for r in runs if r.session != ses], rs


def _pipelines(spec, sfreq, tfm_tokenizer=None):
    """Map the ``pipelines`` config to estimators.

    ``spec`` is what :func:`brainpipe.bci.pipelines.make_pipelines` takes (a
    list of names or ``{display_name: params}``); in Python a dict value may
    also be a ready scikit-learn estimator. ``tfm_tokenizer`` is the group
    tokenizer file of ``tfm_transformer`` pipelines.
    """
    from .pipelines import make_pipelines

    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, dict):
        ready = {k: v for k, v in spec.items() if hasattr(v, "fit")}
        rest = {k: v for k, v in spec.items() if k not in ready}
        built = make_pipelines(rest, sfreq=sfreq, tfm_tokenizer=tfm_tokenizer) if rest else {}
        out = {k: ready[k] if k in ready else built[k] for k in spec}
    else:
        out = make_pipelines(list(spec), sfreq=sfreq, tfm_tokenizer=tfm_tokenizer)
    if not out:
        raise ValueError("pipelines is empty: name at least one pipeline.")
    return out


def evaluate_pseudo_online(
    runs,
    pipelines,
    *,
    window=1.0,
    step=0.1,
    train_step=None,
    min_overlap=0.5,
    classes=None,
    evaluations=EVALUATIONS,
    smoothing=(),
    smoothing_method="vote",
    causal_filter=None,
    idle_ratio=1.0,
    offline=True,
    chunk=256,
    backend="auto",
    use_kernels=True,
    tfm_tokenizer=None,
):
    """Pseudo-online (and offline) scores of pipelines on the runs of one subject.

    Splits: ``"within-session"`` leaves one run of a session out (trains on
    the session's other runs); ``"cross-session"`` trains on all runs of the
    other sessions and tests on each run of the held-out session.

    Scores per test run and pipeline:

    * ``mode="pseudo-online"``: every window of the run (``window`` s long,
      one decision every ``step`` s), labels incl. ``"idle"``
      (:func:`brainpipe.bci.labels.window_labels` with ``min_overlap``). The
      ITR time base is the step: one decision per ``step`` seconds, ``N`` =
      task classes + idle. Overlapping windows are not independent decisions,
      so this ITR is an upper bound. Extra rows with ``smoothing=k`` for a
      causal vote/probability average over the last ``k`` windows;
      ``smoothing=1`` is the raw decision.
    * ``mode="offline"``: the same pipeline trained on the task epochs of the
      training runs (task classes only, epochs = the whole task period from
      its start) and tested on the test run's task epochs: MOABB's usual
      score, on the same split. ITR time base: the epoch length.

    Parameters
    ----------
    runs : list of ContinuousRun
        All runs of one subject.
    pipelines : dict of str to estimator | list of str
        Pipelines on epochs ``(n, n_channels, n_times)``; names are built with
        :func:`brainpipe.bci.pipelines.make_pipeline`.
    window, step : float
        Window length and step (s).
    train_step : float | None
        Step of the training windows (s); None uses ``step``.
    min_overlap : float | None
        See :func:`brainpipe.bci.labels.window_labels`.
    classes : sequence of str | None
        Task classes; None takes every cue type found.
    evaluations : sequence of {"within-session", "cross-session"}
    smoothing : sequence of int
        Window counts ``k > 1`` of the causal smoothers (extra rows).
    smoothing_method : {"vote", "proba"}
    causal_filter : dict | None
        ``{"l_freq", "h_freq", "order"}`` of :func:`causal_bandpass`, applied
        to every run (training and test) before windowing.
    idle_ratio : float | None
        See :func:`training_windows`.
    offline : bool
        Also compute the offline epoch scores.
    chunk : int
        Windows per chunk.
    backend : str
        Kernel backend.
    use_kernels : bool
        Stream covariance pipelines through the kernels.
    tfm_tokenizer : path-like | None
        Group TFM tokenizer file for ``tfm_transformer`` pipelines
        (:func:`brainpipe.bci.pipelines.make_pipelines`). Pipelines without a
        covariance front, such as this one, decide on the raw windows.

    Returns
    -------
    result : PseudoOnlineResult
    """
    from tqdm.auto import tqdm

    if not runs:
        raise ValueError("runs is empty.")
    _check_same_montage(runs)
    check_option("smoothing_method", smoothing_method, SMOOTHING_METHODS)
    sfreq = runs[0].sfreq
    W = check_positive_int(round(window * sfreq), "window (samples)")
    S = check_positive_int(round(step * sfreq), "step (samples)")
    if not np.isclose(S / sfreq, step) or not np.isclose(W / sfreq, window):
        log.warning(
            "window %.4g s / step %.4g s are not whole numbers of samples at %g Hz: "
            "using %d / %d samples (%.4g / %.4g s)", window, step, sfreq, W, S, W / sfreq, S / sfreq,
        )
    S_train = S if train_step is None else check_positive_int(round(train_step * sfreq), "train_step")
    smoothing = sorted({check_positive_int(k, "smoothing") for k in smoothing} - {1})
    pipes = _pipelines(pipelines, sfreq, tfm_tokenizer)
    all_events = pd.concat([r.events for r in runs])
    classes = task_classes(all_events, classes)
    labels = (IDLE, *classes)
    if causal_filter:
        runs = [
            ContinuousRun(
                r.subject, r.session, r.run,
                causal_bandpass(r.data, r.sfreq, **causal_filter),
                r.sfreq, r.events, r.ch_names, r.source,
            )
            for r in runs
        ]
    durations = all_events.loc[all_events["trial_type"].isin(classes), "duration"]
    L_off = int(round(durations.min() * sfreq))

    from ..kernels import window_starts

    rows, decisions, confusion = [], [], []
    splits = list(_splits(runs, evaluations))
    for evaluation, train, tests in tqdm(splits, desc="pseudo-online splits", disable=None):
        sel = [(*training_windows(r, W, S_train, classes, idle_ratio), S_train) for r in train]
        if offline:
            Xo, yo = zip(*(offline_epochs(r, L_off, classes) for r in train))
            if all(x is None for x in Xo):
                raise input_error(train[0].source, "no complete task epoch in the training runs")
            Xo = np.concatenate([x for x in Xo if x is not None])
            yo = np.concatenate(yo)
        for name, pipe in pipes.items():
            dec = WindowDecoder(pipe, W, S, chunk=chunk, backend=backend, use_kernels=use_kernels)
            dec.fit([r.data for r in train], sel)
            fit_s = dec.timing_["fit_s"]
            if offline:
                t0 = time.perf_counter()
                off = clone(pipe).fit(Xo, yo)
                off_fit_s = time.perf_counter() - t0
            for test in tests:
                ids = {"subject": test.subject, "session": test.session, "run": test.run,
                       "pipeline": name, "evaluation": evaluation}
                starts = window_starts(test.n_times, W, S)
                y_true = window_labels(
                    test.events, starts, W, test.n_times, sfreq,
                    min_overlap=min_overlap, classes=classes,
                )
                y_pred, proba = dec.predict(test.data, proba=smoothing_method == "proba")
                if smoothing and smoothing_method == "proba" and proba is None:
                    log.info("%s has no predict_proba: smoothing by majority vote", name)
                t = dec.timing_
                log.info(
                    "%s %s ses-%s run-%s: %d windows, fit %.2f s, windows/covariances %.2f s, "
                    "classifier %.2f s (%s)", name, evaluation, test.session, test.run,
                    t["n_windows"], fit_s, t["window_s"], t["classify_s"], dec.mode_,
                )
                decisions.append({**ids, "times": (starts + W) / sfreq, "y_true": y_true,
                                  "y_pred": y_pred, "mode": dec.mode_})
                for k in [1, *smoothing]:
                    yk = y_pred if k == 1 else smooth_decisions(
                        y_pred, k, method=smoothing_method, proba=proba, classes=dec.classes_)
                    sc, cm = _score(y_true, yk, labels, S / sfreq)
                    rows.append({**ids, "mode": "pseudo-online", "smoothing": k, **sc,
                                 "fit_s": fit_s, "window_s": t["window_s"],
                                 "classify_s": t["classify_s"]})
                    confusion.append({**ids, "mode": "pseudo-online", "smoothing": k,
                                      "labels": list(labels), "matrix": cm.tolist()})
                if offline:
                    Xt, yt = offline_epochs(test, L_off, classes)
                    if Xt is None:
                        continue
                    t0 = time.perf_counter()
                    yp = off.predict(Xt)
                    sc, cm = _score(yt, yp, classes, L_off / sfreq)
                    rows.append({**ids, "mode": "offline", "smoothing": 1, **sc,
                                 "fit_s": off_fit_s, "window_s": np.nan,
                                 "classify_s": time.perf_counter() - t0})
                    confusion.append({**ids, "mode": "offline", "smoothing": 1,
                                      "labels": list(classes), "matrix": cm.tolist()})
    scores = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return PseudoOnlineResult(scores, decisions, confusion, labels)


# --------------------------------------------------------------------------
# Files -> files
# --------------------------------------------------------------------------
def resolve_config(config=None):
    """Merge a user config (the ``bci.pseudo_online`` section) over :data:`DEFAULT_CONFIG`."""
    cfg = dict(DEFAULT_CONFIG)
    unknown = set(config or {}) - set(cfg)
    if unknown:
        raise ValueError(
            f"Unknown pseudo-online config keys {sorted(unknown)}; known keys are {sorted(cfg)}."
        )
    cfg.update(config or {})
    return cfg


def run_pseudo_online(
    inputs,
    subject,
    out_tsv,
    *,
    config=None,
    figure_dir=None,
    fragment=None,
    decisions_tsv=None,
):
    """Pseudo-online evaluation of one subject: inputs -> results TSV (+ figures, fragment).

    Parameters
    ----------
    inputs : list of path-like | path-like | str | moabb dataset
        Preprocessed FIF runs of the subject, a BIDS root, a MOABB dataset
        name or object (see :func:`load_runs`).
    subject : int | str
        Subject number or BIDS label.
    out_tsv : path-like
        Results table (columns :data:`SCORE_COLUMNS`), e.g.
        ``results/sub-01/eeg/sub-01_task-imagery_desc-pseudoonline_scores.tsv``.
        Its JSON sidecar records the settings, the time base of the ITR, the
        causality notes and the confusion matrices. The timings
        (:data:`TIMING_COLUMNS`, keyed by :data:`KEY_COLUMNS`) go to
        ``*_timing.tsv`` beside it (:func:`timing_path`), so that two
        identical runs write byte-identical score tables.
    config : dict | None
        Keys of :data:`DEFAULT_CONFIG`.
    figure_dir : path-like | None
        Where to write the decision timelines and the offline vs
        pseudo-online figure (default: beside ``out_tsv`` when ``fragment``
        is given).
    fragment : path-like | None
        Report fragment (section "Pseudo-online BCI").
    decisions_tsv : path-like | None
        Also write every decision (evaluation, session, run, pipeline, time,
        y_true, y_pred).

    Returns
    -------
    result : PseudoOnlineResult
    """
    cfg = resolve_config(config)
    runs = load_runs(inputs, subject, tmin=cfg["tmin"], tmax=cfg["tmax"],
                     task=cfg["task"], events=cfg["events"], bad_channels=cfg["bad_channels"])
    result = evaluate_pseudo_online(
        runs,
        cfg["pipelines"],
        window=cfg["window"],
        step=cfg["step"],
        train_step=cfg["train_step"],
        min_overlap=cfg["min_overlap"],
        classes=cfg["classes"],
        evaluations=cfg["evaluations"],
        smoothing=cfg["smoothing"] or (),
        smoothing_method=cfg["smoothing_method"],
        causal_filter=cfg["causal_filter"],
        idle_ratio=cfg["idle_ratio"],
        offline=cfg["offline"],
        chunk=cfg["chunk"],
        backend=cfg["backend"],
        use_kernels=cfg["use_kernels"],
        tfm_tokenizer=cfg["tfm_tokenizer"],
    )
    preprocessed = isinstance(inputs, (list, tuple))
    if preprocessed:
        sources = [str(p) for p in inputs]
    elif isinstance(inputs, (str, os.PathLike)):
        sources = [str(inputs)]
    else:
        sources = [getattr(inputs, "code", type(inputs).__name__)]
    note = _causality_note(cfg, preprocessed)
    # the figures' names are the figure module's; the tables and the
    # fragment are what a later step would take for finished
    timing_tsv = timing_path(out_tsv)
    with all_or_nothing(out_tsv, timing_tsv, decisions_tsv, fragment):
        write_tsv(out_tsv, result.scores[list(SCORE_COLUMNS)])
        write_tsv(timing_tsv, result.scores[[*KEY_COLUMNS, "n_windows", *TIMING_COLUMNS]])
        write_sidecar(
            out_tsv,
            sources,
            Description="Pseudo-online BCI evaluation (Carrara et al.), with the offline "
            "epoch score of the same pipelines on the same splits",
            Settings={k: v for k, v in cfg.items() if k != "pipelines"},
            Pipelines=_pipeline_summary(cfg["pipelines"]),
            Labels=list(result.labels),
            ITRTimeBase={
                "pseudo-online": "one decision per window step "
                f"({_step_seconds(result, cfg):.4g} s), N = task classes + idle; an upper "
                "bound since overlapping windows are not independent",
                "offline": "one decision per task epoch (its length), N = task classes",
            },
            Causality=note,
            StreamingModes={d["pipeline"]: d["mode"] for d in result.decisions},
            BadChannels={f"ses-{r.session}_run-{r.run}": r.bad_channels for r in runs},
            ConfusionMatrices=result.confusion,
        )
        if decisions_tsv is not None:
            write_tsv(decisions_tsv, decisions_table(result))
        if fragment is not None or figure_dir is not None:
            from .online_figures import write_subject_figures

            write_subject_figures(
                result, cfg, out_tsv, figure_dir=figure_dir, fragment=fragment,
                notes=note,
            )
    return result


def timing_path(out_tsv):
    """``*_scores.tsv`` -> ``*_timing.tsv`` (else ``<name>_timing.tsv``)."""
    out_tsv = Path(out_tsv)
    stem = out_tsv.name.removesuffix(".tsv").removesuffix("_scores")
    return out_tsv.with_name(f"{stem}_timing.tsv")


def _step_seconds(result, cfg):
    """The step actually used (a whole number of samples), else the configured one."""
    on = result.scores[result.scores["mode"] == "pseudo-online"]
    return float(on["seconds_per_decision"].iloc[0]) if len(on) else float(cfg["step"])


def _pipeline_summary(spec):
    """The pipelines config as JSON: names, or ``{name: params}`` (estimators as repr)."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return {k: repr(v) if hasattr(v, "fit") else v for k, v in spec.items()}
    return list(spec)


def _causality_note(cfg, preprocessed=True):
    """What is and is not causal in this evaluation, for the sidecar and the report."""
    filt = cfg["causal_filter"]
    note = (
        "Each decision uses only the samples of its window, which ends at the "
        "decision time; nothing is normalised with test-run statistics. "
    )
    if filt:
        note += (
            f"Runs were band-passed here with a causal (forward-only) Butterworth IIR "
            f"filter {filt}. "
        )
    if preprocessed:
        note += (
            "The input FIF runs were preprocessed offline (brainpipe.eeg.preprocess "
            "filters whole runs with a zero-phase FIR filter and uses whole-run "
            "statistics for bad channels and the reference): that part sees the "
            "future; give raw recordings with causal_filter for a strictly causal replay."
        )
    else:
        note += "The recordings were read as stored, with no offline filtering by brainpipe."
    return note


def decisions_table(result):
    """All decisions as one long table.

    Returns
    -------
    table : DataFrame
        Columns subject, session, run, pipeline, evaluation, time (s, window
        end), y_true, y_pred.
    """
    frames = [
        pd.DataFrame(
            {
                "subject": d["subject"], "session": d["session"], "run": d["run"],
                "pipeline": d["pipeline"], "evaluation": d["evaluation"],
                "time": np.round(d["times"], 6), "y_true": d["y_true"], "y_pred": d["y_pred"],
            }
        )
        for d in result.decisions
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_pseudo_online_group(score_tsvs, out_tsv, figure, *, fragment=None, metric="nmcc"):
    """Group comparison: offline vs pseudo-online per pipeline, paired Wilcoxon across subjects.

    Parameters
    ----------
    score_tsvs : list of path-like
        Per-subject results of :func:`run_pseudo_online`.
    out_tsv : path-like
        Statistics per evaluation and pipeline (see
        :func:`brainpipe.bci.online_figures.group_statistics`).
    figure : path-like
        PNG of the paired comparison.
    fragment : path-like | None
        Group report fragment (section "Pseudo-online BCI").
    metric : str
        Score column compared (``"nmcc"`` by default).

    Returns
    -------
    stats : DataFrame
    """
    from ..io.fragments import fragment_item, write_fragment
    from ..io.figures import save_figure
    from .online_figures import DPI, group_statistics, plot_group_comparison

    frames = []
    for p in score_tsvs:
        if not os.path.exists(p):
            raise input_error(p, "pseudo-online scores file does not exist")
        frames.append(pd.read_csv(p, sep="\t", dtype={"subject": str, "session": str, "run": str}))
    scores = pd.concat(frames, ignore_index=True)
    stats = group_statistics(scores, metric=metric)
    write_tsv(out_tsv, stats)
    write_sidecar(out_tsv, score_tsvs, Description="Offline vs pseudo-online, paired "
                  "Wilcoxon signed-rank test across subjects (scipy.stats.wilcoxon, two-sided), "
                  "subject score = mean over test runs, unsmoothed decisions", Metric=metric)
    save_figure(plot_group_comparison(scores, metric=metric), figure, dpi=DPI)
    if fragment is not None:
        write_fragment(
            fragment, "Pseudo-online BCI",
            [fragment_item("image", "Offline vs pseudo-online (group)", path=figure,
                           caption=f"{metric} per subject; p from a paired Wilcoxon test."),
             fragment_item("table", "Paired Wilcoxon tests", path=out_tsv)],
            order=45,
        )
    return stats
