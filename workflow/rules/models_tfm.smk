# tfm: the group-level TFM tokenizer (brainpipe.models.TFMTokenizer), trained
# self-supervised on every preprocessed EEG run; the tfm_transformer pipelines
# of bci.offline / bci.pseudo_online read it (bci.smk, helpers in common.smk).
# resources: gpu is models.tfm.gpu (0 or 1; the SLURM profile turns 1 into a
# GPU request; set models.device to cuda or keep auto on a GPU node).

if tfm_enabled():

    rule tfm_tokenizer:
        # above the rest of the chain: every bci_offline job waits for it
        priority: EEG_CHAIN_PRIORITY + 10
        conda:
            CONDA_ENV
        input:
            runs=all_preproc_runs(),
        output:
            model=TFM_TOKENIZER,
            training=str(RES / f"group/eeg/task-{EEG_TASK}_desc-tfm_training.tsv"),
            figures=[
                str(RES / f"group/figures/task-{EEG_TASK}_desc-tfm_{name}.png")
                for name in ("training", "usage", "classtokens")
            ],
            reconstruction=report(str(RES / f"group/figures/task-{EEG_TASK}_desc-tfm_reconstruction.png"),
                                  caption="../report/tfm_reconstruction.rst", category="Models",
                                  subcategory="TFM tokenizer"),
            # the step writes its figures beside the fragment
            fragment=group_fragment("tfm"),
            sidecars=[sidecar(TFM_TOKENIZER)],
        log:
            str(LOGS / "tfm_tokenizer/group.log"),
        benchmark:
            str(BENCHMARKS / "tfm_tokenizer/group.tsv"),
        params:
            opts=opts("models", "tfm", seed=config["seed"], device=config["models"]["device"]),
        # one thread here: on a 2-core machine a 2-thread job waits until no
        # other job runs, which in a stream of short jobs meant the end of the
        # run (`set-threads` in a profile gives training jobs more)
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=TFM.get("gpu", 0),
        shell:
            "brainpipe tfm-tokenizer --model {output.model:q} --training {output.training:q}"
            " --fragment {output.fragment:q} --threads {threads}"
            " --opts {params.opts:q} {input.runs:q} > {log:q} 2>&1"
