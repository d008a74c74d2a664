# Preprocessing, one rule per modality: EEG (MNE), fMRI ROI signals (nilearn),
# T1 quality control.


rule preprocess_eeg:
    priority: EEG_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        raw=eeg_raw_file,
    output:
        fif=eeg_preproc("{sub}", "{runkey}"),
        events=eeg_preproc("{sub}", "{runkey}", "_desc-preproc_events.tsv"),
        fragment=subject_fragment("{sub}", "eeg", "{runkey}"),
        # written beside the fragment; tagged for `snakemake --report`
        psd=report(figure("{sub}", "{runkey}_desc-psd_eeg.png"), caption="../report/eeg_psd.rst",
                   category="EEG", subcategory="sub-{sub}"),
        events_figure=figure("{sub}", "{runkey}_desc-events_eeg.png"),
        sidecar=sidecar(eeg_preproc("{sub}", "{runkey}")),
    log:
        str(LOGS / "preprocess_eeg/sub-{sub}_{runkey}.log"),
    benchmark:
        str(BENCHMARKS / "preprocess_eeg/sub-{sub}_{runkey}.tsv"),
    params:
        # eeg.events renames the cues here: every later step sees the paradigm's class names
        opts=opts("eeg", "preprocess", **({"events": EEG_EVENTS} if EEG_EVENTS else {})),
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "brainpipe preprocess-eeg --input {input.raw:q} --output {output.fif:q} --events {output.events:q}"
        " --fragment {output.fragment:q} --opts {params.opts:q} > {log:q} 2>&1"


rule fmri_subject:
    priority: FMRI_CHAIN_PRIORITY
    # One subject's fMRI chain in one job (`brainpipe steps`): ROI time series
    # (nilearn masker + signal.clean), per-subject connectivity, graph
    # features. Each is its own step (CLI command, figure, report fragment);
    # run apart they cost a process each, and on the demo's small images the
    # imports (nilearn, scipy.stats, matplotlib) were most of every job.
    # Still one job per subject on a cluster.
    conda:
        CONDA_ENV
    input:
        bold=bold_file,
        confounds=confounds_file,
        atlas=config["fmri"]["atlas"]["maps"],
        labels=config["fmri"]["atlas"]["labels"],
    output:
        tsv=fmri_out("{sub}", "timeseries.tsv"),
        sidecar=sidecar(fmri_out("{sub}", "timeseries.tsv")),
        figure=figure("{sub}", "desc-carpet_bold.png"),
        fragment=subject_fragment("{sub}", "fmri"),
        relmats=expand(fmri_out("{{sub}}", "stat-{stat}_relmat.tsv"), stat=FC_STATS),
        fc_sidecars=[sidecar(p) for p in expand(fmri_out("{{sub}}", "stat-{stat}_relmat.tsv"), stat=FC_STATS)],
        fc_figure=report(figure("{sub}", "desc-fc_relmat.png"), caption="../report/fmri_fc.rst", category="fMRI",
                         subcategory="connectivity"),
        fc_fragment=subject_fragment("{sub}", "fc"),
        # the graph step's files (fmri.graph.enabled; none when it is off)
        graph=fmri_graph_outputs("{sub}"),
    log:
        str(LOGS / "fmri_subject/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "fmri_subject/sub-{sub}.tsv"),
    params:
        opts=opts(
            "fmri",
            only=("detrend", "high_pass", "low_pass", "standardize"),
            **confound_columns(),
        ),
        confounds=confounds_option,
        kinds=json.dumps(FC_KINDS),
        graph_step=fmri_graph_step,
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "brainpipe steps"
        " fmri-timeseries --bold {input.bold:q} {params.confounds} --atlas {input.atlas:q}"
        " --labels {input.labels:q} --output {output.tsv:q} --figure {output.figure:q} --fragment {output.fragment:q}"
        " --opts {params.opts:q}"
        " ++ fmri-connectivity --timeseries {output.tsv:q} --labels {input.labels:q} --kinds {params.kinds:q}"
        " --figure {output.fc_figure:q} --fragment {output.fc_fragment:q} --outputs {output.relmats:q}"
        " {params.graph_step} > {log:q} 2>&1"


rule mri_qc:
    conda:
        CONDA_ENV
    input:
        t1=t1_file,
    output:
        mask=str(RES / "sub-{sub}/anat/sub-{sub}_desc-brain_mask.nii.gz"),
        metrics=str(RES / "sub-{sub}/anat/sub-{sub}_desc-iqms_T1w.tsv"),
        sidecars=[sidecar(str(RES / "sub-{sub}/anat/sub-{sub}_desc-brain_mask.nii.gz")),
                  sidecar(str(RES / "sub-{sub}/anat/sub-{sub}_desc-iqms_T1w.tsv"))],
        figure=report(figure("{sub}", "desc-mosaic_T1w.png"), caption="../report/mri_mosaic.rst",
                      category="Structural MRI"),
        figure_background=figure("{sub}", "desc-background_T1w.png"),
        fragment=subject_fragment("{sub}", "mri"),
    log:
        str(LOGS / "mri_qc/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "mri_qc/sub-{sub}.tsv"),
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "brainpipe mri-qc --t1 {input.t1:q} --mask {output.mask:q} --metrics {output.metrics:q}"
        " --figure {output.figure:q} --figure-background {output.figure_background:q}"
        " --fragment {output.fragment:q} > {log:q} 2>&1"
