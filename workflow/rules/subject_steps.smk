# What the per-subject jobs run (preprocess_eeg, eeg_covariances,
# fmri_subject, mri_qc): each subject's (run's, session's) outputs and
# `brainpipe steps` command line, and how subjects are batched into jobs
# (config subjects_per_job). Names only, no processing.

import os


#: config subjects_per_job: subjects per job of the per-subject rules. 1: one
#: job per subject (EEG: per run, per session), rules with wildcards (what
#: profiles/slurm asks for); more: rules over fixed batches of subjects
#: (fmri_subject_batch1, preprocess_eeg_batch1, ...), made in a loop, each
#: running its subjects' steps in one process.
SUBJECTS_PER_JOB = config.get("subjects_per_job", 1)


def subject_batches(subjects):
    """``{"batch1": [...], "batch2": [...], ...}``: ``subjects`` in order, in runs of subjects_per_job."""
    n = SUBJECTS_PER_JOB
    return {f"batch{k + 1}": list(subjects[i:i + n]) for k, i in enumerate(range(0, len(subjects), n))}


#: What one batch job's `brainpipe steps` call can take. Snakemake runs a
#: shell command over 64 KiB from a script file (a `bash -c` argument is
#: capped at 128 KiB), so what remains is the kernel's cap on one process's
#: arguments and environment together: ARG_MAX, 2 MiB on Linux with the
#: default 8 MiB stack. Half of it leaves room for the environment, and for a
#: cluster node whose limit is lower than this machine's.
_ARG_MAX = os.sysconf("SC_ARG_MAX") if hasattr(os, "sysconf") else -1  # -1: not known here
MAX_COMMAND_LINE = min(_ARG_MAX if _ARG_MAX > 0 else 2**21, 2**21) // 2


def batch_steps(steps, rule):
    """The steps of a batch job joined by ``++``; a clear error at parse time,
    naming the setting to lower, when the line would be too long to run."""
    line = " ++ ".join(steps)
    if len(line) > MAX_COMMAND_LINE:
        raise ValueError(
            f"config subjects_per_job is {SUBJECTS_PER_JOB}: the {rule} job's command line would be "
            f"{len(line)} characters, over the {MAX_COMMAND_LINE} one process's arguments can safely hold "
            "(half the kernel's ARG_MAX); lower subjects_per_job."
        )
    return line


def flat_outputs(named):
    """The paths of a ``{name: path or [paths]}`` output mapping, in order (a batch rule's output list)."""
    return [p for v in named.values() for p in ([v] if isinstance(v, str) else v)]


FMRI_STEP_OPTS = opts("fmri", only=("detrend", "high_pass", "low_pass", "standardize"), **confound_columns())


def fmri_subject_outputs(sub):
    """One subject's fMRI chain outputs ({sub} for the wildcard rule): ROI time
    series, connectivity matrices, graph features, with sidecars, figures, fragments."""
    relmats = [fmri_out(sub, f"stat-{stat}_relmat.tsv") for stat in FC_STATS]
    return dict(
        tsv=fmri_out(sub, "timeseries.tsv"),
        sidecar=sidecar(fmri_out(sub, "timeseries.tsv")),
        figure=figure(sub, "desc-carpet_bold.png"),
        fragment=subject_fragment(sub, "fmri"),
        relmats=relmats,
        fc_sidecars=[sidecar(p) for p in relmats],
        fc_figure=report(figure(sub, "desc-fc_relmat.png"), caption="../report/fmri_fc.rst", category="fMRI",
                         subcategory="connectivity"),
        fc_fragment=subject_fragment(sub, "fc"),
        # the graph step's files (fmri.graph.enabled; none when it is off)
        graph=fmri_graph_outputs(sub),
    )


def fmri_subject_steps(sub):
    """``fmri-timeseries ... ++ fmri-connectivity ... [++ fmri-graph ...]`` of one subject, shell-quoted."""
    out = fmri_subject_outputs(sub)
    atlas, labels = config["fmri"]["atlas"]["maps"], config["fmri"]["atlas"]["labels"]
    confounds = confounds_path(sub)
    steps = [
        ["fmri-timeseries", "--bold", BOLD[sub], *(["--confounds", confounds] if confounds else []),
         "--atlas", atlas, "--labels", labels, "--output", out["tsv"], "--figure", out["figure"],
         "--fragment", out["fragment"], "--opts", FMRI_STEP_OPTS],
        ["fmri-connectivity", "--timeseries", out["tsv"], "--labels", labels, "--kinds", json.dumps(FC_KINDS),
         "--figure", out["fc_figure"], "--fragment", out["fc_fragment"], "--outputs", *out["relmats"]],
    ]
    if FMRI["graph"]["enabled"]:
        nodes, network, _, _, fig, fragment = out["graph"]
        steps.append(["fmri-graph", "--relmat", fmri_out(sub, "stat-pearsoncorrelation_relmat.tsv"),
                      "--labels", labels, "--nodes", nodes, "--network", network, "--figure", fig,
                      "--fragment", fragment, "--opts", opts("fmri", "graph")])
    return " ++ ".join(shell_args(step) for step in steps)


def mri_qc_outputs(sub):
    """One subject's T1 QC outputs ({sub} for the wildcard rule)."""
    mask = str(RES / f"sub-{sub}/anat/sub-{sub}_desc-brain_mask.nii.gz")
    metrics = str(RES / f"sub-{sub}/anat/sub-{sub}_desc-iqms_T1w.tsv")
    return dict(
        mask=mask,
        metrics=metrics,
        sidecars=[sidecar(mask), sidecar(metrics)],
        figure=report(figure(sub, "desc-mosaic_T1w.png"), caption="../report/mri_mosaic.rst",
                      category="Structural MRI"),
        figure_background=figure(sub, "desc-background_T1w.png"),
        fragment=subject_fragment(sub, "mri"),
    )


def mri_qc_steps(sub):
    """``mri-qc ...`` of one subject, shell-quoted."""
    out = mri_qc_outputs(sub)
    return shell_args(["mri-qc", "--t1", T1W[sub], "--mask", out["mask"], "--metrics", out["metrics"],
                       "--figure", out["figure"], "--figure-background", out["figure_background"],
                       "--fragment", out["fragment"]])


def fmri_subject_steps_of(wildcards):
    return fmri_subject_steps(wildcards.sub)


def mri_qc_steps_of(wildcards):
    return mri_qc_steps(wildcards.sub)


def eeg_subjects_with_runs():
    """Subjects with BIDS EEG runs to preprocess (none for a MOABB dataset)."""
    return sorted({sub for (sub, _) in EEG_RAW})


def preprocess_eeg_outputs(sub, runkey):
    """One preprocessed EEG run ({sub}/{runkey} for the wildcard rule), its events, fragment, figures, sidecar."""
    fif = eeg_preproc(sub, runkey)
    return dict(
        fif=fif,
        events=eeg_preproc(sub, runkey, "_desc-preproc_events.tsv"),
        fragment=subject_fragment(sub, "eeg", runkey),
        # written beside the fragment; tagged for `snakemake --report`
        psd=report(figure(sub, f"{runkey}_desc-psd_eeg.png"), caption="../report/eeg_psd.rst",
                   category="EEG", subcategory=f"sub-{sub}"),
        events_figure=figure(sub, f"{runkey}_desc-events_eeg.png"),
        sidecar=sidecar(fif),
    )


#: eeg.events renames the cues in preprocessing: every later step sees the paradigm's class names
EEG_PREPROCESS_OPTS = opts("eeg", "preprocess", **({"events": EEG_EVENTS} if EEG_EVENTS else {}))


def preprocess_eeg_steps(sub, runkey):
    """``preprocess-eeg ...`` of one run, shell-quoted."""
    out = preprocess_eeg_outputs(sub, runkey)
    return shell_args(["preprocess-eeg", "--input", EEG_RAW[(sub, runkey)], "--output", out["fif"],
                       "--events", out["events"], "--fragment", out["fragment"], "--opts", EEG_PREPROCESS_OPTS])


def eeg_covariances_outputs(sub, seskey):
    """One session's covariance features ({sub}/{seskey} for the wildcard rule), sidecar, fragment, figure."""
    npz = eeg_session_out(sub, seskey, "desc-cov_features.npz")
    return dict(
        npz=npz,
        sidecar=sidecar(npz),
        fragment=subject_fragment(sub, "eegcov", seskey),
        # the class-mean covariance figure, written beside the fragment
        figure=figure(sub, f"{seskey}_desc-cov_mean.png"),
    )


EEG_COVARIANCE_OPTS = opts("eeg", "epochs", estimator=config["eeg"]["covariance"]["estimator"])


def eeg_covariances_steps(sub, seskey):
    """``eeg-covariances ...`` of one session, shell-quoted."""
    out = eeg_covariances_outputs(sub, seskey)
    return shell_args(["eeg-covariances", "--output", out["npz"], "--fragment", out["fragment"],
                       "--opts", EEG_COVARIANCE_OPTS, *(eeg_preproc(sub, key) for key in eeg_runs(sub, seskey))])


def preprocess_eeg_steps_of(wildcards):
    return preprocess_eeg_steps(wildcards.sub, wildcards.runkey)


def eeg_covariances_steps_of(wildcards):
    return eeg_covariances_steps(wildcards.sub, wildcards.seskey)
