"""Up-front checks of a BIDS input dataset, before any work is scheduled.

These catch, with the file named, the problems that would otherwise stop a
workflow halfway: missing events, missing TR, wrong NIfTI dimensions, missing
demographics. The official BIDS validator can be run as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from .._check import BrainpipeInputError

EEG_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".fif")


def find_problems(bids_root, *, demographics=("age", "sex")):
    """List the problems of a BIDS dataset that brainpipe cannot work around.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str
        Columns participants.tsv must have (used by group models).

    Returns
    -------
    problems : list of str
        One ``"<file>: <problem>"`` line per problem; empty when all is well.
    """
    import nibabel as nib

    root = Path(bids_root)
    if not root.is_dir():
        return [f"{root}: BIDS root does not exist or is not a folder"]
    problems = []
    desc = root / "dataset_description.json"
    if not desc.exists():
        problems.append(f"{desc}: missing (every BIDS dataset needs one)")
    else:
        try:
            json.loads(desc.read_text())
        except json.JSONDecodeError as err:
            problems.append(f"{desc}: not valid JSON ({err})")

    part = root / "participants.tsv"
    if part.exists():
        df = pd.read_csv(part, sep="\t")
        missing = [c for c in ("participant_id", *demographics) if c not in df.columns]
        if missing:
            problems.append(f"{part}: missing columns {missing}")
    elif demographics:
        problems.append(f"{part}: missing (demographics {list(demographics)} are needed)")

    for rec in sorted(root.glob("sub-*/**/eeg/*_eeg.*")):
        if rec.suffix not in EEG_EXTENSIONS:
            continue
        events = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_events.tsv")
        if not events.exists():
            problems.append(f"{rec}: no events file ({events.name})")
            continue
        ev = pd.read_csv(events, sep="\t")
        if "onset" not in ev.columns or "trial_type" not in ev.columns or ev.empty:
            problems.append(f"{events}: needs 'onset' and 'trial_type' columns and at least one event")

    for bold in sorted(root.glob("sub-*/**/func/*_bold.nii*")):
        sidecar = bold.with_name(bold.name.split(".nii")[0] + ".json")
        tr = json.loads(sidecar.read_text()).get("RepetitionTime") if sidecar.exists() else None
        if tr is None:
            problems.append(f"{bold}: no RepetitionTime in {sidecar.name} (TR is needed for filtering)")
        shape = nib.load(bold).shape
        if len(shape) != 4 or shape[3] < 2:
            problems.append(f"{bold}: expected a 4D NIfTI with at least 2 volumes, got shape {shape}")

    for t1 in sorted(root.glob("sub-*/**/anat/*_T1w.nii*")):
        shape = nib.load(t1).shape
        if len([s for s in shape if s > 1]) != 3:
            problems.append(f"{t1}: expected a 3D image, got shape {shape}")
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
    exe = shutil.which("bids-validator-deno")
    if exe is None:
        return None, "bids-validator-deno is not installed"
    proc = subprocess.run([exe, str(bids_root)], capture_output=True, text=True, timeout=timeout)
    return proc.returncode == 0, proc.stdout + proc.stderr


def validate_bids(bids_root, *, demographics=("age", "sex"), official=False):
    """Raise :class:`BrainpipeInputError` listing every problem found.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str
        Columns participants.tsv must have.
    official : bool
        Also run the official BIDS validator when it is installed.
    """
    problems = find_problems(bids_root, demographics=demographics)
    if official:
        ok, out = run_bids_validator(bids_root)
        if ok is False:
            problems.append(f"{bids_root}: the BIDS validator reports errors:\n{out}")
    if problems:
        raise BrainpipeInputError(
            f"{len(problems)} problem(s) in the input dataset:\n" + "\n".join(f"  - {p}" for p in problems)
        )
