# BrainMAE (brainpipe.models.BrainMAE): group-level self-supervised
# pretraining on every subject's ROI time series (segment length from the
# BOLD sidecars' RepetitionTime), linear probes against random init and
# FC + ridge, and one masked segment per subject in the subject report.

BRAINMAE = config.get("models", {}).get("brainmae", {})
# BrainMAE runs when enabled and fMRI gives it subjects to hold out (>= 3);
# common.smk's fragment lists read this too.
BRAINMAE_ENABLED = bool(BRAINMAE.get("enabled", False)) and FMRI["enabled"] and len(BOLD) >= 3
# 1 when the models train on CUDA by the config (models.device: cuda...), else
# 0: the SLURM profile turns gpu=1 into a GPU request; "auto" asks for none.
BRAINMAE_GPU = 1 if str(config.get("models", {}).get("device", "auto")).startswith("cuda") else 0


if BRAINMAE_ENABLED:

    rule brainmae_pretrain:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            timeseries=all_timeseries(),
            # the BOLD runs of the time series, same order: their sidecars give the TR
            bolds=[str(BOLD[sub]) for sub in sorted(BOLD)],
            labels=config["fmri"]["atlas"]["labels"],
        output:
            model=group_out("func", "desc-brainmae_model.pt"),
            training=group_out("func", "desc-brainmae_training.tsv"),
            reconstruction=group_out("func", "desc-brainmae_reconstruction.tsv"),
            similarity=group_out("func", "desc-brainmae_similarity.tsv"),
            embeddings=group_out("func", "desc-brainmae_embeddings.npz"),
            curves=str(RES / "group/figures/desc-brainmaetraining_plot.png"),
            similarity_figure=str(RES / "group/figures/desc-brainmaesimilarity_plot.png"),
            fragment=group_fragment("brainmae"),
            sidecars=[sidecar(group_out("func", f"desc-brainmae_{n}")) for n in
                      ("model.pt", "training.tsv", "reconstruction.tsv", "similarity.tsv")],
        log:
            str(LOGS / "brainmae_pretrain/group.log"),
        benchmark:
            str(BENCHMARKS / "brainmae_pretrain/group.tsv"),
        params:
            opts=opts("models", "brainmae", "pretrain", seed=config["seed"], device=config["models"]["device"]),
            checkpoints=str(RES / ".checkpoints"),
        # one thread here: on a 2-core machine a 2-thread job waits until no
        # other job runs, which in a stream of short jobs meant the end of the
        # run (`set-threads` in a profile gives training jobs more)
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=BRAINMAE_GPU,
        shell:
            "brainpipe brainmae-pretrain --model {output.model:q} --training {output.training:q}"
            " --reconstruction {output.reconstruction:q} --similarity {output.similarity:q}"
            " --embeddings {output.embeddings:q} --labels {input.labels:q} --curves {output.curves:q}"
            " --similarity-figure {output.similarity_figure:q} --fragment {output.fragment:q}"
            " --checkpoint-dir {params.checkpoints:q} --threads {threads} --opts {params.opts:q}"
            " --bolds {input.bolds:q} --timeseries {input.timeseries:q} > {log:q} 2>&1"

    rule brainmae_probe:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            model=rules.brainmae_pretrain.output.model,
            timeseries=all_timeseries(),
            participants=str(BIDS / "participants.tsv"),
        output:
            tsv=group_out("func", "desc-brainmae_scores.tsv"),
            predictions=group_out("func", "desc-brainmae_predictions.tsv"),
            figure=report(str(RES / "group/figures/desc-brainmaeprobe_plot.png"),
                          caption="../report/brainmae_probe.rst", category="Models", subcategory="BrainMAE"),
            fragment=group_fragment("brainmaeprobe"),
            sidecars=[sidecar(group_out("func", f"desc-brainmae_{n}.tsv")) for n in ("scores", "predictions")],
        log:
            str(LOGS / "brainmae_probe/group.log"),
        benchmark:
            str(BENCHMARKS / "brainmae_probe/group.tsv"),
        params:
            opts=opts("models", "brainmae", "probe", seed=config["seed"]),
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        shell:
            "brainpipe brainmae-probe --model {input.model:q} --participants {input.participants:q}"
            " --output {output.tsv:q} --predictions {output.predictions:q} --figure {output.figure:q}"
            " --fragment {output.fragment:q} --threads {threads} --opts {params.opts:q}"
            " --timeseries {input.timeseries:q} > {log:q} 2>&1"

    # One job draws every subject's figure (the model and torch loaded once;
    # 40 jobs of 3.4 CPU s of imports for 0.4 s of drawing each, before); the
    # outputs stay per subject, as demovae_generate's.
    rule brainmae_subject:
        priority: FMRI_CHAIN_PRIORITY
        conda:
            CONDA_ENV
        input:
            model=rules.brainmae_pretrain.output.model,
            timeseries=all_timeseries(),
            bolds=[str(BOLD[sub]) for sub in sorted(BOLD)],
        output:
            figures=[figure(sub, "desc-brainmae_reconstruction.png") for sub in sorted(BOLD)],
            fragments=[subject_fragment(sub, "brainmae") for sub in sorted(BOLD)],
        log:
            str(LOGS / "brainmae_subject/group.log"),
        benchmark:
            str(BENCHMARKS / "brainmae_subject/group.tsv"),
        params:
            opts=json.dumps({"seed": config["seed"]}),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        shell:
            "brainpipe brainmae-subject --model {input.model:q} --timeseries {input.timeseries:q}"
            " --bold {input.bolds:q} --figure {output.figures:q} --fragment {output.fragments:q}"
            " --threads {threads} --opts {params.opts:q} > {log:q} 2>&1"
