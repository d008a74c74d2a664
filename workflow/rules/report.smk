# One HTML report per subject (all built by one job), assembled from the fragments the stages wrote,
# with the subject's raw inputs checksummed in its provenance footer; then the
# group report: one row of key numbers per subject (read from the stages' small
# tables), a link to each subject report, and the group-level fragments.


rule report:
    # Every subject's report in one job: `brainpipe steps report --subject A
    # ... ++ report --subject B ...`, one process. Each report is a second of
    # work after 2-3 s of imports (mne.Report pulls in most of MNE and
    # scipy.signal), which a job per subject paid again; the reports need the
    # group models (DemoVAE, BrainMAE) anyway, so they are all built at the end.
    conda:
        CONDA_ENV
    input:
        fragments=lambda wc: [f for sub in SUBJECTS for f in report_fragments(subject_wildcards(sub))],
        raw=lambda wc: [f for sub in SUBJECTS for f in subject_raw_inputs(subject_wildcards(sub))],
        tfm=lambda wc: sorted({f for sub in SUBJECTS for f in subject_tfm_tokenizer(subject_wildcards(sub))}),
        scores=lambda wc: [f for sub in SUBJECTS for f in subject_bci_scores(subject_wildcards(sub))],
    output:
        subject_reports(),
    log:
        str(LOGS / "report/subjects.log"),
    benchmark:
        str(BENCHMARKS / "report/subjects.tsv"),
    resources:
        mem_mb=2000,
        runtime=lambda wc: 10 + len(SUBJECTS) // 20,
    params:
        steps=subject_report_steps,
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
