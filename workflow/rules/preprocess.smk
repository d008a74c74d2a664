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


rule fmri_timeseries:
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
    log:
        str(LOGS / "fmri_timeseries/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "fmri_timeseries/sub-{sub}.tsv"),
    params:
        opts=opts(
            "fmri",
            only=("detrend", "high_pass", "low_pass", "standardize"),
            **confound_columns(),
        ),
        confounds=confounds_option,
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "brainpipe fmri-timeseries --bold {input.bold:q} {params.confounds} --atlas {input.atlas:q}"
        " --labels {input.labels:q} --output {output.tsv:q} --figure {output.figure:q} --fragment {output.fragment:q}"
        " --opts {params.opts:q} > {log:q} 2>&1"


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
