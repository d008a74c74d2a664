# One HTML report per subject, assembled from the fragments the stages wrote.


rule report:
    conda:
        CONDA_ENV
    input:
        report_fragments,
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
    shell:
        "brainpipe report --subject {wildcards.sub:q} --output {output:q} --opts {params.opts:q} {input:q} > {log:q} 2>&1"


rule group_report:
    conda:
        CONDA_ENV
    input:
        group_fragments(),
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
        # stages the cohort left out (fmri_predict on too few subjects...): a summary line
        opts=group_report_opts,
    shell:
        "brainpipe report --output {output:q} --opts {params.opts:q} {input:q} > {log:q} 2>&1"
