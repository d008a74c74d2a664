"""Offline (epoch-based) BCI evaluation with MOABB: paradigms, evaluations, one tidy table.

:func:`evaluate_offline` runs MOABB's ``WithinSessionEvaluation`` and
``CrossSessionEvaluation`` on any MOABB dataset (ours from BIDS/FIF, or one of
MOABB's by name) and returns one tidy table. MOABB caches results in an HDF5
file and reads ``MNE_DATA``: both are pointed at folders we choose
(:func:`moabb_folders`, a temporary folder by default), never at the user's
home. The files-to-files step is :func:`brainpipe.bci.offline.run_offline`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import uuid
from pathlib import Path

import mne
import pandas as pd
from sklearn.base import BaseEstimator, clone

from .._check import check_option, check_positive_int, validate_type
from ..io.derivatives import evaluation_names
from .dataset import BIDSMotorImagery, get_dataset, resolve_subject
from .metrics import itr, nmcc_scorer
from .pipelines import make_pipelines

log = logging.getLogger(__name__)

__all__ = [
    "EVALUATIONS",
    "PARADIGMS",
    "TIMING_COLUMNS",
    "add_itr",
    "as_paradigm",
    "blas_limit",
    "evaluate_offline",
    "make_paradigm",
    "moabb_folders",
]

#: Evaluation names (:data:`brainpipe.io.derivatives.EVALUATIONS`) -> MOABB evaluation class names.
EVALUATIONS = {"within-session": "WithinSessionEvaluation", "cross-session": "CrossSessionEvaluation"}

#: Paradigm names -> MOABB paradigm class names.
PARADIGMS = {"left_right": "LeftRightImagery", "motor_imagery": "MotorImagery"}

# First score is MOABB's own (ROC-AUC for two classes, accuracy otherwise), so the
# "score" column compares with MOABB's published tables; the others ride along.
_DEFAULT_SCORES = {"left_right": ["roc_auc", "accuracy", "nmcc"],
                   "motor_imagery": ["accuracy", "nmcc"]}

_COLUMN_NAMES = {"samples": "n_samples", "samples_test": "n_samples_test",
                 "channels": "n_channels"}
_FIRST_COLUMNS = ["subject", "session", "evaluation", "pipeline", "score"]
#: Columns of the results that are timings (MOABB's mean fit time, s): written
#: to ``*_timing.tsv``, not to the scores table, so identical runs give
#: identical score tables.
TIMING_COLUMNS = ("time",)


def make_paradigm(name="left_right", scores=None, **params):
    """Build a MOABB motor-imagery paradigm scoring with several metrics at once.

    Parameters
    ----------
    name : {"left_right", "motor_imagery"}
        ``LeftRightImagery`` (cues ``left_hand``/``right_hand``) or
        ``MotorImagery`` (any cues; ``n_classes``, ``events``).
    scores : list of str | None
        Metrics; the first fills MOABB's ``score`` column, each one its own
        ``score_<name>`` column. ``"nmcc"`` or any scikit-learn scorer name.
        Default: ``["roc_auc", "accuracy", "nmcc"]`` for ``left_right``,
        ``["accuracy", "nmcc"]`` for ``motor_imagery``.
    **params
        Paradigm parameters: ``fmin``, ``fmax``, ``tmin``, ``tmax``,
        ``resample``, ``channels``, (``n_classes``, ``events`` for
        ``motor_imagery``).

    Returns
    -------
    paradigm : moabb.paradigms.base.BaseParadigm
    """
    import moabb.paradigms

    check_option("name", name, tuple(PARADIGMS))
    scores = list(_DEFAULT_SCORES[name] if scores is None else scores)
    if not scores or not all(isinstance(s, str) for s in scores):
        raise ValueError(f"scores must be a non-empty list of metric names, got {scores!r}.")
    scorer = {s: (nmcc_scorer if s == "nmcc" else s) for s in scores}
    cls = getattr(moabb.paradigms, PARADIGMS[name])
    try:
        return cls(scorer=scorer, **params)
    except TypeError as err:
        raise TypeError(f"Bad parameter for paradigm {name!r} ({cls.__name__}): {err}") from None


@contextlib.contextmanager
def moabb_folders(mne_data=None, hdf5_path=None):
    """Point MOABB at our folders for the duration of a block.

    Yields ``(mne_data, hdf5_path)`` as existing folders: the ones given, or
    temporary ones removed afterwards. ``MNE_DATA`` is set in the process
    environment inside the block and restored after it (MNE reads the
    environment before its config file, so nothing is written to the home).
    """
    with contextlib.ExitStack() as stack:
        folders = []
        for given in (mne_data, hdf5_path):
            if given is None:
                given = stack.enter_context(tempfile.TemporaryDirectory(prefix="brainpipe-moabb-"))
            Path(given).mkdir(parents=True, exist_ok=True)
            folders.append(str(Path(given).resolve()))
        old = os.environ.get("MNE_DATA")
        os.environ["MNE_DATA"] = folders[0]
        try:
            yield tuple(folders)
        finally:
            if old is None:
                os.environ.pop("MNE_DATA", None)
            else:
                os.environ["MNE_DATA"] = old


def evaluate_offline(
    dataset,
    pipelines,
    paradigm=None,
    evaluation=("within-session", "cross-session"),
    subjects=None,
    hdf5_path=None,
    n_jobs=1,
    random_state=0,
    n_splits=None,
    mne_data=None,
    sfreq=None,
    blas_threads=1,
    tfm_tokenizer=None,
):
    """Score pipelines within and across sessions with MOABB's evaluations.

    Parameters
    ----------
    dataset : moabb.datasets.base.BaseDataset | str | path-like | list
        A MOABB dataset, or anything :func:`~brainpipe.bci.dataset.get_dataset`
        takes (BIDS root, FIF list, MOABB dataset name).
    pipelines : dict
        ``{name: estimator}`` (scikit-learn estimators on epochs), or a
        pipeline config for :func:`~brainpipe.bci.pipelines.make_pipelines`.
    paradigm : moabb.paradigms.base.BaseParadigm | dict | str | None
        A MOABB paradigm, or the name / keyword arguments of
        :func:`make_paradigm`. Default: ``make_paradigm("left_right")``.
    evaluation : str | sequence of str
        ``"within-session"`` (``WithinSessionEvaluation``: stratified k-fold
        inside each session) and/or ``"cross-session"``
        (``CrossSessionEvaluation``: train on the other sessions, test on
        one); the old names ``"within"``/``"cross"`` still work, with a
        DeprecationWarning (:func:`brainpipe.io.derivatives.evaluation_names`).
        ``"cross-session"`` is skipped, with a warning, for single-session
        datasets.
    subjects : list of (int | str) | None
        Subjects to evaluate (numbers, or BIDS labels for our datasets).
        ``None``: all of the dataset's subjects.
    hdf5_path : path-like | None
        Folder for MOABB's results cache (a temporary folder when ``None``).
        Each call writes its own file (unique suffix, ``overwrite=True``), so
        parallel calls never share one.
    n_jobs : int
        Parallel jobs of the MOABB evaluation.
    random_state : int
        Seed of the cross-validation splits.
    n_splits : int | None
        Folds of the within-session evaluation (MOABB's default 5 if ``None``).
    mne_data : path-like | None
        ``MNE_DATA`` folder (where MOABB datasets download); temporary if ``None``.
    sfreq : float | None
        Sampling frequency given to config-built pipelines that need it; read
        from the data when ``None``.
    blas_threads : int | None
        BLAS threads during the evaluation. BCI matrices are small (tens of
        channels): threaded OpenBLAS eigendecompositions of such matrices
        run up to 20x slower than single-threaded ones on a busy machine,
        so the default is 1 (use ``n_jobs`` for parallelism). ``None`` leaves
        the BLAS setting alone.
    tfm_tokenizer : path-like | None
        Group TFM tokenizer file for config-built ``tfm_transformer``
        pipelines (see :func:`~brainpipe.bci.pipelines.make_pipelines`).

    Returns
    -------
    results : pandas.DataFrame
        One row per subject x session x pipeline x evaluation, columns
        ``subject, session, evaluation, pipeline, score, score_<metric>...,
        time, n_samples, n_samples_test, n_channels, n_classes, n_sessions,
        dataset`` (and ``subject_label`` for BIDS datasets). ``session`` is
        the session scored (the held-out one across sessions); ``time`` is
        the mean fit time in seconds; ``n_samples`` the training trials.
    """
    import moabb.evaluations

    if not isinstance(dataset, _base_dataset()):
        dataset = get_dataset(dataset)
    evaluation = evaluation_names(evaluation, "evaluation")
    if not evaluation:
        raise ValueError("evaluation is empty: give 'within-session' and/or 'cross-session'.")
    paradigm = as_paradigm(paradigm)
    if not paradigm.is_valid(dataset):
        raise ValueError(
            f"Dataset {dataset.code} does not fit paradigm {type(paradigm).__name__}: it has "
            f"events {sorted(dataset.event_id)} and paradigm {dataset.paradigm!r}."
        )
    dataset = _select_subjects(dataset, subjects)
    if n_splits is not None:
        n_splits = check_positive_int(n_splits, "n_splits", minimum=2)

    frames = []
    with moabb_folders(mne_data, hdf5_path) as (_, hdf5_dir), blas_limit(blas_threads), \
            mne.utils.use_log_level("WARNING"):
        pipelines = _as_pipelines(pipelines, dataset, paradigm, sfreq, tfm_tokenizer)
        for name in evaluation:
            if name == "cross-session" and dataset.n_sessions < 2:
                log.warning("Dataset %s has one session per subject: no cross-session "
                            "evaluation.", dataset.code)
                continue
            cls = getattr(moabb.evaluations, EVALUATIONS[name])
            log.info("%s on %s, subjects %s: %s", cls.__name__, dataset.code,
                     dataset.subject_list, ", ".join(pipelines))
            kwargs = {"n_splits": n_splits} if name == "within-session" and n_splits else {}
            evaluator = cls(
                paradigm=paradigm,
                datasets=[dataset],
                random_state=random_state,
                n_jobs=n_jobs,
                overwrite=True,
                hdf5_path=hdf5_dir,
                suffix=f"brainpipe-{uuid.uuid4().hex}",
                **kwargs,
            )
            frame = evaluator.process({k: clone(v) for k, v in pipelines.items()})
            frames.append(frame.assign(evaluation=name))
    return _tidy(pd.concat(frames, ignore_index=True), dataset)


def blas_limit(n_threads):
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=check_positive_int(n_threads, "blas_threads"), user_api="blas")


def _base_dataset():
    from moabb.datasets.base import BaseDataset

    return BaseDataset


def as_paradigm(paradigm):
    from moabb.paradigms.base import BaseParadigm

    if paradigm is None:
        return make_paradigm()
    if isinstance(paradigm, BaseParadigm):
        return paradigm
    if isinstance(paradigm, str):
        return make_paradigm(paradigm)
    validate_type(paradigm, dict, "paradigm", "MOABB paradigm, name or dict of parameters")
    return make_paradigm(**paradigm)


def _select_subjects(dataset, subjects):
    if subjects is None:
        return dataset
    if isinstance(subjects, (str, int)):
        subjects = [subjects]
    numbers = [resolve_subject(dataset, s) for s in subjects]
    if not numbers:
        raise ValueError("subjects is empty: give at least one subject (or None for all).")
    # a shallow copy: the caller's dataset keeps its own subject list
    selected = copy.copy(dataset)
    selected.subject_list = list(dict.fromkeys(numbers))
    if isinstance(dataset, BIDSMotorImagery):
        selected.n_sessions = min(
            len({r.session for r in dataset._subject_records(n)}) for n in selected.subject_list
        )
    return selected


def _as_pipelines(pipelines, dataset, paradigm, sfreq, tfm_tokenizer=None):
    validate_type(pipelines, (dict, list, tuple), "pipelines", "dict or list")
    if isinstance(pipelines, dict) and pipelines and all(
        isinstance(p, BaseEstimator) for p in pipelines.values()
    ):
        return pipelines
    if sfreq is None:
        sfreq = _data_sfreq(dataset, paradigm)
    return make_pipelines(pipelines, sfreq=sfreq, tfm_tokenizer=tfm_tokenizer)


def _data_sfreq(dataset, paradigm):
    if getattr(paradigm, "resample", None):
        return float(paradigm.resample)
    data = dataset.get_data(dataset.subject_list[:1])
    runs = next(iter(data.values()))
    return float(next(iter(next(iter(runs.values())).values())).info["sfreq"])


def _tidy(frame, dataset):
    frame = frame.rename(columns=_COLUMN_NAMES)
    frame["dataset"] = [getattr(d, "code", d) for d in frame["dataset"]]
    frame["subject"] = frame["subject"].astype(int)
    frame["session"] = frame["session"].astype(str)
    if isinstance(dataset, BIDSMotorImagery):
        frame.insert(1, "subject_label", [dataset.subject_labels[s] for s in frame["subject"]])
    first = [c for c in [*_FIRST_COLUMNS, "subject_label"] if c in frame]
    scores = sorted(c for c in frame if c.startswith("score_"))
    rest = [c for c in frame if c not in first + scores]
    frame = frame[first + scores + rest]
    order = {e: i for i, e in enumerate(EVALUATIONS)}
    frame = frame.sort_values(
        ["subject", "evaluation", "pipeline", "session"],
        key=lambda s: s.map(order) if s.name == "evaluation" else s,
    )
    return frame.reset_index(drop=True)


def add_itr(results, seconds_per_decision):
    """Add a Wolpaw ITR column (bits/min) from ``score_accuracy`` and ``n_classes``.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`evaluate_offline` with a ``score_accuracy`` column.
    seconds_per_decision : float
        Time per decision: offline, the epoch length (``tmax - tmin``).

    Returns
    -------
    results : pandas.DataFrame
        A copy with ``itr_bits_per_min``.
    """
    if "score_accuracy" not in results:
        raise ValueError("results has no 'score_accuracy' column: add 'accuracy' to the scores.")
    out = results.copy()
    out["itr_bits_per_min"] = [
        itr(float(a), int(n), seconds_per_decision)
        for a, n in zip(out["score_accuracy"], out["n_classes"])
    ]
    return out


# ---------------------------------------------------------------------------
# files -> files step
# ---------------------------------------------------------------------------
