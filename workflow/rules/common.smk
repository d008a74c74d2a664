# Path helpers shared by every rule. No processing logic lives here: only which
# files exist (or will, for the simulated demo) and how outputs are named.
import json
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from brainpipe.io.atomic import sidecar_path
from brainpipe.io.derivatives import fragment_name, stat_label
from brainpipe.io.layout import discover, entities, entity_key
from brainpipe.io.validate.plan import (bci_skips, group_step_skips, normalise_evaluations, possible_evaluations,
                                        prediction_skips, read_participants)

BIDS = Path(config["bids_root"])
RES = Path(config["results"])
LOGS = RES / "logs"
# Snakemake's benchmark: directive writes one TSV per job here (wall time, max RSS,
# CPU time); benchmarks/demo_breakdown.py sums them per rule.
BENCHMARKS = RES / "benchmarks"
SIM = config["simulate"]
EEG_TASK = config["eeg"]["task"]
FMRI_TASK = config["fmri"]["task"]
ATLAS = config["fmri"]["atlas"]["name"]
BCI = config["bci"]
# bci.*.evaluations in MOABB's words (within-session, cross-session): the old
# names (within, cross) become the new ones here, once, with a note; every
# step, score table and report then sees the new ones only.
for _note in normalise_evaluations(config):
    print(f"brainpipe: warning: {_note}", file=sys.stderr)
FMRI = config["fmri"]
# eeg.events: the dataset's trial_type -> the paradigm's class name (null: the
# names are the paradigm's already); eeg.dataset: a MOABB dataset by name whose
# data the BCI evaluations read instead of the BIDS EEG (no EEG preprocessing).
EEG_EVENTS = config["eeg"].get("events") or None
EEG_DATASET = config["eeg"].get("dataset") or None
# fmri.confounds: null (or root: null, or columns: []) regresses no confounds
CONFOUNDS = FMRI.get("confounds") or {}
CONFOUNDS_ROOT = CONFOUNDS.get("root") if CONFOUNDS.get("columns", True) != [] else None
# One software environment for every rule (used with --sdm conda).
CONDA_ENV = str(Path(workflow.basedir) / "environment.yml")

# A run key is what follows sub-XX in the input's name, entities as they are
# ("ses-1_task-imagery_run-1", or "task-rest" for a dataset without sessions
# or runs): output names keep it, nothing is invented. A session key is its
# ses and task part.
_L = "[A-Za-z0-9]+"

wildcard_constraints:
    sub=_L,
    seskey=f"(?:ses-{_L}_)?task-{_L}",
    runkey=f"(?:ses-{_L}_)?task-{_L}(?:_acq-{_L})?(?:_run-{_L})?",


def opts(*keys, only=None, **extra):
    """JSON of a config slice (config[k1][k2]...) plus extras, keys sorted.

    Rules pass it as ``{params.opts:q}`` (shell-quoted by Snakemake). Sorted
    keys: overriding a value with the same value changes no parameter, so
    nothing reruns.

    Its keys are the keyword arguments of the step's Python function; the
    workflow switch "enabled" is not passed on.
    """
    node = config
    for key in keys:
        node = node[key]
    node = {k: v for k, v in node.items() if k != "enabled" and (only is None or k in only)}
    return json.dumps({**node, **extra}, sort_keys=True)


def _discover():
    """Map (sub, run key) -> raw EEG file, sub -> bold, sub -> T1w.

    For the simulated demo the layout is known from the config before the
    data exist; for a real dataset brainpipe.io.layout.discover reads it
    (the same function `brainpipe validate` uses).
    """
    eeg, bold, t1 = {}, {}, {}
    if SIM["enabled"]:
        for i in range(1, SIM["n_subjects"] + 1):
            sub = f"{i:02d}"
            bold[sub] = BIDS / f"sub-{sub}/func/sub-{sub}_task-{FMRI_TASK}_bold.nii.gz"
            t1[sub] = BIDS / f"sub-{sub}/anat/sub-{sub}_T1w.nii.gz"
            if i > SIM["n_eeg_subjects"]:
                continue
            for ses in range(1, SIM["n_sessions"] + 1):
                for run in range(1, SIM["n_runs"] + 1):
                    key = f"ses-{ses}_task-{EEG_TASK}_run-{run}"
                    eeg[(sub, key)] = BIDS / f"sub-{sub}/ses-{ses}/eeg/sub-{sub}_{key}_eeg.vhdr"
        return eeg, bold, t1
    found = discover(BIDS, eeg_task=EEG_TASK, fmri_task=FMRI_TASK)
    for line in found.skipped:
        print(f"brainpipe: warning: {line}", file=sys.stderr)
    return dict(found.eeg), dict(found.bold), dict(found.t1w)


EEG_RAW, BOLD, T1W = _discover()
if config["subjects"] != "all":
    keep = set(config["subjects"])
    EEG_RAW = {k: v for k, v in EEG_RAW.items() if k[0] in keep}
    BOLD = {k: v for k, v in BOLD.items() if k in keep}
    T1W = {k: v for k, v in T1W.items() if k in keep}
if not config["eeg"]["enabled"] or EEG_DATASET:
    EEG_RAW = {}
if not config["fmri"]["enabled"]:
    BOLD = {}
if not config["mri"]["enabled"]:
    T1W = {}
# subjects of the BCI evaluations: the BIDS EEG subjects, or the MOABB dataset's
if EEG_DATASET and config["eeg"]["enabled"]:
    # imported here only: MOABB takes seconds to import, and every cluster job parses this file
    from brainpipe.bci.dataset import moabb_subject_labels

    EEG_SUBJECTS = moabb_subject_labels(EEG_DATASET, BCI["offline"].get("dataset") or {}, config["subjects"])
else:
    EEG_SUBJECTS = sorted({k[0] for k in EEG_RAW})
SUBJECTS = sorted(set(EEG_SUBJECTS) | set(BOLD) | set(T1W))
if not SUBJECTS:
    raise ValueError(
        f"No subjects found in bids_root '{BIDS}' for EEG task '{EEG_TASK}' / fMRI task "
        f"'{FMRI_TASK}' (or all stages are disabled). Check bids_root, the task labels and subjects."
    )


def session_key(runkey):
    """The ses and task part of a run key ("ses-1_task-imagery", "task-rest")."""
    return entity_key(entities(f"sub-x_{runkey}_eeg"), ("ses", "task"))


def eeg_sessions(sub):
    """Session keys of a subject's EEG runs."""
    return sorted({session_key(key) for (s, key) in EEG_RAW if s == sub})


def eeg_runs(sub, seskey):
    """Run keys of one session of a subject."""
    return sorted(key for (s, key) in EEG_RAW if s == sub and session_key(key) == seskey)


# -- input functions (named, no lambdas) --------------------------------------


def eeg_raw_file(wildcards):
    return str(EEG_RAW[(wildcards.sub, wildcards.runkey)])


def bold_file(wildcards):
    return str(BOLD[wildcards.sub])


def confounds_path(sub):
    """The confounds TSV beside where fMRIPrep puts it: the BOLD's folder
    (sub-XX/[ses-YY/]func) under the confounds root (None: no confounds)."""
    if not CONFOUNDS_ROOT:
        return None
    bold = Path(BOLD[sub])
    name = bold.name.split("_bold")[0] + "_desc-confounds_timeseries.tsv"
    return str(Path(CONFOUNDS_ROOT) / bold.parent.relative_to(BIDS) / name)


def confounds_file(wildcards):
    """The confounds input of fmri_subject ([] when none is configured)."""
    path = confounds_path(wildcards.sub)
    return [path] if path else []


def confounds_option(wildcards):
    """``--confounds PATH`` (shell-quoted), or nothing without confounds."""
    path = confounds_path(wildcards.sub)
    return f"--confounds {shlex.quote(path)}" if path else ""


def confound_columns():
    """fmri.confounds.columns, passed on only when a confounds file is read."""
    return {"confound_columns": CONFOUNDS.get("columns")} if CONFOUNDS_ROOT and "columns" in CONFOUNDS else {}


def t1_file(wildcards):
    return str(T1W[wildcards.sub])


# -- output names (BIDS-derivatives style) -------------------------------------


def eeg_preproc(sub, runkey, ext="_desc-preproc_eeg.fif"):
    """A preprocessed run: the input's own entities, e.g. sub-01_task-rest_desc-preproc_eeg.fif."""
    return str(RES / f"sub-{sub}/eeg/sub-{sub}_{runkey}{ext}")


def eeg_session_out(sub, seskey, tail):
    """A per-session EEG output, e.g. sub-01_ses-1_task-imagery_desc-cov_features.npz."""
    return str(RES / f"sub-{sub}/eeg/sub-{sub}_{seskey}_{tail}")


def session_preproc_runs(wildcards):
    return [eeg_preproc(wildcards.sub, key) for key in eeg_runs(wildcards.sub, wildcards.seskey)]


def subject_preproc_runs(wildcards):
    return [eeg_preproc(wildcards.sub, key) for (s, key) in sorted(EEG_RAW) if s == wildcards.sub]


def subject_raw_runs(wildcards):
    return [str(path) for (s, _), path in sorted(EEG_RAW.items()) if s == wildcards.sub]


# -- BCI evaluations: what each subject's data allow --------------------------


def _runs_per_session(sub):
    """{session key: number of runs} of a BIDS EEG subject (None for a MOABB dataset)."""
    if EEG_DATASET:
        return None
    return {ses: len(eeg_runs(sub, ses)) for ses in eeg_sessions(sub)}


def bci_evaluations(kind, sub):
    """The configured evaluations of bci.<kind> that the subject's sessions and runs allow
    (brainpipe.io.validate.plan: the same answer `brainpipe validate` gives)."""
    wanted = list(BCI[kind]["evaluations"])
    runs = _runs_per_session(sub)
    return wanted if runs is None else possible_evaluations(kind, wanted, runs)


def bci_enabled(kind, sub):
    """bci.<kind> runs for this subject: enabled, EEG, and one evaluation possible."""
    return BCI[kind]["enabled"] and sub in EEG_SUBJECTS and bool(bci_evaluations(kind, sub))


def subject_notes(sub):
    """What the configured workflow leaves out for this subject, and why (one line each)."""
    runs = _runs_per_session(sub)
    if sub not in EEG_SUBJECTS or runs is None:
        return []
    return bci_skips(config, sub, runs)


# fmri_predict runs only where the cohort allows it (else a note in the group report)
PREDICTION_SKIPS = [] if SIM["enabled"] else prediction_skips(config, read_participants(BIDS), sorted(BOLD))


def group_notes():
    """Group stages the data leave out, and why."""
    notes = list(PREDICTION_SKIPS) if len(BOLD) > 2 else []
    if BOLD:
        notes += group_step_skips(config, len(BOLD))
    for sub in SUBJECTS:
        notes += subject_notes(sub)
    return notes


def _warn_notes():
    """Print every note once, when the workflow is parsed (the log says so at start)."""
    for line in group_notes():
        print(f"brainpipe: warning: {line}", file=sys.stderr)


_warn_notes()


def report_opts(wildcards):
    """Options of a subject's report: the notes as a line of its summary table."""
    notes = subject_notes(wildcards.sub)
    return json.dumps({"summary": {"notes": "; ".join(notes)}} if notes else {}, sort_keys=True)


def group_report_opts(wildcards=None):
    """Options of the group report: the notes as a line of its summary table."""
    notes = group_notes()
    return json.dumps({"summary": {"notes": "; ".join(notes)}} if notes else {}, sort_keys=True)


def bci_dataset_source(kind):
    """Where bci.<kind> reads its runs: the BIDS root (pseudo-online) or the MOABB dataset name."""
    return EEG_DATASET if EEG_DATASET else str(BIDS)


def bci_offline_source(wildcards):
    """``--bids-root NAME`` for a MOABB dataset (the preprocessed runs are the input otherwise)."""
    return f"--bids-root {shlex.quote(EEG_DATASET)}" if EEG_DATASET else ""


def bci_offline_opts(wildcards):
    """bci.offline options of one subject: its possible evaluations, and the dataset
    arguments: the user's bci.offline.dataset first (never overwritten), then the
    task and the class names the preprocessed runs carry (eeg.events applied)."""
    node = {k: v for k, v in BCI["offline"].items() if k != "enabled"}
    dataset = dict(node.get("dataset") or {})
    if not EEG_DATASET:
        dataset.setdefault("task", EEG_TASK)
        if EEG_EVENTS:
            dataset.setdefault("events", list(dict.fromkeys(EEG_EVENTS.values())))
    node.update(dataset=dataset, evaluations=bci_evaluations("offline", wildcards.sub), **tfm_bci_opts("offline"))
    return json.dumps(node, sort_keys=True)


def bci_pseudo_online_opts(wildcards):
    """bci.pseudo_online options of one subject (raw runs: eeg.events renames their cues)."""
    node = {k: v for k, v in BCI["pseudo_online"].items() if k != "enabled"}
    node.update(task=EEG_TASK, bad_channels=bad_channel_opts(),
                evaluations=bci_evaluations("pseudo_online", wildcards.sub), **tfm_bci_opts("pseudo_online"))
    if EEG_EVENTS and not EEG_DATASET and node.get("events") is None:
        node["events"] = EEG_EVENTS
    return json.dumps(node, sort_keys=True)


def pseudo_online_subjects():
    return [sub for sub in EEG_SUBJECTS if bci_enabled("pseudo_online", sub)]


def fmri_out(sub, tail):
    return str(RES / f"sub-{sub}/func/sub-{sub}_task-{FMRI_TASK}_atlas-{ATLAS}_{tail}")


FC_KINDS = config["fmri"]["connectivity"]["kinds"]
FC_STATS = [stat_label(k) for k in FC_KINDS]
if config["fmri"].get("enabled", True) and "correlation" not in FC_KINDS:
    # the graph step, fmri_predict, dynamic FC's and the models' FC inputs
    # are the Pearson matrices
    raise ValueError(
        f"fmri.connectivity.kinds is {FC_KINDS}: it must include 'correlation' (graph features, "
        "fmri_predict and the models read the Pearson matrices); add the other kinds beside it."
    )


def shell_args(args):
    """``args`` as one shell-quoted string (a step of ``brainpipe steps``)."""
    return " ".join(shlex.quote(str(a)) for a in args)


def fmri_graph_outputs(sub):
    """The graph step's outputs in fmri_subject: nodes, network, their sidecars, figure, fragment."""
    if not FMRI["graph"]["enabled"]:
        return []
    tables = [fmri_out(sub, f"desc-graph_{t}.tsv") for t in ("nodes", "network")]
    return tables + [sidecar(t) for t in tables] + [figure(sub, "desc-graph_nodes.png"),
                                                     subject_fragment(sub, "graph")]


def all_timeseries(wildcards=None):
    return [fmri_out(sub, "timeseries.tsv") for sub in sorted(BOLD)]


def all_relmats(stat):
    return [fmri_out(sub, f"stat-{stat}_relmat.tsv") for sub in sorted(BOLD)]


def group_out(datatype, name):
    return str(RES / f"group/{datatype}/task-{FMRI_TASK}_atlas-{ATLAS}_{name}")


def figure(sub, name):
    return str(RES / f"sub-{sub}/figures/sub-{sub}_{name}")


#: Scheduling priority of the EEG chain (preprocess_eeg -> tfm_tokenizer ->
#: bci_offline / bci_pseudo_online): it is the longest path of the workflow,
#: and without a priority Snakemake ran the 200 short fMRI/MRI jobs first and
#: started the tokenizer ~10 min into a 2-core demo, leaving the BCI jobs to
#: run alone at the end. Ready jobs of higher priority are started first.
EEG_CHAIN_PRIORITY = 10
#: Below it, the fMRI chain that the group models read (fmri_subject, the group
#: FC steps, BrainMAE, DemoVAE): on 2 cores they then run beside the long BCI
#: jobs, not after them; the T1 QC and the EEG covariance figures fill the gaps.
FMRI_CHAIN_PRIORITY = 5


def sidecar(path):
    """The JSON sidecar a step writes beside ``path``: rules declare it as an
    output too (every file a rule writes is a declared output); the naming
    rule is brainpipe.io.atomic.sidecar_path's."""
    return str(sidecar_path(path))


def timing(scores_tsv):
    """``*_scores.tsv`` -> the ``*_timing.tsv`` a BCI step writes beside it (fit times)."""
    return scores_tsv.removesuffix("_scores.tsv") + "_timing.tsv"


def subject_fragment(sub, desc, prefix=None):
    """A subject fragment's path; the names are brainpipe.io.derivatives.FRAGMENTS."""
    return figure(sub, fragment_name("subject", desc, prefix))


def group_fragment(desc):
    """A group fragment's path; the names are brainpipe.io.derivatives.FRAGMENTS."""
    return str(RES / "group/figures" / fragment_name("group", desc))


def subject_fragments(sub):
    """Every fragment the stages write for one subject, in any order."""
    frags = []
    for ses in eeg_sessions(sub):
        for run in eeg_runs(sub, ses):
            frags.append(subject_fragment(sub, "eeg", run))
        frags.append(subject_fragment(sub, "eegcov", ses))
    if bci_enabled("offline", sub):
        frags.append(subject_fragment(sub, "offline"))
    if bci_enabled("pseudo_online", sub):
        frags.append(subject_fragment(sub, "pseudoonline"))
    if sub in BOLD:
        frags.append(subject_fragment(sub, "fmri"))
        frags.append(subject_fragment(sub, "fc"))
        if FMRI["graph"]["enabled"]:
            frags.append(subject_fragment(sub, "graph"))
    if sub in T1W:
        frags.append(subject_fragment(sub, "mri"))
    # -- subject fragments: demovae --
    if sub in BOLD and demovae_enabled():
        frags.append(subject_fragment(sub, "demovae"))
    # -- subject fragments: brainmae --
    if sub in BOLD and BRAINMAE_ENABLED:  # BRAINMAE_ENABLED: models_brainmae.smk
        frags.append(subject_fragment(sub, "brainmae"))
    # -- subject fragments: tfm --
    return frags


def report_fragments(wildcards):
    return subject_fragments(wildcards.sub)


# -- tfm: the group tokenizer, and the BCI rules that read it ------------------

TFM = config.get("models", {}).get("tfm", {})
TFM_TOKENIZER = str(RES / f"group/eeg/task-{EEG_TASK}_desc-tfm_tokenizer.pt")


def tfm_enabled():
    """The group TFM tokenizer is trained when enabled and there are BIDS EEG runs
    (a MOABB dataset by name has no preprocessed runs to train it on)."""
    return bool(TFM.get("enabled", False)) and bool(EEG_RAW)


def bci_uses_tfm_tokenizer(kind):
    """Whether bci.<kind> (offline, pseudo_online) runs a tfm_transformer pipeline
    on the group tokenizer (`tokenizer: group`, the default; `train` needs none).
    The same test as brainpipe.bci.pipelines.uses_group_tokenizer, read from the config."""
    node = BCI[kind]
    pipes = node["pipelines"]
    pipes = {name: {} for name in pipes} if isinstance(pipes, list) else pipes
    uses = node["enabled"] and bool(EEG_SUBJECTS) and any(
        (params or {}).get("pipeline", name) == "tfm_transformer"
        and (params or {}).get("tokenizer", "group") == "group"
        for name, params in pipes.items()
    )
    if uses and EEG_DATASET:
        raise ValueError(
            f"bci.{kind}.pipelines has a tfm_transformer on the group tokenizer, which is trained on the "
            f"preprocessed BIDS EEG; with eeg.dataset ({EEG_DATASET}) give that pipeline `tokenizer: train` "
            f"or list bci.{kind}.pipelines without it."
        )
    if uses and not TFM.get("enabled", False):
        raise ValueError(
            f"bci.{kind}.pipelines has a tfm_transformer on the group tokenizer, but models.tfm "
            "is not enabled: enable models.tfm or give that pipeline `tokenizer: train`."
        )
    return uses


def tfm_bci_opts(kind):
    """Extra step options of bci.<kind>: the group tokenizer's path when it reads it."""
    return {"tfm_tokenizer": TFM_TOKENIZER} if bci_uses_tfm_tokenizer(kind) else {}


def tfm_tokenizer_offline(wildcards):
    return [TFM_TOKENIZER] if bci_uses_tfm_tokenizer("offline") else []


def tfm_tokenizer_pseudo_online(wildcards):
    return [TFM_TOKENIZER] if bci_uses_tfm_tokenizer("pseudo_online") else []


def all_preproc_runs(wildcards=None):
    """Every preprocessed EEG run of every subject (the tokenizer's training data)."""
    return [eeg_preproc(sub, key) for (sub, key) in sorted(EEG_RAW)]


def all_targets():
    """Every report, and every fragment: each stage's job writes one.

    The fragments are targets even when a report needs them: Snakemake
    deletes a job's old outputs when it starts it and when it fails, and it
    does not rebuild a missing intermediate file whose consumers look up to
    date. A rerun (changed parameters, --forcerun) interrupted by a signal
    would otherwise end with the new outputs gone, the old report kept and
    "Nothing to be done". As targets, missing fragments are rebuilt, and
    what consumes them after. The same holds for the simulated dataset.
    """
    targets = [str(RES / "dataset_description.json")]
    if SIM["enabled"]:
        targets.append(str(BIDS / "dataset_description.json"))
    for sub in SUBJECTS:
        targets += subject_fragments(sub)
    targets += group_fragments()
    if config["report"]["enabled"]:
        targets += [str(RES / f"sub-{sub}/sub-{sub}_report.html") for sub in SUBJECTS]
        if group_fragments() or len(SUBJECTS) > 1:  # the group report's subject table
            targets.append(str(RES / "group/group_report.html"))
    return targets


def demovae_enabled():
    """DemoVAE runs when enabled and fMRI gives it enough subjects (>= 6)."""
    node = config.get("models", {}).get("demovae", {})
    return bool(node.get("enabled", False)) and FMRI["enabled"] and len(BOLD) >= 6


# -- DemoVAE inputs and outputs (rules in models_demovae.smk) --
DEMOVAE = config.get("models", {}).get("demovae", {})


def demovae_fc(wildcards=None):
    return all_relmats("pearsoncorrelation")


def demovae_subject_figures(wildcards=None):
    return [figure(sub, "desc-demovaesynth_plot.png") for sub in sorted(BOLD)]


def demovae_subject_fragments(wildcards=None):
    return [subject_fragment(sub, "demovae") for sub in sorted(BOLD)]


def harmonized_relmats(wildcards=None):
    return [fmri_out(sub, "stat-pearsoncorrelation_desc-harmonized_relmat.tsv") for sub in sorted(BOLD)]


def harmonized_prediction_note():
    """What the "after DemoVAE harmonization" prediction's report says first: the
    demographics the decoder is given back (all but the site and what
    harmonize.reference sets) are in the harmonized FC by construction."""
    harmonize = DEMOVAE.get("harmonize", {})
    reference = harmonize.get("reference") or {}
    fixed = {harmonize.get("site_column", "site"), *(reference if isinstance(reference, dict) else ())}
    given = [d for d in DEMOVAE.get("demographics", []) if d not in fixed]
    if not given:
        return ""
    return (
        f"DemoVAE decodes each subject's harmonized FC from the subject's own {', '.join(given)} (only "
        f"{', '.join(sorted(fixed))} set to the reference): the harmonized FC carries these by construction, "
        "so high scores for them here are expected and are no evidence of signal in the data; only "
        "variables the decoder was not conditioned on test anything. Site removal is scored in the "
        "DemoVAE section."
    )


def model_gpu(node):
    """1 when a model trains on CUDA by the config (device: cuda...), else 0.

    The SLURM profile turns gpu=1 into a GPU request; "auto" asks for none,
    so a CPU cluster never waits for a GPU node.
    """
    device = str(node.get("device", config.get("models", {}).get("device", "auto")))
    return 1 if device.startswith("cuda") else 0


def group_fragments():
    """Fragments of the group report (group-level stages only)."""
    frags = []
    if len(BOLD) > 1 and config["fmri"]["connectivity"]["tangent"]:
        frags.append(group_fragment("tangent"))
    if len(BOLD) > 1 and FMRI["dynamic"]["enabled"]:
        frags.append(group_fragment("dynamic"))
    if len(BOLD) > 2 and FMRI["prediction"]["enabled"] and not PREDICTION_SKIPS:
        frags.append(group_fragment("prediction"))
    if len(pseudo_online_subjects()) > 1:
        frags.append(group_fragment("pseudoonline"))
    # -- group fragments: demovae --
    if demovae_enabled():
        frags += [group_fragment(name)
                  for name in ("demovae", "demovaesynth", "demovaeharmonize", "predictionharmonized")
                  if name != "predictionharmonized" or not PREDICTION_SKIPS]
    # -- group fragments: brainmae --
    if BRAINMAE_ENABLED:
        frags += [group_fragment("brainmae"), group_fragment("brainmaeprobe")]
    # -- group fragments: tfm --
    if tfm_enabled():
        frags.append(group_fragment("tfm"))
    return frags


def bad_channel_opts():
    """The eeg.preprocess bad-channel keys, for steps that read the raw runs
    (pseudo-online): the same flat/noisy handling as preprocessing."""
    pre = config["eeg"]["preprocess"]
    keys = ("flat_threshold", "noisy_z", "interpolate_bads", "l_freq", "h_freq")
    return {k: pre[k] for k in keys if k in pre}


def validate_command(config_only=False):
    """The `brainpipe validate` call run onstart: the data (unless still to be
    simulated) and the merged config, before any job. The merged config is
    written to .snakemake/ (JSON is YAML) and passed as the one config file,
    so a failure prints a short command line that reruns the same check."""
    merged = Path(".snakemake") / "brainpipe_validate_config.json"
    merged.parent.mkdir(parents=True, exist_ok=True)
    merged.write_text(json.dumps(config, sort_keys=True, indent=1))
    cmd = ["brainpipe", "validate", str(BIDS), "--configfile", str(merged)]
    if config_only:
        cmd.append("--config-only")
    # shell() formats {...} fields: double any brace of the path
    return shlex.join(cmd).replace("{", "{{").replace("}", "}}")


def simulated_files():
    """Files the simulate rule promises (what later rules read)."""
    files = [BIDS / "participants.tsv"]
    files += [Path(config["fmri"]["atlas"]["maps"]), Path(config["fmri"]["atlas"]["labels"])]
    files += list(EEG_RAW.values()) + list(BOLD.values()) + list(T1W.values())
    files += [confounds_path(sub) for sub in BOLD if confounds_path(sub)]
    return [str(f) for f in files]


# -- reports: provenance inputs and the group report's key-number tables --
# (rules in report.smk)
from brainpipe.report.provenance import config_hash

# the merged config's hash, shown in every report's provenance footer
CONFIG_HASH = config_hash(config)


def subject_raw_inputs(wildcards):
    """A subject's raw input files, checksummed in its report's provenance footer."""
    sub = wildcards.sub
    files = [str(path) for (s, _), path in sorted(EEG_RAW.items()) if s == sub]
    files += [str(BOLD[sub])] if sub in BOLD else []
    files += [str(T1W[sub])] if sub in T1W else []
    return files


def subject_tfm_tokenizer(wildcards):
    """The group TFM tokenizer for an EEG subject's report section ([] when it does not run)."""
    return [TFM_TOKENIZER] if tfm_enabled() and wildcards.sub in EEG_SUBJECTS else []


def subject_tfm_option(wildcards):
    """``--tfm-tokenizer PATH`` (shell-quoted) for the report step, or nothing."""
    return " ".join(f"--tfm-tokenizer {shlex.quote(path)}" for path in subject_tfm_tokenizer(wildcards))


def subject_bci_scores(wildcards):
    """The subject's BCI score tables, read by its report's TFM section."""
    if not subject_tfm_tokenizer(wildcards):
        return []
    sub = wildcards.sub
    return [str(RES / f"sub-{sub}/eeg/sub-{sub}_task-{EEG_TASK}_desc-{desc}_scores.tsv")
            for kind, desc in (("offline", "offline"), ("pseudo_online", "pseudoonline")) if bci_enabled(kind, sub)]


def participants_file(wildcards=None):
    """participants.tsv where the dataset has one (the group report checksums it)."""
    path = BIDS / "participants.tsv"
    return [str(path)] if SIM["enabled"] or path.exists() else []


def subject_reports(wildcards=None):
    return [subject_report(sub) for sub in SUBJECTS]


def subject_wildcards(sub):
    """What the per-subject input functions read (``.sub``), for a rule over all subjects."""
    return SimpleNamespace(sub=sub)


#: Subject reports per report job: the steps of a job are one shell command
#: line (about 550 characters per subject; Linux caps one argument at 128 KiB),
#: and on 2 cores the last reports then finish as two jobs side by side.
REPORTS_PER_JOB = 20


def report_batches():
    """Subjects of each report job: those with EEG (their reports wait for the
    BCI jobs) and the others (ready once the fMRI group models are), each in
    runs of REPORTS_PER_JOB (report_eeg, report_eeg_2, ..., report_imaging,
    report_imaging_2, ...); empty batches left out."""
    eeg = [sub for sub in SUBJECTS if sub in EEG_SUBJECTS]
    imaging = [sub for sub in SUBJECTS if sub not in EEG_SUBJECTS]
    batches = {}
    for name, subs in (("eeg", eeg), ("imaging", imaging)):
        if not subs:
            continue
        n_jobs = -(-len(subs) // REPORTS_PER_JOB)
        size = -(-len(subs) // n_jobs)  # even runs: 37 subjects -> 19 + 18, not 20 + 17
        for k, i in enumerate(range(0, len(subs), size)):
            batches[name if k == 0 else f"{name}_{k + 1}"] = subs[i:i + size]
    return batches


def subject_report(sub):
    return str(RES / f"sub-{sub}/sub-{sub}_report.html")


def subject_report_steps(subjects):
    """``report --subject A ... ++ report --subject B ...``: a report job's steps, shell-quoted."""
    steps = []
    for sub in subjects:
        html = subject_report(sub)
        wc = subject_wildcards(sub)
        args = ["report", "--subject", sub, "--output", html, "--opts", report_opts(wc), "--config-hash", CONFIG_HASH]
        for path in subject_tfm_tokenizer(wc):
            args += ["--tfm-tokenizer", path]
        args += [*report_fragments(wc), "--inputs", *subject_raw_inputs(wc), "--tables", *subject_bci_scores(wc)]
        steps.append(shell_args(args))
    return " ++ ".join(steps)


def group_key_tables(wildcards=None):
    """Per-subject outputs the group report reads its key numbers from
    (brainpipe.report.group.KEY_TABLES): only those of the stages that run."""
    files = []
    for sub in SUBJECTS:
        if not EEG_DATASET:
            files += [eeg_preproc(s, key) for (s, key) in sorted(EEG_RAW) if s == sub]
        if bci_enabled("offline", sub):
            files.append(str(RES / f"sub-{sub}/eeg/sub-{sub}_task-{EEG_TASK}_desc-offline_scores.tsv"))
        if bci_enabled("pseudo_online", sub):
            files.append(str(RES / f"sub-{sub}/eeg/sub-{sub}_task-{EEG_TASK}_desc-pseudoonline_scores.tsv"))
        if sub in BOLD:
            files.append(fmri_out(sub, "timeseries.tsv"))
            if FMRI["graph"]["enabled"]:
                files.append(fmri_out(sub, "desc-graph_network.tsv"))
        if sub in T1W:
            files.append(str(RES / f"sub-{sub}/anat/sub-{sub}_desc-iqms_T1w.tsv"))
    return files
