# One HTML report per subject, assembled from the fragments the stages wrote,
# with the subject's raw inputs checksummed in its provenance footer; then the
# group report: one row of key numbers per subject (read from the stages' small
# tables), a link to each subject report, and the group-level fragments.


rule report:
    conda:
        CONDA_ENV
    input:
        fragments=report_fragments,
        raw=subject_raw_inputs,
        tfm=subject_tfm_tokenizer,
        scores=subject_bci_scores,
    output:
        str(RES / "sub-{sub}/sub-{sub}_report.html"),
    log:
        str(LOGS / "report/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "report/sub-{sub}.tsv"),
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # what the data left out (one session, one run...): a line of the summary
        opts=report_opts,
        config_hash=CONFIG_HASH,
        tfm=subject_tfm_option,
    shell:
        "brainpipe report --subject {wildcards.sub:q} --output {output:q} --opts {params.opts:q}"
        " --config-hash {params.config_hash:q} {params.tfm} {input.fragments:q} --inputs {input.raw:q}"
        " --tables {input.scores:q} > {log:q} 2>&1"


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
