"""The ``bci-offline`` step: offline (epoch-based) BCI evaluation of one subject.

The MOABB evaluation itself is :mod:`brainpipe.bci.moabb_evaluation`
(:func:`evaluate_offline`, :func:`make_paradigm`, :func:`add_itr`, re-exported
here); the report fragment is :mod:`brainpipe.bci.offline_fragment`.
:func:`run_offline` is the files-to-files step the workflow calls for one
subject: scores table (TSV + JSON sidecar), a score figure, an example
covariance figure, and a report fragment (section "Offline BCI").
"""

from __future__ import annotations

import logging
from pathlib import Path

import mne
import numpy as np
from sklearn.base import clone

from .._check import merge_options
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.derivatives import EVALUATIONS as EVALUATION_NAMES
from ..io.derivatives import evaluation_names
from .dataset import BIDSMotorImagery, get_dataset, resolve_subject
from .moabb_evaluation import (
    EVALUATIONS,
    PARADIGMS,
    TIMING_COLUMNS,
    add_itr,
    as_paradigm,
    blas_limit,
    evaluate_offline,
    make_paradigm,
    moabb_folders,
)
from .offline_fragment import write_offline_fragment
from .pipelines import acm_parameters, make_pipelines

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CONFIG",
    "EVALUATIONS",
    "PARADIGMS",
    "TIMING_COLUMNS",
    "add_itr",
    "evaluate_offline",
    "make_paradigm",
    "moabb_folders",
    "run_offline",
]

#: The ``bci.offline`` slice of the workflow config, with its defaults.
DEFAULT_CONFIG = {
    # keyword arguments of get_dataset (ours: task, events, interval; MOABB's: its own)
    "dataset": {},
    # MOABB paradigm: name + its parameters (fmin, fmax, tmin, tmax, resample, ...) + scores
    "paradigm": {"name": "left_right", "fmin": 8.0, "fmax": 32.0},
    "evaluations": list(EVALUATION_NAMES),  # old names "within"/"cross" still work
    "n_splits": 5,
    # {display name: builder params}; see brainpipe.bci.pipelines.PIPELINES
    "pipelines": {
        "csp_lda": {},
        "mdm": {},
        "ts_svm": {},
        "acm_ts_svm": {"order": 4, "lag": 2},
        "psd_lda": {},
        "coh_lda": {},
    },
    # trained TFM tokenizer file for tfm_transformer pipelines (tokenizer: group);
    # the workflow fills it in from the group tokenizer rule
    "tfm_tokenizer": None,
}


def run_offline(
    source,
    subject,
    out_tsv,
    *,
    figure_dir=None,
    fragment=None,
    seed=0,
    n_jobs=1,
    mne_data=None,
    hdf5_path=None,
    blas_threads=1,
    config=None,
    **options,
):
    """Offline BCI evaluation of one subject: scores table, figures, report fragment.

    Parameters
    ----------
    source : path-like | list of path-like | str
        BIDS root, list of preprocessed FIF files, or MOABB dataset name
        (see :func:`~brainpipe.bci.dataset.get_dataset`).
    subject : str | int
        BIDS label (``"01"``) or MOABB subject number.
    out_tsv : path-like
        Scores table to write (e.g. ``sub-01_task-imagery_desc-offline_scores.tsv``);
        a JSON sidecar is written beside it, and ``<stem>_timing.tsv`` with
        the fit times (:data:`TIMING_COLUMNS`, keyed by subject, session,
        evaluation and pipeline), so that identical runs write identical
        score tables.
    figure_dir : path-like | None
        Where the figures go (default: next to ``out_tsv``). Names:
        ``<stem>_scores.png`` and ``<stem>_covariance.png``, with ``<stem>``
        the table name less ``_scores.tsv`` (or ``.tsv``).
    fragment : path-like | None
        Report fragment JSON to write (section "Offline BCI"); none if ``None``.
    seed : int
        Seed of the cross-validation splits.
    n_jobs : int
        Parallel jobs of the MOABB evaluations.
    mne_data, hdf5_path : path-like | None
        MOABB folders (temporary when ``None``).
    blas_threads : int | None
        BLAS threads (see :func:`evaluate_offline`).
    config : dict | None
        The same options as one dict (``options`` win over it).
    **options
        The step's slice of the config (``bci.offline``): keys of
        :data:`DEFAULT_CONFIG` (missing keys take their defaults), as every
        step takes its options.

    Returns
    -------
    results : pandas.DataFrame
        The table written to ``out_tsv``.
    """
    cfg = _merge_config({**(config or {}), **options})
    out_tsv = Path(out_tsv)
    stem = out_tsv.name.removesuffix("_scores.tsv") if out_tsv.name.endswith("_scores.tsv") \
        else out_tsv.stem
    figure_dir = Path(figure_dir) if figure_dir is not None else out_tsv.parent

    dataset = get_dataset(source, **(cfg["dataset"] or {}))
    number = resolve_subject(dataset, subject)
    paradigm = as_paradigm(cfg["paradigm"])
    with moabb_folders(mne_data, hdf5_path) as (mne_dir, hdf5_dir), blas_limit(blas_threads), \
            mne.utils.use_log_level("WARNING"):
        epochs, y, meta = _subject_epochs(dataset, paradigm, number)
        sfreq = float(epochs.info["sfreq"])
        pipelines = make_pipelines(cfg["pipelines"], sfreq=sfreq, tfm_tokenizer=cfg["tfm_tokenizer"])
        results = evaluate_offline(
            dataset, pipelines, paradigm, evaluation=cfg["evaluations"], subjects=[number],
            hdf5_path=hdf5_dir, mne_data=mne_dir, n_jobs=n_jobs, random_state=seed,
            n_splits=cfg["n_splits"], blas_threads=None,
        )
        # MOABB scales arrays to microvolts (dataset.unit_factor); do the same here
        X = epochs.get_data(copy=True) * getattr(dataset, "unit_factor", 1.0)
        first_session = (meta["session"] == meta["session"].iloc[0]).to_numpy()
        acm, fitted = _acm_choices(pipelines, X[first_session], y[first_session])
        class_covs = _class_mean_covariances(X, y, acm, fitted)
    seconds = _epoch_seconds(epochs)
    if "score_accuracy" in results:
        results = add_itr(results, seconds)

    label = dataset.subject_label(number) if isinstance(dataset, BIDSMotorImagery) else str(number)
    from ..io.figures import save_figure
    from .figures import plot_class_covariances, plot_offline_scores

    score_name = _primary_score(paradigm)
    chance = _chance_level(score_name, len(np.unique(y)))
    scores_png = figure_dir / f"{stem}_scores.png"
    cov_png = figure_dir / f"{stem}_covariance.png"
    sources = dataset.data_path(number) if isinstance(dataset, BIDSMotorImagery) else [str(source)]
    # fit times differ between identical runs: kept out of the scores table
    timing_tsv = out_tsv.with_name(f"{stem}_timing.tsv")
    keys = [c for c in ("subject", "subject_label", "session", "evaluation", "pipeline") if c in results]
    with all_or_nothing(scores_png, cov_png, out_tsv, timing_tsv, fragment):
        save_figure(
            plot_offline_scores(results, chance=chance, score_label=score_name,
                                title=f"sub-{label}: offline {score_name}"),
            scores_png,
        )
        save_figure(
            plot_class_covariances(class_covs, ch_names=epochs.ch_names,
                                   title=f"sub-{label}: class-mean covariance (all sessions)"),
            cov_png,
        )
        write_tsv(out_tsv, results.drop(columns=[c for c in TIMING_COLUMNS if c in results]))
        write_tsv(timing_tsv, results[keys + [c for c in TIMING_COLUMNS if c in results]])
        write_sidecar(
            out_tsv, sources,
            Description="Offline (epoch-based) BCI scores from MOABB evaluations",
            Paradigm=type(paradigm).__name__, PrimaryScore=score_name,
            SecondsPerDecision=seconds, Seed=seed, Config=cfg,
            ACM={k: v for k, v in acm.items()},
        )
        if fragment is not None:
            write_offline_fragment(fragment, results, out_tsv, scores_png, cov_png, acm,
                                    score_name, chance, seconds)
    return results


def _merge_config(config):
    cfg = merge_options(DEFAULT_CONFIG, config, "offline BCI")
    cfg["evaluations"] = evaluation_names(cfg["evaluations"], "bci.offline.evaluations")
    paradigm = (config or {}).get("paradigm")
    if isinstance(paradigm, dict) and "name" not in paradigm:
        cfg["paradigm"] = dict(DEFAULT_CONFIG["paradigm"], **paradigm)
    return cfg


def _subject_epochs(dataset, paradigm, subject):
    epochs, y, meta = paradigm.get_data(dataset, [subject], return_epochs=True)
    return epochs, np.asarray(y), meta.reset_index(drop=True)


def _epoch_seconds(epochs):
    # the window a decision is made on: tmax - tmin of the epochs
    return float(epochs.times[-1] - epochs.times[0])


def _primary_score(paradigm):
    scoring = paradigm.scoring
    if isinstance(scoring, dict):
        return next(iter(scoring))
    return scoring if isinstance(scoring, str) else "score"


def _chance_level(score_name, n_classes):
    if score_name in ("accuracy", "balanced_accuracy"):
        return 1.0 / n_classes
    if score_name == "nmcc" or score_name.startswith("roc_auc"):
        return 0.5
    return None


def _acm_choices(pipelines, X, y):
    """Fit each ACM pipeline on one session to read its embedding (fitted choice wins).

    Returns ``({name: {"order": p, "lag": tau}}, {name: fitted pipeline})``.
    """
    params, fitted = {}, {}
    for name, pipe in pipelines.items():
        if acm_parameters(pipe) is None:
            continue
        fitted[name] = clone(pipe).fit(X, y)
        params[name] = {k: int(v) for k, v in acm_parameters(fitted[name]).items()}
    return params, fitted


def _class_mean_covariances(X, y, acm, fitted):
    """Riemannian class means of OAS covariances, and of the first ACM pipeline's if any."""
    from pyriemann.estimation import Covariances
    from pyriemann.geometry.mean import mean_riemann
    from pyriemann.tangentspace import TangentSpace

    from ..features.tangent_space import RiemannTangentSpace

    classes = list(dict.fromkeys(sorted(y)))
    covs = Covariances("oas").fit_transform(X)
    rows = {"covariance (OAS)": {c: mean_riemann(covs[y == c]) for c in classes}}
    if acm:
        name, params = next(iter(acm.items()))
        pipe = getattr(fitted[name], "best_estimator_", fitted[name])  # a search: its refitted pipeline
        # the SPD matrices the pipeline itself feeds to its tangent space
        first_ts = next(i for i, (_, step) in enumerate(pipe.steps)
                        if isinstance(step, (TangentSpace, RiemannTangentSpace)))
        spd_steps = pipe[:first_ts]
        aug = spd_steps.transform(X)
        row = f"{name}: augmented (order {params['order']}, lag {params['lag']})"
        rows[row] = {c: mean_riemann(aug[y == c]) for c in classes}
    return rows
