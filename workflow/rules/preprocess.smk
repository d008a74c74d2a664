# Preprocessing, one rule per modality: EEG (MNE), fMRI ROI signals (nilearn),
# T1 quality control.


# One job per run (subjects_per_job: 1) or one job over the runs of a batch
# of subjects (see the imaging rules below for why).
if SUBJECTS_PER_JOB == 1:

    rule preprocess_eeg:
        priority: EEG_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            raw=eeg_raw_file,
        output:
            **preprocess_eeg_outputs("{sub}", "{runkey}"),
        log:
            str(LOGS / "preprocess_eeg/sub-{sub}_{runkey}.log"),
        benchmark:
            str(BENCHMARKS / "preprocess_eeg/sub-{sub}_{runkey}.tsv"),
        params:
            steps=preprocess_eeg_steps_of,
        resources:
            mem_mb=2000,
            runtime=20,
        shell:
            "brainpipe steps {params.steps} > {log:q} 2>&1"

else:
    for _batch, _subs in subject_batches(eeg_subjects_with_runs()).items():
        _runs = [(sub, key) for (sub, key) in sorted(EEG_RAW) if sub in _subs]

        rule:
            name:
                f"preprocess_eeg_{_batch}"
            priority: EEG_CHAIN_PRIORITY
            conda:
                CONDA_ENV
            input:
                raw=[EEG_RAW[run] for run in _runs],
            output:
                [p for run in _runs for p in flat_outputs(preprocess_eeg_outputs(*run))],
            log:
                str(LOGS / f"preprocess_eeg/{_batch}.log"),
            benchmark:
                str(BENCHMARKS / f"preprocess_eeg/{_batch}.tsv"),
            params:
                steps=batch_steps([preprocess_eeg_steps(*run) for run in _runs], f"preprocess_eeg_{_batch}"),
            resources:
                mem_mb=2000,
                runtime=20 * len(_runs),
            shell:
                "brainpipe steps {params.steps} > {log:q} 2>&1"


# -- per-subject imaging: fMRI chain and T1 QC -----------------------------------
# Both run as one job per subject (subjects_per_job: 1, what a cluster wants)
# or as jobs over batches of subjects (the demo's 10): each job runs its
# subjects' steps in one process (`brainpipe steps A ... ++ B ...`). On the
# demo's small images every step is a second or two of work after 1.5-2 s of
# imports (nilearn, scipy.ndimage, matplotlib) and Snakemake's own per-job
# bookkeeping, which 80 jobs paid again; Snakemake's `group:` does not help
# here: it is inactive in local execution and still starts a process per job.

if SUBJECTS_PER_JOB == 1:

    rule fmri_subject:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            bold=bold_file,
            confounds=confounds_file,
            atlas=config["fmri"]["atlas"]["maps"],
            labels=config["fmri"]["atlas"]["labels"],
        output:
            **fmri_subject_outputs("{sub}"),
        log:
            str(LOGS / "fmri_subject/sub-{sub}.log"),
        benchmark:
            str(BENCHMARKS / "fmri_subject/sub-{sub}.tsv"),
        params:
            steps=fmri_subject_steps_of,
        resources:
            mem_mb=3000,
            runtime=30,
        shell:
            "brainpipe steps {params.steps} > {log:q} 2>&1"

    rule mri_qc:
        conda:
            CONDA_ENV
        input:
            t1=t1_file,
        output:
            **mri_qc_outputs("{sub}"),
        log:
            str(LOGS / "mri_qc/sub-{sub}.log"),
        benchmark:
            str(BENCHMARKS / "mri_qc/sub-{sub}.tsv"),
        params:
            steps=mri_qc_steps_of,
        resources:
            mem_mb=3000,
            runtime=20,
        shell:
            "brainpipe steps {params.steps} > {log:q} 2>&1"

else:
    for _batch, _subs in subject_batches(sorted(BOLD)).items():

        rule:
            name:
                f"fmri_subject_{_batch}"
            priority: FMRI_CHAIN_PRIORITY
            conda:
                CONDA_ENV
            input:
                bold=[BOLD[sub] for sub in _subs],
                confounds=[p for sub in _subs for p in confounds_file(subject_wildcards(sub))],
                atlas=config["fmri"]["atlas"]["maps"],
                labels=config["fmri"]["atlas"]["labels"],
            output:
                [p for sub in _subs for p in flat_outputs(fmri_subject_outputs(sub))],
            log:
                str(LOGS / f"fmri_subject/{_batch}.log"),
            benchmark:
                str(BENCHMARKS / f"fmri_subject/{_batch}.tsv"),
            params:
                steps=batch_steps([fmri_subject_steps(sub) for sub in _subs], f"fmri_subject_{_batch}"),
            resources:
                mem_mb=3000,
                runtime=30 * len(_subs),
            shell:
                "brainpipe steps {params.steps} > {log:q} 2>&1"

    for _batch, _subs in subject_batches(sorted(T1W)).items():

        rule:
            name:
                f"mri_qc_{_batch}"
            conda:
                CONDA_ENV
            input:
                t1=[T1W[sub] for sub in _subs],
            output:
                [p for sub in _subs for p in flat_outputs(mri_qc_outputs(sub))],
            log:
                str(LOGS / f"mri_qc/{_batch}.log"),
            benchmark:
                str(BENCHMARKS / f"mri_qc/{_batch}.tsv"),
            params:
                steps=batch_steps([mri_qc_steps(sub) for sub in _subs], f"mri_qc_{_batch}"),
            resources:
                mem_mb=3000,
                runtime=20 * len(_subs),
            shell:
                "brainpipe steps {params.steps} > {log:q} 2>&1"
