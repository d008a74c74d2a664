# Features: EEG trial covariances (pyriemann); fMRI tangent-space connectivity
# across subjects, dynamic FC and prediction (the per-subject FC and graph
# features are steps of preprocess.smk's fmri_subject).


# One job per session (subjects_per_job: 1) or one job over the sessions of
# a batch of subjects (preprocess.smk says why).
if SUBJECTS_PER_JOB == 1:

    rule eeg_covariances:
        conda:
            CONDA_ENV
        input:
            runs=session_preproc_runs,
        output:
            **eeg_covariances_outputs("{sub}", "{seskey}"),
        log:
            str(LOGS / "eeg_covariances/sub-{sub}_{seskey}.log"),
        benchmark:
            str(BENCHMARKS / "eeg_covariances/sub-{sub}_{seskey}.tsv"),
        params:
            steps=eeg_covariances_steps_of,
        resources:
            mem_mb=2000,
            runtime=20,
        shell:
            "brainpipe steps {params.steps} > {log:q} 2>&1"

else:
    for _batch, _subs in subject_batches(eeg_subjects_with_runs()).items():
        _sessions = [(sub, ses) for sub in _subs for ses in eeg_sessions(sub)]

        rule:
            name:
                f"eeg_covariances_{_batch}"
            conda:
                CONDA_ENV
            input:
                runs=[eeg_preproc(sub, key) for (sub, ses) in _sessions for key in eeg_runs(sub, ses)],
            output:
                [p for session in _sessions for p in flat_outputs(eeg_covariances_outputs(*session))],
            log:
                str(LOGS / f"eeg_covariances/{_batch}.log"),
            benchmark:
                str(BENCHMARKS / f"eeg_covariances/{_batch}.tsv"),
            params:
                steps=batch_steps([eeg_covariances_steps(*session) for session in _sessions],
                                  f"eeg_covariances_{_batch}"),
            resources:
                mem_mb=2000,
                runtime=20 * len(_sessions),
            shell:
                "brainpipe steps {params.steps} > {log:q} 2>&1"


rule fmri_tangent:
    priority: FMRI_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        timeseries=all_timeseries(),
        labels=config["fmri"]["atlas"]["labels"],
    output:
        group=str(RES / f"group/func/task-{FMRI_TASK}_atlas-{ATLAS}_stat-tangent_relmat.tsv"),
        relmats=[fmri_out(sub, "stat-tangent_relmat.tsv") for sub in sorted(BOLD)],
        sidecars=[sidecar(str(RES / f"group/func/task-{FMRI_TASK}_atlas-{ATLAS}_stat-tangent_relmat.tsv"))]
        + [sidecar(fmri_out(sub, "stat-tangent_relmat.tsv")) for sub in sorted(BOLD)],
        figure=str(RES / f"group/figures/task-{FMRI_TASK}_atlas-{ATLAS}_stat-tangent_relmat.png"),
        fragment=group_fragment("tangent"),
    log:
        str(LOGS / "fmri_tangent/group.log"),
    benchmark:
        str(BENCHMARKS / "fmri_tangent/group.tsv"),
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "brainpipe fmri-group-connectivity --group {output.group:q} --outputs {output.relmats:q}"
        " --labels {input.labels:q} --figure {output.figure:q} --fragment {output.fragment:q} --timeseries {input.timeseries:q} > {log:q} 2>&1"


rule fmri_dynamic:
    priority: FMRI_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        all_timeseries(),
    output:
        states=group_out("func", "desc-dfc_states.npz"),
        metrics=group_out("func", "desc-dfc_metrics.tsv"),
        labels=group_out("func", "desc-dfc_labels.tsv"),
        sidecars=[sidecar(group_out("func", n)) for n in ("desc-dfc_states.npz", "desc-dfc_metrics.tsv",
                                                          "desc-dfc_labels.tsv")],
        figure=str(RES / "group/figures/desc-dfc_states.png"),
        fragment=group_fragment("dynamic"),
    log:
        str(LOGS / "fmri_dynamic/group.log"),
    benchmark:
        str(BENCHMARKS / "fmri_dynamic/group.tsv"),
    params:
        opts=opts("fmri", "dynamic", seed=config["seed"]),
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "brainpipe fmri-dynamic --states {output.states:q} --metrics {output.metrics:q} --labels-out {output.labels:q}"
        " --figure {output.figure:q} --fragment {output.fragment:q} --opts {params.opts:q}"
        " --timeseries {input:q} > {log:q} 2>&1"


rule fmri_predict:
    priority: FMRI_CHAIN_PRIORITY
    conda:
        CONDA_ENV
    input:
        relmats=all_relmats("pearsoncorrelation"),
        participants=str(BIDS / "participants.tsv"),
    output:
        tsv=group_out("func", "desc-prediction_scores.tsv"),
        predictions=group_out("func", "desc-prediction_predictions.tsv"),
        sidecars=[sidecar(group_out("func", f"desc-prediction_{t}.tsv")) for t in ("scores", "predictions")],
        figure=report(str(RES / "group/figures/desc-prediction_scores.png"), caption="../report/fmri_prediction.rst",
                      category="fMRI", subcategory="group"),
        fragment=group_fragment("prediction"),
    log:
        str(LOGS / "fmri_predict/group.log"),
    benchmark:
        str(BENCHMARKS / "fmri_predict/group.tsv"),
    params:
        opts=opts("fmri", "prediction", seed=config["seed"]),
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "brainpipe fmri-predict --participants {input.participants:q} --output {output.tsv:q}"
        " --predictions {output.predictions:q} --figure {output.figure:q} --fragment {output.fragment:q}"
        " --opts {params.opts:q} {input.relmats:q} > {log:q} 2>&1"
