"""Which files of a BIDS dataset the workflow reads, and their metadata.

One source of truth for the workflow (``workflow/rules/common.smk``), for
``brainpipe validate`` and for the BCI datasets:

* :data:`EEG_RAW_EXTENSIONS`, the raw EEG formats brainpipe reads;
* :func:`discover`, the EEG runs, resting BOLD runs and T1w images of a
  dataset, each with the entities of its name (no entity is invented: a
  dataset without sessions or runs gives keys without them);
* :func:`sidecar_metadata`, a file's JSON metadata read the BIDS way
  (the inheritance principle: every ``*.json`` from the root down to the
  file's folder whose entities are a subset of the file's and whose suffix
  is the file's, the deeper one winning key by key), so a top-level
  ``task-rest_bold.json`` gives every BOLD run its ``RepetitionTime``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._check import input_error

__all__ = [
    "EEG_RAW_EXTENSIONS",
    "Layout",
    "discover",
    "entities",
    "entity_key",
    "sidecar_metadata",
]

#: Raw EEG formats read (with mne-bids): BIDS's four, and FIF, which MNE
#: writes and mne-bids reads. The one list of the workflow, the checks and
#: the BCI datasets.
EEG_RAW_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".fif")

#: A BIDS label (entity value, suffix): letters and digits only.
LABEL = re.compile(r"^[A-Za-z0-9]+$")

#: Entities of a run key, in BIDS order (what output names keep).
RUN_ENTITIES = ("ses", "task", "acq", "run")


def entities(path):
    """The ``key-value`` entities of a BIDS file name, in name order.

    Parameters
    ----------
    path : path-like
        A file (``sub-01_ses-1_task-x_run-1_eeg.vhdr``) or a sidecar
        (``task-rest_bold.json``).

    Returns
    -------
    entities : dict of str to str
        E.g. ``{"sub": "01", "ses": "1", "task": "x", "run": "1"}``.

    Raises
    ------
    BrainpipeInputError
        When an entity value is not a BIDS label (letters and digits): such
        values become parts of output names and wildcards.
    """
    stem = Path(path).name.split(".")[0]
    ent = dict(part.split("-", 1) for part in stem.split("_") if "-" in part)
    bad = {k: v for k, v in ent.items() if not (LABEL.match(k) and LABEL.match(v))}
    if bad:
        raise input_error(
            path,
            f"entity values {bad} are not valid BIDS labels (letters and digits only); rename the "
            "file (`brainpipe validate BIDS_ROOT` lists every such name)",
        )
    return ent


def entity_key(ent, keys=RUN_ENTITIES):
    """The part of a name after ``sub-XX`` that identifies a run (or a session).

    Parameters
    ----------
    ent : dict of str to str
        From :func:`entities`.
    keys : sequence of str
        Entities kept, in BIDS order.

    Returns
    -------
    key : str
        E.g. ``"ses-1_task-imagery_run-1"``, or ``"task-rest"`` for a
        dataset without sessions or runs.
    """
    return "_".join(f"{k}-{ent[k]}" for k in keys if k in ent)


def _suffix(path):
    return Path(path).name.split(".")[0].rsplit("_", 1)[-1]


@dataclass
class Layout:
    """What :func:`discover` found.

    Attributes
    ----------
    eeg : dict of (str, str) to Path
        ``(subject, run key) -> raw EEG file``; run keys from :func:`entity_key`.
    bold : dict of str to Path
        ``subject -> BOLD run`` (the first in sorted order).
    t1w : dict of str to Path
        ``subject -> T1w image`` (the first in sorted order).
    skipped : list of str
        Files of the configured tasks that are not used, with the reason
        (e.g. a second BOLD run), for the log.
    """

    eeg: dict = field(default_factory=dict)
    bold: dict = field(default_factory=dict)
    t1w: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)


def discover(root, *, eeg_task=None, fmri_task=None, subjects=None):
    """Find the EEG runs, BOLD runs and T1w images of a BIDS dataset.

    Parameters
    ----------
    root : path-like
        The dataset root.
    eeg_task, fmri_task : str | None
        Task labels to keep (None keeps every task).
    subjects : list of str | None
        Subject labels (without ``sub-``) to keep; None keeps all.

    Returns
    -------
    layout : Layout
        Files found; with or without a session level
        (``sub-XX/[ses-YY/]eeg``), names kept as they are.
    """
    root = Path(root)
    keep = None if subjects in (None, "all") else {str(s) for s in subjects}
    out = Layout()

    def wanted(path, task):
        ent = entities(path)
        if keep is not None and ent.get("sub") not in keep:
            return None
        if task is not None and ent.get("task") != task:
            return None
        return ent

    for path in sorted(root.glob("sub-*/**/eeg/*_eeg.*")):
        if path.suffix not in EEG_RAW_EXTENSIONS or (ent := wanted(path, eeg_task)) is None:
            continue
        key = (ent["sub"], entity_key(ent))
        if key in out.eeg:
            out.skipped.append(f"{path}: same run entities as {out.eeg[key].name}; only the first is used")
            continue
        out.eeg[key] = path
    # one resting run and one T1w per subject: the first in sorted order
    for path in sorted(root.glob("sub-*/**/func/*_bold.nii*")):
        if (ent := wanted(path, fmri_task)) is None:
            continue
        if ent["sub"] in out.bold:
            out.skipped.append(f"{path}: {out.bold[ent['sub']].name} is the BOLD run used for sub-{ent['sub']}")
            continue
        out.bold[ent["sub"]] = path
    for path in sorted(root.glob("sub-*/**/anat/*_T1w.nii*")):
        if (ent := wanted(path, None)) is not None:
            out.t1w.setdefault(ent["sub"], path)
    return out


def sidecar_metadata(path, root=None):
    """JSON metadata of a BIDS file, with the inheritance principle.

    Parameters
    ----------
    path : path-like
        A data file (``*_bold.nii.gz``, ``*_eeg.vhdr``).
    root : path-like | None
        The dataset root; default: the folder above ``sub-*``.

    Returns
    -------
    metadata : dict
        Every applicable sidecar merged, shallowest first (the one beside the
        file wins). Empty when there is none.

    Raises
    ------
    BrainpipeInputError
        When an applicable sidecar is not valid JSON (naming it).
    """
    path = Path(path)
    if root is None:
        root = next((p.parent for p in path.parents if p.name.startswith("sub-")), path.parent)
    root = Path(root)
    try:
        mine = entities(path)
    except ValueError:
        mine = {}
    suffix = _suffix(path)
    folders = [path.parent]
    while folders[-1] != root and root in folders[-1].parents:
        folders.append(folders[-1].parent)
    meta = {}
    for folder in reversed(folders):  # root first: deeper files win
        for candidate in sorted(folder.glob(f"*_{suffix}.json")):
            try:
                ent = entities(candidate)
            except ValueError:
                continue
            if _suffix(candidate) != suffix or any(mine.get(k) != v for k, v in ent.items()):
                continue
            try:
                value = json.loads(candidate.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise input_error(candidate, f"is not valid JSON ({err})") from err
            if isinstance(value, dict):
                meta.update(value)
    return meta
