# One HTML report per subject (built by a few jobs), assembled from the fragments the stages wrote,
# with the subject's raw inputs checksummed in its provenance footer; then the
# group report: one row of key numbers per subject (read from the stages' small
# tables), a link to each subject report, and the group-level fragments.


# The subject reports in a few jobs (`brainpipe steps report --subject A ... ++
# report --subject B ...`, one process each): report_eeg for the EEG subjects,
# whose reports wait for the BCI jobs, and report_imaging (report_imaging_2, ...
# past 20 subjects) for the others, which can run as soon as the fMRI group
# models are done. Each report is a second of work after 2-3 s of imports
# (mne.Report pulls in most of MNE and scipy.signal), which a job per subject
# paid again.
for _batch, _subs in report_batches().items():

    rule:
        name:
            f"report_{_batch}"
        conda:
            CONDA_ENV
        input:
            fragments=[f for sub in _subs for f in report_fragments(subject_wildcards(sub))],
            raw=[f for sub in _subs for f in subject_raw_inputs(subject_wildcards(sub))],
            tfm=sorted({f for sub in _subs for f in subject_tfm_tokenizer(subject_wildcards(sub))}),
            scores=[f for sub in _subs for f in subject_bci_scores(subject_wildcards(sub))],
        output:
            [subject_report(sub) for sub in _subs],
        log:
            str(LOGS / f"report/{_batch}.log"),
        benchmark:
            str(BENCHMARKS / f"report/{_batch}.tsv"),
        resources:
            mem_mb=2000,
            runtime=10 + len(_subs) // 20,
        params:
            steps=subject_report_steps(_subs),
        shell:
            "brainpipe steps {params.steps} > {log:q} 2>&1"


rule group_report:
    conda:
        CONDA_ENV
    input:
        fragments=group_fragments(),
        reports=subject_reports(),
        tables=group_key_tables(),
        participants=participants_file(),
    output:
        str(RES / "group/group_report.html"),
    log:
        str(LOGS / "report/group.log"),
    benchmark:
        str(BENCHMARKS / "report/group.tsv"),
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config_hash=CONFIG_HASH,
        # stages the cohort left out (fmri_predict on too few subjects...): a summary line
        opts=group_report_opts,
    shell:
        "brainpipe report --output {output:q} --opts {params.opts:q} --config-hash {params.config_hash:q} {input.fragments:q}"
        " --subject-reports {input.reports:q} --tables {input.tables:q} --inputs {input.participants:q}"
        " > {log:q} 2>&1"
