# DemoVAE (brainpipe.models.DemoVAE): group-level training on every subject's
# Pearson FC and demographics, synthetic FC, and harmonization to one site;
# the harmonized FC goes through fmri_predict again ("after harmonization").

if demovae_enabled():

    rule demovae_fit:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            relmats=demovae_fc(),
            participants=str(BIDS / "participants.tsv"),
        output:
            model=group_out("func", "desc-demovae_model.pt"),
            training=group_out("func", "desc-demovae_training.tsv"),
            latents=group_out("func", "desc-demovae_latents.tsv"),
            curves=str(RES / "group/figures/desc-demovaetraining_plot.png"),
            correlations=report(str(RES / "group/figures/desc-demovaecorr_plot.png"),
                                caption="../report/demovae_correlations.rst", category="Models", subcategory="DemoVAE"),
            fragment=group_fragment("demovae"),
            sidecars=[sidecar(group_out("func", f"desc-demovae_{n}.tsv")) for n in ("training", "latents")],
        log:
            str(LOGS / "demovae_fit/group.log"),
        benchmark:
            str(BENCHMARKS / "demovae_fit/group.tsv"),
        params:
            opts=opts(
                "models",
                "demovae",
                only=[k for k in DEMOVAE if k not in ("harmonize", "device")],
                seed=config["seed"],
                device=config["models"]["device"],
            ),
            checkpoints=str(RES / ".checkpoints"),
        # one thread here: on a 2-core machine a 2-thread job waits until no
        # other job runs, which in a stream of short jobs meant the end of the
        # run (`set-threads` in a profile gives training jobs more)
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
            gpu=model_gpu(DEMOVAE),
        shell:
            "brainpipe demovae-fit --participants {input.participants:q} --model {output.model:q}"
            " --training {output.training:q} --latents {output.latents:q} --curves {output.curves:q}"
            " --correlations {output.correlations:q} --fragment {output.fragment:q}"
            " --checkpoint-dir {params.checkpoints:q} --threads {threads} --opts {params.opts:q}"
            " {input.relmats:q} > {log:q} 2>&1"

    rule demovae_generate:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            model=rules.demovae_fit.output.model,
            relmats=demovae_fc(),
            participants=str(BIDS / "participants.tsv"),
        output:
            tsv=group_out("func", "desc-demovaesynth_scores.tsv"),
            figure=str(RES / "group/figures/desc-demovaesynth_plot.png"),
            fragment=group_fragment("demovaesynth"),
            subject_figures=demovae_subject_figures(),
            subject_fragments=demovae_subject_fragments(),
            sidecar=sidecar(group_out("func", "desc-demovaesynth_scores.tsv")),
        log:
            str(LOGS / "demovae_generate/group.log"),
        benchmark:
            str(BENCHMARKS / "demovae_generate/group.tsv"),
        params:
            opts=json.dumps({"seed": config["seed"]}),
        resources:
            mem_mb=4000,
            runtime=30,
        shell:
            "brainpipe demovae-generate --model {input.model:q} --participants {input.participants:q}"
            " --output {output.tsv:q} --figure {output.figure:q} --fragment {output.fragment:q}"
            " --subject-figures {output.subject_figures:q} --subject-fragments {output.subject_fragments:q}"
            " --threads 1 --opts {params.opts:q} --relmats {input.relmats:q} > {log:q} 2>&1"

    rule demovae_harmonize:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            model=rules.demovae_fit.output.model,
            relmats=demovae_fc(),
            participants=str(BIDS / "participants.tsv"),
        output:
            tsv=group_out("func", "desc-demovaeharmonize_scores.tsv"),
            relmats=harmonized_relmats(),
            figure=report(str(RES / "group/figures/desc-demovaeharmonize_plot.png"),
                          caption="../report/demovae_harmonize.rst", category="Models", subcategory="DemoVAE"),
            fragment=group_fragment("demovaeharmonize"),
            sidecar=sidecar(group_out("func", "desc-demovaeharmonize_scores.tsv")),
        log:
            str(LOGS / "demovae_harmonize/group.log"),
        benchmark:
            str(BENCHMARKS / "demovae_harmonize/group.tsv"),
        params:
            opts=opts("models", "demovae", "harmonize", seed=config["seed"]),
        resources:
            mem_mb=4000,
            runtime=30,
        shell:
            "brainpipe demovae-harmonize --model {input.model:q} --participants {input.participants:q}"
            " --output {output.tsv:q} --outputs {output.relmats:q} --figure {output.figure:q}"
            " --fragment {output.fragment:q} --threads 1 --opts {params.opts:q}"
            " --relmats {input.relmats:q} > {log:q} 2>&1"

    rule fmri_predict_harmonized:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            relmats=harmonized_relmats(),
            participants=str(BIDS / "participants.tsv"),
        output:
            tsv=group_out("func", "desc-predictionharmonized_scores.tsv"),
            predictions=group_out("func", "desc-predictionharmonized_predictions.tsv"),
            figure=str(RES / "group/figures/desc-predictionharmonized_scores.png"),
            fragment=group_fragment("predictionharmonized"),
            sidecars=[sidecar(group_out("func", f"desc-predictionharmonized_{n}.tsv"))
                      for n in ("scores", "predictions")],
        log:
            str(LOGS / "fmri_predict_harmonized/group.log"),
        benchmark:
            str(BENCHMARKS / "fmri_predict_harmonized/group.tsv"),
        params:
            opts=opts("fmri", "prediction", seed=config["seed"], title="after DemoVAE harmonization",
                      note=harmonized_prediction_note()),
        resources:
            mem_mb=4000,
            runtime=60,
        shell:
            "brainpipe fmri-predict --participants {input.participants:q} --output {output.tsv:q}"
            " --predictions {output.predictions:q} --figure {output.figure:q} --fragment {output.fragment:q}"
            " --opts {params.opts:q} {input.relmats:q} > {log:q} 2>&1"
