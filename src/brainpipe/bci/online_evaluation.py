"""The pseudo-online evaluation loop (Carrara et al.): splits, decisions, scores.

:func:`evaluate_pseudo_online` takes the runs of one subject
(:mod:`brainpipe.bci.runs`), splits them by run or by session, trains every
pipeline on the pure task and idle windows of the training runs
(:mod:`brainpipe.bci.training_sets`) through a
:class:`~brainpipe.bci.window_decoder.WindowDecoder`, decides on every window
of each test run, and scores the decisions (nMCC, Wolpaw ITR) next to the
offline epoch score of the same pipeline on the same split. The causality
notes and the files-in/files-out step are in :mod:`brainpipe.bci.pseudo_online`.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

from .._check import check_option, check_positive_int, input_error
from ..eeg.filters import causal_bandpass
from ..io.derivatives import EVALUATIONS as _EVALUATION_NAMES
from ..io.derivatives import evaluation_names
from .labels import IDLE, task_classes, window_labels
from .runs import ContinuousRun, check_same_montage
from .smoothing import SMOOTHING_METHODS, smooth_decisions
from .training_sets import offline_epochs, training_windows
from .window_decoder import WindowDecoder

log = logging.getLogger(__name__)

__all__ = [
    "EVALUATIONS",
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "SCORE_COLUMNS",
    "TIMING_COLUMNS",
    "PseudoOnlineResult",
    "evaluate_pseudo_online",
]

#: The splits (one vocabulary with the offline step: :mod:`brainpipe.io.derivatives`).
EVALUATIONS = _EVALUATION_NAMES

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
        (the old names ``"within"``/``"cross"`` work too, with a DeprecationWarning).
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
    check_same_montage(runs)
    evaluations = evaluation_names(evaluations)  # the old names "within"/"cross" too
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

    rows, decisions, confusion = [], [], []
    splits = list(_splits(runs, evaluations))
    for evaluation, train, tests in tqdm(splits, desc="pseudo-online splits", disable=None):
        sel = [(*training_windows(r, W, S_train, classes, idle_ratio), S_train) for r in train]
        train_epochs = _offline_training_set(train, L_off, classes) if offline else None
        for name, pipe in pipes.items():
            dec = WindowDecoder(pipe, W, S, chunk=chunk, backend=backend, use_kernels=use_kernels)
            dec.fit([r.data for r in train], sel)
            off = _fit_offline(pipe, *train_epochs) if offline else None
            for test in tests:
                ids = {"subject": test.subject, "session": test.session, "run": test.run,
                       "pipeline": name, "evaluation": evaluation}
                _score_pseudo_online(dec, test, ids, sfreq, W, S, min_overlap, classes, labels,
                                     smoothing, smoothing_method, rows, decisions, confusion)
                if offline:
                    _score_offline(off, test, ids, sfreq, L_off, classes, rows, confusion)
    scores = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return PseudoOnlineResult(scores, decisions, confusion, labels)


def _score_pseudo_online(dec, test, ids, sfreq, W, S, min_overlap, classes, labels, smoothing,
                         smoothing_method, rows, decisions, confusion):
    """Decide on every window of ``test``; append its decisions and score rows
    (raw, then each causal smoothing)."""
    from ..kernels import window_starts

    starts = window_starts(test.n_times, W, S)
    y_true = window_labels(test.events, starts, W, test.n_times, sfreq,
                           min_overlap=min_overlap, classes=classes)
    y_pred, proba = dec.predict(test.data, proba=smoothing_method == "proba")
    if smoothing and smoothing_method == "proba" and proba is None:
        log.info("%s has no predict_proba: smoothing by majority vote", ids["pipeline"])
    t = dec.timing_
    fit_s = t["fit_s"]
    log.info(
        "%s %s ses-%s run-%s: %d windows, fit %.2f s, windows/covariances %.2f s, "
        "classifier %.2f s (%s)", ids["pipeline"], ids["evaluation"], test.session, test.run,
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


# --------------------------------------------------------------------------
# The offline score on the same split
# --------------------------------------------------------------------------
def _offline_training_set(train, length, classes):
    """Task epochs of the training runs, stacked: ``(X, y)``."""
    Xo, yo = zip(*(offline_epochs(r, length, classes) for r in train))
    if all(x is None for x in Xo):
        raise input_error(train[0].source, "no complete task epoch in the training runs")
    return np.concatenate([x for x in Xo if x is not None]), np.concatenate(yo)


def _fit_offline(pipe, X, y):
    """A fresh copy of ``pipe`` fitted on task epochs, and its fit time (s)."""
    t0 = time.perf_counter()
    fitted = clone(pipe).fit(X, y)
    return fitted, time.perf_counter() - t0


def _score_offline(off, test, ids, sfreq, length, classes, rows, confusion):
    """Score the offline pipeline on the test run's task epochs (nothing when it has none)."""
    fitted, fit_s = off
    Xt, yt = offline_epochs(test, length, classes)
    if Xt is None:
        return
    t0 = time.perf_counter()
    yp = fitted.predict(Xt)
    sc, cm = _score(yt, yp, classes, length / sfreq)
    rows.append({**ids, "mode": "offline", "smoothing": 1, **sc,
                 "fit_s": fit_s, "window_s": np.nan,
                 "classify_s": time.perf_counter() - t0})
    confusion.append({**ids, "mode": "offline", "smoothing": 1,
                      "labels": list(classes), "matrix": cm.tolist()})
