# Ingest: the simulated demo dataset (when enabled) and the derivatives' own
# dataset_description.json. Real datasets are checked up front by onstart.


if SIM["enabled"]:

    rule simulate:
        conda:
            CONDA_ENV
        output:
            description=str(BIDS / "dataset_description.json"),
            files=simulated_files(),
        log:
            str(LOGS / "simulate/simulate.log"),
        params:
            seed=config["seed"],
            opts=opts("simulate"),
        shell:
            "brainpipe simulate --output \"$(dirname {output.description:q})\" --seed {params.seed:q} --opts {params.opts:q} > {log:q} 2>&1"

else:

    onstart:
        shell(f"brainpipe validate {shlex.quote(str(BIDS))}")


rule dataset_description:
    conda:
        CONDA_ENV
    output:
        str(RES / "dataset_description.json"),
    log:
        str(LOGS / "dataset_description/dataset_description.log"),
    params:
        source=str(BIDS),
    shell:
        "brainpipe dataset-description --output-dir \"$(dirname {output:q})\" --sources {params.source:q} > {log:q} 2>&1"
