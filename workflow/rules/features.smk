# Features: EEG trial covariances (pyriemann), fMRI functional connectivity
# (nilearn ConnectivityMeasure) per subject and tangent-space across subjects.


rule eeg_covariances:
    conda:
        CONDA_ENV
    input:
        runs=session_preproc_runs,
    output:
        npz=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_ses-{{ses}}_task-{EEG_TASK}_desc-cov_features.npz"),
        fragment=figure("{sub}", "ses-{ses}_desc-eegcov_fragment.json"),
    log:
        str(LOGS / "eeg_covariances/sub-{sub}_ses-{ses}.log"),
    params:
        opts=opts("eeg", "epochs", estimator=config["eeg"]["covariance"]["estimator"]),
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "brainpipe eeg-covariances --output {output.npz} --fragment {output.fragment}"
        " --opts {params.opts} {input.runs} > {log} 2>&1"


rule fmri_connectivity:
    conda:
        CONDA_ENV
    input:
        tsv=fmri_out("{sub}", "timeseries.tsv"),
        labels=config["fmri"]["atlas"]["labels"],
    output:
        relmats=expand(fmri_out("{{sub}}", "stat-{stat}_relmat.tsv"), stat=FC_STATS),
        figure=figure("{sub}", "desc-fc_relmat.png"),
        fragment=figure("{sub}", "desc-fc_fragment.json"),
    log:
        str(LOGS / "fmri_connectivity/sub-{sub}.log"),
    params:
        kinds=shlex.quote(json.dumps(FC_KINDS)),
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "brainpipe fmri-connectivity --timeseries {input.tsv} --labels {input.labels} --kinds {params.kinds}"
        " --figure {output.figure} --fragment {output.fragment} --outputs {output.relmats} > {log} 2>&1"


rule fmri_tangent:
    conda:
        CONDA_ENV
    input:
        timeseries=all_timeseries(),
        labels=config["fmri"]["atlas"]["labels"],
    output:
        group=str(RES / f"group/func/task-{FMRI_TASK}_atlas-{ATLAS}_stat-tangent_relmat.tsv"),
        relmats=[fmri_out(sub, "stat-tangent_relmat.tsv") for sub in sorted(BOLD)],
        figure=str(RES / f"group/figures/task-{FMRI_TASK}_atlas-{ATLAS}_stat-tangent_relmat.png"),
        fragment=str(RES / "group/figures/desc-tangent_fragment.json"),
    log:
        str(LOGS / "fmri_tangent/group.log"),
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "brainpipe fmri-group-connectivity --group {output.group} --outputs {output.relmats}"
        " --labels {input.labels} --figure {output.figure} --fragment {output.fragment} --timeseries {input.timeseries} > {log} 2>&1"
