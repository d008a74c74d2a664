# BCI evaluation: offline (MOABB within/cross-session, epochs) and
# pseudo-online (sliding windows over the continuous runs, idle class).
# A tfm_transformer pipeline on the group tokenizer adds the tokenizer file
# (models_tfm.smk) as an input and its path to the step's options.


rule bci_offline:
    priority: EEG_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        runs=subject_preproc_runs,
        tokenizer=tfm_tokenizer_offline,
    output:
        tsv=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-offline_scores.tsv"),
        sidecar=sidecar(str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-offline_scores.tsv")),
        timing=timing(str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-offline_scores.tsv")),
        fragment=subject_fragment("{sub}", "offline"),
        # written beside the scores table; tagged for `snakemake --report`
        figure=report(str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-offline_scores.png"),
                      caption="../report/bci_offline.rst", category="BCI", subcategory="sub-{sub}"),
        covariance=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-offline_covariance.png"),
    log:
        str(LOGS / "bci_offline/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "bci_offline/sub-{sub}.tsv"),
    params:
        opts=bci_offline_opts,
        seed=config["seed"],
        source=bci_offline_source,
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "brainpipe bci-offline --subject {wildcards.sub:q} --output {output.tsv:q} --fragment {output.fragment:q}"
        " --seed {params.seed:q} --opts {params.opts:q} {params.source} {input.runs:q} > {log:q} 2>&1"


# Pseudo-online reads the raw runs it declares (through the BIDS root, for the
# sidecars and events) and filters them forward-only (causal_filter), so no
# decision uses samples after its window.
rule bci_pseudo_online:
    priority: EEG_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        runs=subject_raw_runs,
        tokenizer=tfm_tokenizer_pseudo_online,
    output:
        tsv=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-pseudoonline_scores.tsv"),
        sidecar=sidecar(str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-pseudoonline_scores.tsv")),
        timing=timing(str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-pseudoonline_scores.tsv")),
        fragment=subject_fragment("{sub}", "pseudoonline"),
        # beside the scores: offline vs pseudo-online, and the decision
        # timelines of every test run and evaluation (one figure, one panel each)
        comparison=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-pseudoonline_comparison.png"),
        timeline=str(RES / f"sub-{{sub}}/eeg/sub-{{sub}}_task-{EEG_TASK}_desc-pseudoonline_timeline.png"),
    log:
        str(LOGS / "bci_pseudo_online/sub-{sub}.log"),
    benchmark:
        str(BENCHMARKS / "bci_pseudo_online/sub-{sub}.tsv"),
    params:
        opts=bci_pseudo_online_opts,
        root=bci_dataset_source("pseudo_online"),
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "brainpipe bci-pseudo-online --subject {wildcards.sub:q} --bids-root {params.root:q}"
        " --output {output.tsv:q} --fragment {output.fragment:q} --opts {params.opts:q} {input.runs:q} > {log:q} 2>&1"


rule bci_pseudo_online_group:
    conda:
        CONDA_ENV
    input:
        [str(RES / f"sub-{sub}/eeg/sub-{sub}_task-{EEG_TASK}_desc-pseudoonline_scores.tsv") for sub in pseudo_online_subjects()],
    output:
        tsv=str(RES / f"group/eeg/task-{EEG_TASK}_desc-pseudoonline_stats.tsv"),
        sidecar=sidecar(str(RES / f"group/eeg/task-{EEG_TASK}_desc-pseudoonline_stats.tsv")),
        figure=report(str(RES / f"group/figures/task-{EEG_TASK}_desc-pseudoonline_scores.png"),
                      caption="../report/bci_pseudo_online_group.rst", category="BCI", subcategory="group"),
        fragment=group_fragment("pseudoonline"),
    log:
        str(LOGS / "bci_pseudo_online_group/group.log"),
    benchmark:
        str(BENCHMARKS / "bci_pseudo_online_group/group.tsv"),
    shell:
        "brainpipe bci-pseudo-online-group --output {output.tsv:q} --figure {output.figure:q}"
        " --fragment {output.fragment:q} {input:q} > {log:q} 2>&1"
