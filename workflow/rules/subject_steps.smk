# What the per-subject imaging jobs run (preprocess.smk's fmri_subject and
# mri_qc): each subject's outputs and `brainpipe steps` command line, and how
# subjects are batched into jobs (config subjects_per_job). Names only, no
# processing.


#: config subjects_per_job: subjects per job of the per-subject imaging rules
#: (fmri_subject, mri_qc). 1: one job per subject, a rule with a {sub}
#: wildcard (what profiles/slurm asks for); more: rules over fixed batches
#: (fmri_subject_batch1, ...), made in a loop, each running its subjects'
#: steps in one process.
SUBJECTS_PER_JOB = config.get("subjects_per_job", 1)


def subject_batches(subjects):
    """``{"batch1": [...], "batch2": [...], ...}``: ``subjects`` in order, in runs of subjects_per_job."""
    n = SUBJECTS_PER_JOB
    return {f"batch{k + 1}": list(subjects[i:i + n]) for k, i in enumerate(range(0, len(subjects), n))}


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
