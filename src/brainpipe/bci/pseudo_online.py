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

This module is the step the CLI calls (files in, files out, sidecar,
fragment: :func:`run_pseudo_online`, :func:`run_pseudo_online_group`) and
re-exports the names of the modules that hold each part:
:mod:`~brainpipe.bci.runs` (continuous runs and their loading),
:mod:`~brainpipe.eeg.filters` (the causal band-pass),
:mod:`~brainpipe.bci.window_decoder` (pipelines over sliding windows),
:mod:`~brainpipe.bci.training_sets` (training windows, offline epochs) and
:mod:`~brainpipe.bci.online_evaluation` (the evaluation loop and its scores).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import input_error, merge_options
from ..eeg.filters import causal_bandpass
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.derivatives import evaluation_names
from .online_evaluation import (
    EVALUATIONS,
    KEY_COLUMNS,
    RESULT_COLUMNS,
    SCORE_COLUMNS,
    TIMING_COLUMNS,
    PseudoOnlineResult,
    evaluate_pseudo_online,
)
from .runs import ContinuousRun, load_runs, run_from_raw
from .training_sets import offline_epochs, training_windows
from .window_decoder import WindowDecoder, split_covariance_step

__all__ = [
    "DEFAULT_CONFIG",
    "EVALUATIONS",
    "KEY_COLUMNS",
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
    "timing_path",
    "training_windows",
]

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


def resolve_config(config=None):
    """Merge a user config (the ``bci.pseudo_online`` section) over :data:`DEFAULT_CONFIG`."""
    cfg = merge_options(DEFAULT_CONFIG, config, "pseudo-online")
    cfg["evaluations"] = evaluation_names(cfg["evaluations"], "bci.pseudo_online.evaluations")
    return cfg


def run_pseudo_online(
    inputs,
    subject,
    out_tsv,
    *,
    figure_dir=None,
    fragment=None,
    decisions_tsv=None,
    recordings=None,
    config=None,
    **options,
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
    figure_dir : path-like | None
        Where to write the two figures, ``sub-X_task-T_desc-D_comparison.png``
        (offline vs pseudo-online) and ``sub-X_task-T_desc-D_timeline.png``
        (the decisions of every test run and evaluation, one panel each),
        named from the entities of ``out_tsv``: fixed names, whatever splits
        the runs allow (default: beside ``out_tsv`` when ``fragment`` is given).
    fragment : path-like | None
        Report fragment (section "Pseudo-online BCI").
    decisions_tsv : path-like | None
        Also write every decision (evaluation, session, run, pipeline, time,
        y_true, y_pred).
    recordings : list of path-like | None
        With a BIDS root: only these recordings of the subject (see
        :func:`load_runs`); what a workflow rule declares as its inputs.
    config : dict | None
        The same options as one dict (``options`` win over it).
    **options
        The step's slice of the config (``bci.pseudo_online``): keys of
        :data:`DEFAULT_CONFIG`, as every step takes its options.

    Returns
    -------
    result : PseudoOnlineResult
    """
    cfg = resolve_config({**(config or {}), **options})
    runs = load_runs(inputs, subject, tmin=cfg["tmin"], tmax=cfg["tmax"],
                     task=cfg["task"], events=cfg["events"], bad_channels=cfg["bad_channels"],
                     recordings=recordings)
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
    elif recordings:
        sources = [str(p) for p in recordings]
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
                           caption=f"{metric} of every pipeline, offline (cue-locked epochs) next to "
                                   "pseudo-online (every sliding window, idle class included), one line per "
                                   "subject, left: cross-session, right: within-session; p from a paired "
                                   "Wilcoxon test across subjects. The drop is what real-time use would cost."),
             fragment_item("table", "Paired Wilcoxon tests", path=out_tsv)],
            order=45,
        )
    return stats
