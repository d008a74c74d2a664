# Ingest: the simulated demo dataset (when enabled) and the derivatives' own
# dataset_description.json. onstart runs `brainpipe validate` first: the data
# and the merged config (the config alone for the demo, simulated by a job).


if SIM["enabled"]:

    rule simulate:
        conda:
            CONDA_ENV
        output:
            description=str(BIDS / "dataset_description.json"),
            files=simulated_files(),
        log:
            str(LOGS / "simulate/simulate.log"),
        benchmark:
            str(BENCHMARKS / "simulate/simulate.tsv"),
        params:
            seed=config["seed"],
            opts=opts("simulate"),
        shell:
            "brainpipe simulate --output \"$(dirname {output.description:q})\" --seed {params.seed:q} --opts {params.opts:q} > {log:q} 2>&1"

    # the data are written by the first job: check the config alone
    onstart:
        shell(validate_command(config_only=True))

else:

    # every up-front check of the data and of the config, before any job
    onstart:
        shell(validate_command())


rule dataset_description:
    conda:
        CONDA_ENV
    output:
        str(RES / "dataset_description.json"),
    log:
        str(LOGS / "dataset_description/dataset_description.log"),
    benchmark:
        str(BENCHMARKS / "dataset_description/dataset_description.tsv"),
    params:
        source=str(BIDS),
    shell:
        "brainpipe dataset-description --output-dir \"$(dirname {output:q})\" --sources {params.source:q} > {log:q} 2>&1"
