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
    shell:
        "brainpipe report --subject {wildcards.sub:q} --output {output:q} {input:q} > {log:q} 2>&1"


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
    shell:
        "brainpipe report --output {output:q} {input:q} > {log:q} 2>&1"
