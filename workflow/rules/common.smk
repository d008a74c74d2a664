# Path helpers shared by every rule. No processing logic lives here: only which
# files exist (or will, for the simulated demo) and how outputs are named.
import json
import shlex
from pathlib import Path

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
FMRI = config["fmri"]
EEG_RAW_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".fif")
# One software environment for every rule (used with --sdm conda).
CONDA_ENV = str(Path(workflow.basedir) / "environment.yml")

wildcard_constraints:
    sub="[A-Za-z0-9]+",
    ses="[A-Za-z0-9]+",
    run="[A-Za-z0-9]+",


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


def _entities(path):
    """Parse BIDS entities of a file name into a dict.

    Entity values become wildcards and parts of output names: a value that
    is not a BIDS label (letters and digits: no spaces, no shell syntax)
    stops the run here, before any job, naming the file.
    """
    stem = Path(path).name.split(".")[0]
    ent = dict(part.split("-", 1) for part in stem.split("_") if "-" in part)
    bad = {k: v for k, v in ent.items() if not (k.isalnum() and v.isalnum() and k.isascii() and v.isascii())}
    if bad:
        raise ValueError(
            f"{path}: entity values {bad} are not valid BIDS labels (letters and digits only); "
            "rename the file (`brainpipe validate BIDS_ROOT` lists every such name)"
        )
    return ent


def _discover():
    """Map (sub, ses, run) -> raw EEG file, sub -> bold, sub -> T1w.

    For the simulated demo the layout is known from the config before the
    data exist; for a real dataset it is read from the BIDS folder.
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
                    eeg[(sub, str(ses), str(run))] = (
                        BIDS / f"sub-{sub}/ses-{ses}/eeg/sub-{sub}_ses-{ses}_task-{EEG_TASK}_run-{run}_eeg.vhdr"
                    )
        return eeg, bold, t1
    for path in sorted(BIDS.glob(f"sub-*/**/eeg/*_task-{EEG_TASK}_*eeg.*")):
        if path.suffix in EEG_RAW_EXTENSIONS:
            ent = _entities(path)
            eeg[(ent["sub"], ent.get("ses", "1"), ent.get("run", "1"))] = path
    # with or without a session level (sub-XX/[ses-YY/]func); one resting run
    # and one T1w per subject: the first in sorted (session, run) order
    for path in sorted(BIDS.glob(f"sub-*/**/func/*_task-{FMRI_TASK}_*bold.nii*")):
        bold.setdefault(_entities(path)["sub"], path)
    for path in sorted(BIDS.glob("sub-*/**/anat/*_T1w.nii*")):
        t1.setdefault(_entities(path)["sub"], path)
    return eeg, bold, t1


EEG_RAW, BOLD, T1W = _discover()
if config["subjects"] != "all":
    keep = set(config["subjects"])
    EEG_RAW = {k: v for k, v in EEG_RAW.items() if k[0] in keep}
    BOLD = {k: v for k, v in BOLD.items() if k in keep}
    T1W = {k: v for k, v in T1W.items() if k in keep}
if not config["eeg"]["enabled"]:
    EEG_RAW = {}
if not config["fmri"]["enabled"]:
    BOLD = {}
if not config["mri"]["enabled"]:
    T1W = {}
SUBJECTS = sorted({k[0] for k in EEG_RAW} | set(BOLD) | set(T1W))
EEG_SUBJECTS = sorted({k[0] for k in EEG_RAW})
if not SUBJECTS:
    raise ValueError(
        f"No subjects found in bids_root '{BIDS}' for EEG task '{EEG_TASK}' / fMRI task "
        f"'{FMRI_TASK}' (or all stages are disabled). Check bids_root, the task labels and subjects."
    )


def eeg_sessions(sub):
    return sorted({ses for (s, ses, _) in EEG_RAW if s == sub})


def eeg_runs(sub, ses):
    return sorted(run for (s, se, run) in EEG_RAW if s == sub and se == ses)


# -- input functions (named, no lambdas) --------------------------------------


def eeg_raw_file(wildcards):
    return str(EEG_RAW[(wildcards.sub, wildcards.ses, wildcards.run)])


def bold_file(wildcards):
    return str(BOLD[wildcards.sub])


def confounds_path(sub):
    """The confounds TSV beside where fMRIPrep puts it: the BOLD's folder
    (sub-XX/[ses-YY/]func) under the confounds root."""
    root = config["fmri"]["confounds"]["root"]
    bold = Path(BOLD[sub])
    name = bold.name.split("_bold")[0] + "_desc-confounds_timeseries.tsv"
    return str(Path(root) / bold.parent.relative_to(BIDS) / name)


def confounds_file(wildcards):
    return confounds_path(wildcards.sub)


def t1_file(wildcards):
    return str(T1W[wildcards.sub])


# -- output names (BIDS-derivatives style) -------------------------------------


def eeg_preproc(sub, ses, run, ext="_desc-preproc_eeg.fif"):
    return str(RES / f"sub-{sub}/eeg/sub-{sub}_ses-{ses}_task-{EEG_TASK}_run-{run}{ext}")


def session_preproc_runs(wildcards):
    return [eeg_preproc(wildcards.sub, wildcards.ses, run) for run in eeg_runs(wildcards.sub, wildcards.ses)]


def subject_preproc_runs(wildcards):
    return [
        eeg_preproc(wildcards.sub, ses, run) for ses in eeg_sessions(wildcards.sub) for run in eeg_runs(wildcards.sub, ses)
    ]


def subject_raw_runs(wildcards):
    return [str(path) for (s, _, _), path in sorted(EEG_RAW.items()) if s == wildcards.sub]


def fmri_out(sub, tail):
    return str(RES / f"sub-{sub}/func/sub-{sub}_task-{FMRI_TASK}_atlas-{ATLAS}_{tail}")


def stat_label(kind):
    """XCP-D's stat- entity of a nilearn connectivity kind."""
    return {
        "correlation": "pearsoncorrelation",
        "partial correlation": "partialcorrelation",
        "covariance": "covariance",
        "precision": "precision",
        "tangent": "tangent",
    }[kind]


FC_KINDS = config["fmri"]["connectivity"]["kinds"]
FC_STATS = [stat_label(k) for k in FC_KINDS]


def all_timeseries(wildcards=None):
    return [fmri_out(sub, "timeseries.tsv") for sub in sorted(BOLD)]


def all_relmats(stat):
    return [fmri_out(sub, f"stat-{stat}_relmat.tsv") for sub in sorted(BOLD)]


def group_out(datatype, name):
    return str(RES / f"group/{datatype}/task-{FMRI_TASK}_atlas-{ATLAS}_{name}")


def figure(sub, name):
    return str(RES / f"sub-{sub}/figures/sub-{sub}_{name}")


def subject_fragments(sub):
    """Every fragment the stages write for one subject, in any order."""
    frags = []
    for ses in eeg_sessions(sub):
        for run in eeg_runs(sub, ses):
            frags.append(figure(sub, f"ses-{ses}_run-{run}_desc-eeg_fragment.json"))
        frags.append(figure(sub, f"ses-{ses}_desc-eegcov_fragment.json"))
    if sub in EEG_SUBJECTS:
        if BCI["offline"]["enabled"]:
            frags.append(figure(sub, "desc-offline_fragment.json"))
        if BCI["pseudo_online"]["enabled"]:
            frags.append(figure(sub, "desc-pseudoonline_fragment.json"))
    if sub in BOLD:
        frags.append(figure(sub, "desc-fmri_fragment.json"))
        frags.append(figure(sub, "desc-fc_fragment.json"))
        if FMRI["graph"]["enabled"]:
            frags.append(figure(sub, "desc-graph_fragment.json"))
    if sub in T1W:
        frags.append(figure(sub, "desc-mri_fragment.json"))
    # -- subject fragments: demovae --
    if sub in BOLD and demovae_enabled():
        frags.append(figure(sub, "desc-demovae_fragment.json"))
    # -- subject fragments: brainmae --
    if sub in BOLD and BRAINMAE_ENABLED:  # BRAINMAE_ENABLED: models_brainmae.smk
        frags.append(figure(sub, "desc-brainmae_fragment.json"))
    # -- subject fragments: tfm --
    return frags


def report_fragments(wildcards):
    return subject_fragments(wildcards.sub)


# -- tfm: the group tokenizer, and the BCI rules that read it ------------------

TFM = config.get("models", {}).get("tfm", {})
TFM_TOKENIZER = str(RES / f"group/eeg/task-{EEG_TASK}_desc-tfm_tokenizer.pt")


def tfm_enabled():
    """The group TFM tokenizer is trained when enabled and there is EEG."""
    return bool(TFM.get("enabled", False)) and bool(EEG_SUBJECTS)


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
    return [eeg_preproc(sub, ses, run) for (sub, ses, run) in sorted(EEG_RAW)]


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
        if group_fragments():
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
    return [figure(sub, "desc-demovae_fragment.json") for sub in sorted(BOLD)]


def harmonized_relmats(wildcards=None):
    return [fmri_out(sub, "stat-pearsoncorrelation_desc-harmonized_relmat.tsv") for sub in sorted(BOLD)]


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
        frags.append(str(RES / "group/figures/desc-tangent_fragment.json"))
    if len(BOLD) > 1 and FMRI["dynamic"]["enabled"]:
        frags.append(str(RES / "group/figures/desc-dynamic_fragment.json"))
    if len(BOLD) > 2 and FMRI["prediction"]["enabled"]:
        frags.append(str(RES / "group/figures/desc-prediction_fragment.json"))
    if len(EEG_SUBJECTS) > 1 and BCI["pseudo_online"]["enabled"]:
        frags.append(str(RES / "group/figures/desc-pseudoonline_fragment.json"))
    # -- group fragments: demovae --
    if demovae_enabled():
        frags += [str(RES / f"group/figures/desc-{name}_fragment.json")
                  for name in ("demovae", "demovaesynth", "demovaeharmonize", "predictionharmonized")]
    # -- group fragments: brainmae --
    if BRAINMAE_ENABLED:
        frags += [str(RES / "group/figures/desc-brainmae_fragment.json"),
                  str(RES / "group/figures/desc-brainmaeprobe_fragment.json")]
    # -- group fragments: tfm --
    if tfm_enabled():
        frags.append(str(RES / "group/figures/desc-tfm_fragment.json"))
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
    files += [confounds_path(sub) for sub in BOLD]
    return [str(f) for f in files]
