"""Entry points: every problem of a dataset (and config), the official validator."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..._check import BrainpipeInputError
from ..layout import EEG_RAW_EXTENSIONS, discover
from ._common import _get
from .plan import (bci_skips, evaluation_problems, group_step_skips, prediction_skips, read_participants,
                   required_demographics, runs_per_session)
from .eeg_settings import _eeg_config_problems
from .fmri_settings import _fmri_config_problems
from .recordings import _check_bold, _check_eeg, _check_t1, _run_consistency
from .tree import _check_participants, _check_tree, name_problems

def find_problems(bids_root, *, demographics=None, config=None, read_data=True):
    """List the problems of a BIDS dataset (and config) that brainpipe cannot work around.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str | None
        Columns participants.tsv must have. None: the columns the enabled
        steps of ``config`` read (:func:`.plan.required_demographics`), or
        age and sex without a config.
    config : dict | None
        The workflow config (merged as Snakemake merges it); adds the checks
        of :func:`config_problems` and restricts the data checks to the
        configured tasks and enabled stages.
    read_data : bool
        Also read the samples (NaN/inf and flat EEG channels, compressed
        NIfTI streams read to the end); False checks headers and sizes only.

    Returns
    -------
    problems : list of str
        One ``"<file or config key>: <problem>"`` line per problem; empty
        when all is well.
    """
    root = Path(bids_root)
    cfg = config or {}
    moabb = _moabb_problems(cfg) if config is not None else []
    if not root.is_dir():
        if _get(cfg, "eeg", "dataset") and not _get(cfg, "fmri", "enabled", default=True) \
                and not _get(cfg, "mri", "enabled", default=True):
            return moabb  # EEG from MOABB, nothing read from a BIDS root
        return [f"{root}: BIDS root does not exist or is not a folder"] + moabb
    root = root.resolve()
    problems = list(moabb)
    desc = root / "dataset_description.json"
    if not desc.exists():
        problems.append(f"{desc}: missing (every BIDS dataset needs one)")
    _check_tree(root, problems)
    if demographics is None:
        if config is None:
            demographics = ("age", "sex")
        else:
            try:
                n_bold = len(discover(root, fmri_task=_get(cfg, "fmri", "task"),
                                      subjects=_get(cfg, "subjects", default="all")).bold)
            except BrainpipeInputError:
                n_bold = None  # names that are not BIDS labels: reported by the tree check
            demographics = required_demographics(cfg, n_bold)
    participants = _check_participants(root, demographics, problems)

    eeg_task = _get(cfg, "eeg", "task")
    fmri_task = _get(cfg, "fmri", "task")
    subjects = _get(cfg, "subjects", default="all")
    keep = None if subjects in (None, "all") else {f"sub-{s}" for s in subjects}

    def wanted(path, task, stage):
        if keep is not None and not any(p.name in keep for p in path.parents):
            return False
        if config is not None and not _get(cfg, stage, "enabled", default=True):
            return False
        if stage == "eeg" and _get(cfg, "eeg", "dataset"):
            return False  # the BCI evaluations read a MOABB dataset instead
        return task is None or f"_task-{task}_" in path.name

    eeg_files, bold_files, t1_files = _workflow_files(root, eeg_task, fmri_task)
    eeg = [_check_eeg(rec, config, problems, read_data) for rec in eeg_files if wanted(rec, eeg_task, "eeg")]
    bold = [_check_bold(b, problems, read_data) for b in bold_files if wanted(b, fmri_task, "fmri")]
    for t1 in t1_files:
        if wanted(t1, None, "mri"):
            _check_t1(t1, problems, read_data)
    problems += _run_consistency(eeg)
    if config is not None:
        problems += _task_problems(config, root, eeg, bold)
        problems += config_problems(config, eeg=eeg, bold=bold, participants=participants, root=root)
    return problems


def _workflow_files(root, eeg_task, fmri_task):
    """The EEG runs, BOLD runs and T1w images the workflow reads (:func:`brainpipe.io.layout.discover`,
    the workflow's own discovery), sorted.

    When a name is not a BIDS label, discover stops on it (as the workflow does); the tree
    check reports such names, and the files with valid names are checked here all the same.
    """
    try:
        layout = discover(root, eeg_task=eeg_task, fmri_task=fmri_task)
        return sorted(layout.eeg.values()), sorted(layout.bold.values()), sorted(layout.t1w.values())
    except BrainpipeInputError:
        pass

    def task_of(path, task):
        return task is None or f"_task-{task}_" in path.name

    eeg = [p for p in sorted(root.glob("sub-*/**/eeg/*_eeg.*"))
           if p.suffix in EEG_RAW_EXTENSIONS and not name_problems(p) and task_of(p, eeg_task)]
    bold, t1, seen = [], [], set()
    for p in sorted(root.glob("sub-*/**/func/*_bold.nii*")):
        sub = p.name.split("_")[0]
        if not name_problems(p) and task_of(p, fmri_task) and sub not in seen:
            seen.add(sub)
            bold.append(p)
    seen = set()
    for p in sorted(root.glob("sub-*/**/anat/*_T1w.nii*")):
        sub = p.name.split("_")[0]
        if not name_problems(p) and sub not in seen:
            seen.add(sub)
            t1.append(p)
    return eeg, bold, t1


def _task_problems(config, root, eeg, bold):
    """A configured task that matches no file (the stage would silently do nothing)."""
    problems = []
    for stage, datatype, pattern, found in (("eeg", "eeg", "*_eeg.*", eeg), ("fmri", "func", "*_bold.nii*", bold)):
        task = _get(config, stage, "task")
        if not _get(config, stage, "enabled", default=True) or found or not task:
            continue
        if stage == "eeg" and _get(config, "eeg", "dataset"):
            continue
        present = sorted({m.group(1) for p in root.glob(f"sub-*/**/{datatype}/{pattern}")
                          if (m := re.search(r"_task-([A-Za-z0-9]+)_", p.name))})
        if present and task not in present:
            problems.append(f"config {stage}.task: no {datatype} recording of task {task!r} in {root} "
                            f"(tasks found: {present}); set {stage}.task or {stage}.enabled: false")
    return problems


def find_warnings(bids_root, config):
    """Configured stages the data leave out, one line each (the run goes on without them).

    Parameters
    ----------
    bids_root : path-like
    config : dict
        The merged workflow config.

    Returns
    -------
    warnings : list of str
        A task or datatype with no file (its stages do nothing), BCI
        evaluations the sessions and runs do not allow, fmri_predict on a
        cohort it cannot run on. The workflow prints the same lines at
        start and puts them in the reports.
    """
    root = Path(bids_root)
    if not root.is_dir() or _get(config, "simulate", "enabled"):
        return []
    subjects = _get(config, "subjects", default="all")
    eeg_task, fmri_task = _get(config, "eeg", "task"), _get(config, "fmri", "task")
    try:
        layout = discover(root, eeg_task=eeg_task, fmri_task=fmri_task, subjects=subjects)
    except BrainpipeInputError:
        return []  # names that are not BIDS labels: find_problems reports them
    warnings = list(layout.skipped)
    eeg_on = _get(config, "eeg", "enabled", default=True) and not _get(config, "eeg", "dataset")
    if eeg_on and not layout.eeg:
        warnings.append(f"eeg.task {eeg_task!r}: no EEG recording in {root}: the EEG and BCI stages do "
                        "nothing (set eeg.enabled: false to silence this)")
    if _get(config, "fmri", "enabled", default=True) and not layout.bold:
        warnings.append(f"fmri.task {fmri_task!r}: no BOLD run in {root}: the fMRI stages do nothing "
                        "(set fmri.enabled: false to silence this)")
    if eeg_on:
        for sub, per_session in sorted(runs_per_session(layout.eeg.values()).items()):
            warnings += bci_skips(config, sub, per_session)
    table = read_participants(root)
    if layout.bold:
        warnings += group_step_skips(config, len(layout.bold))
    if _get(config, "fmri", "enabled", default=True) and len(layout.bold) > 2:
        warnings += [f"{line}: fmri_predict is skipped (a note in the group report)"
                     for line in prediction_skips(config, table, sorted(layout.bold))]
    return warnings


def _moabb_problems(config):
    """``eeg.dataset``: a MOABB dataset name whose first subject can be read or downloaded."""
    name = _get(config, "eeg", "dataset")
    if not name or not _get(config, "eeg", "enabled", default=True):
        return []
    if not (_get(config, "bci", "offline", "enabled") or _get(config, "bci", "pseudo_online", "enabled")):
        return []
    from ...bci.dataset import get_dataset, moabb_subject_labels

    params = _get(config, "bci", "offline", "dataset", default={}) or {}
    try:
        labels = moabb_subject_labels(name, params, _get(config, "subjects", default="all"))
        dataset = get_dataset(name, **params)
    except BrainpipeInputError as err:
        return [str(err)]
    except (TypeError, ValueError) as err:
        return [f"config bci.offline.dataset: {params} are not arguments of {name} ({err})"]
    problems = []
    paradigm = _get(config, "bci", "offline", "paradigm", "name", default="left_right")
    needed = {"left_right": {"left_hand", "right_hand"}}.get(paradigm, set())
    if _get(config, "bci", "offline", "enabled") and not needed <= set(dataset.event_id):
        problems.append(f"config bci.offline.paradigm: {paradigm} needs the classes {sorted(needed)}, "
                        f"{name} has {sorted(dataset.event_id)}; use motor_imagery")
    if labels:
        try:
            # MOABB's own code: reads a copy under MNE_DATA, else downloads (one line when offline)
            dataset.data_path(int(labels[0]))
        except BrainpipeInputError as err:
            problems.append(f"config eeg.dataset: {err}")
    return problems


def config_problems(config, *, eeg=(), bold=(), participants=None, root=None):
    """Problems of a workflow config: settings that cannot work on these data.

    Parameters
    ----------
    config : dict
        The merged workflow config.
    eeg, bold : list of dict
        What :func:`find_problems` learnt of each recording (rate, channels,
        shortest task period; TR, volumes, image).
    participants : DataFrame | None
        participants.tsv.
    root : Path | None
        The BIDS root (for messages and the subjects list).

    Returns
    -------
    problems : list of str
        One ``"config <key>: <problem>"`` line per problem.
    """
    problems = []
    sub_list = _get(config, "subjects", default="all")
    if root is not None and isinstance(sub_list, list) and not _get(config, "simulate", "enabled"):
        for s in sub_list:
            if not (root / f"sub-{s}").is_dir():
                problems.append(f"config subjects: sub-{s} is not in {root}")
    problems += evaluation_problems(config)
    problems += _eeg_config_problems(config, eeg)
    problems += _fmri_config_problems(config, bold, participants)
    return problems


def run_bids_validator(bids_root, timeout=300):
    """Run the official BIDS validator (``bids-validator-deno``).

    Returns
    -------
    ok : bool | None
        True when the validator reports no errors, False otherwise, None when
        the validator is not installed.
    output : str
        What the validator printed.
    """
    import sys

    # on PATH, or installed beside this Python (a venv that is not activated)
    exe = shutil.which("bids-validator-deno") or shutil.which(
        "bids-validator-deno", path=str(Path(sys.executable).parent))
    if exe is None:
        return None, "bids-validator-deno is not installed"
    proc = subprocess.run([exe, str(bids_root)], capture_output=True, text=True, timeout=timeout)
    return proc.returncode == 0, proc.stdout + proc.stderr


def validator_errors(output, limit=20):
    """The errors in ``bids-validator-deno`` output, one line each (code, message, files).

    Parameters
    ----------
    output : str
        What the validator printed.
    limit : int
        At most this many errors (a last line says how many were left out).

    Returns
    -------
    errors : list of str
    """
    errors, current = [], None
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("[ERROR]"):
            current = [text[len("[ERROR]"):].strip(), []]
            errors.append(current)
        elif text.startswith("["):
            current = None
        elif current is not None and text.startswith("/"):
            current[1].append(text)
    lines = [f"{msg} ({', '.join(files[:3])}{' ...' if len(files) > 3 else ''})" if files else msg
             for msg, files in errors]
    if not lines:
        return [output.strip()[-2000:] or "errors (no details printed)"]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more errors"]
    return lines


def validate_bids(bids_root, *, demographics=None, official=False, config=None, read_data=True):
    """Raise :class:`BrainpipeInputError` listing every problem found.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str | None
        Columns participants.tsv must have (see :func:`find_problems`).
    official : bool
        Also run the official BIDS validator when it is installed.
    config : dict | None
        The workflow config; see :func:`find_problems`.
    read_data : bool
        See :func:`find_problems`.
    """
    problems = find_problems(bids_root, demographics=demographics, config=config, read_data=read_data)
    if official and Path(bids_root).is_dir():
        ok, out = run_bids_validator(bids_root)
        if ok is False:
            problems += [f"{bids_root}: the BIDS validator reports {line}" for line in validator_errors(out)]
        elif ok is None:
            import logging

            logging.getLogger(__name__).warning("bids-validator-deno is not installed: the official "
                                                "BIDS validator was not run")
    if problems:
        raise BrainpipeInputError(
            f"{len(problems)} problem(s) in the input dataset:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def validate_config(config):
    """Raise :class:`BrainpipeInputError` if the config alone cannot work.

    For runs whose data do not exist yet (the simulated demo): the checks of
    :func:`config_problems` with the simulation's rate, channels and TR.
    """
    problems = config_problems(config)
    if problems:
        raise BrainpipeInputError(
            f"{len(problems)} problem(s) in the config:\n" + "\n".join(f"  - {p}" for p in problems)
        )
