"""Write the simulated demo BIDS dataset (``brainpipe simulate``).

Layout (``NN`` = subject, ``S`` = session, ``R`` = run)::

    dataset_description.json  README  participants.tsv  participants.json
    sub-NN/anat/sub-NN_T1w.nii.gz (+ .json)                        every subject
    sub-NN/func/sub-NN_task-rest_bold.nii.gz (+ .json)             every subject
    sub-NN/ses-S/eeg/sub-NN_ses-S_task-imagery_run-R_eeg.vhdr ...  EEG subjects
        (+ .eeg/.vmrk, _eeg.json, _channels.tsv, _events.tsv, _electrodes.tsv,
        _coordsystem.json, and the session's _scans.tsv, written by MNE-BIDS)
    derivatives/atlas/atlas-demo100_dseg.nii.gz (+ .tsv, .json)
    derivatives/confounds/sub-NN/func/sub-NN_task-rest_desc-confounds_timeseries.tsv (+ .json)
    derivatives/simulation/truth.tsv (+ .json), simulation.json

The whole dataset is written into a hidden sibling folder and renamed into
place at the end, so a crash or Ctrl-C never leaves half a dataset under
``output``. An existing ``output`` is replaced only if it is empty or a
previous demo dataset (recognised by ``derivatives/simulation/simulation.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ... import __version__
from ..._check import BrainpipeInputError, check_positive, check_positive_int, validate_type
from ..atomic import write_json, write_tsv
from . import anat, eeg, writers
from .atlas import ATLAS_NAME, NETWORKS, SPACE, VOXEL_MM, load_atlas
from .participants import PARTICIPANTS_JSON, TRUTH_JSON, draw_participants, subject_ids
from .writers import BIDS_VERSION, EEG_TASK, FMRI_TASK, GENERATOR

#: Relative path of the file that marks a folder as a previous demo output.
MARKER = Path("derivatives") / "simulation" / "simulation.json"


def simulate_dataset(
    output,
    seed=0,
    *,
    n_subjects=40,
    n_eeg_subjects=3,
    n_sessions=2,
    n_runs=2,
    trials_per_class=20,
    imagery_seconds=4.0,
    idle_seconds=(2.0, 5.0),
    sfreq=250.0,
    line_freq=50.0,
    n_volumes=150,
    tr=2.0,
    progress=True,
):
    """Simulate the demo BIDS dataset into ``output``.

    The same arguments give the same bytes: every random draw comes from a
    generator keyed by ``(seed, stream, subject, session, run)``, and the files
    carry no time stamps. What is simulated (models, effect sizes, file
    layout) is described in the dataset's README and in the modules of
    :mod:`brainpipe.io.simulate`; the ground truth per subject is written to
    ``derivatives/simulation/truth.tsv``.

    Parameters
    ----------
    output : str | path-like
        Dataset root to create. It must not exist, hold no files (empty
        folders are fine), or hold a previous demo dataset (which is then
        replaced as a whole); anything else is refused.
    seed : int
        Seed of every random choice (>= 0).
    n_subjects : int
        Number of participants; each gets one T1w and one resting-state fMRI run.
    n_eeg_subjects : int
        Participants ``sub-01 .. sub-<n_eeg_subjects>`` also have motor-imagery
        EEG (0 to ``n_subjects``).
    n_sessions : int
        EEG sessions per EEG subject (``ses-1``, ``ses-2``, ...). Sessions
        differ in channel gains, noise, cap position and effect size.
    n_runs : int
        EEG runs per session (``run-1``, ...).
    trials_per_class : int
        ``left_hand`` and ``right_hand`` cues per run, each.
    imagery_seconds : float
        Length of motor imagery after each cue (the events' duration).
    idle_seconds : tuple of float
        ``(min, max)`` of the uniform idle pause between the end of imagery and
        the next cue; idle stretches form the pseudo-online "rest" class.
    sfreq : float
        EEG sampling frequency in Hz.
    line_freq : float
        Power-line frequency in Hz (50 or 60), put in the EEG and in
        ``PowerLineFrequency``.
    n_volumes : int
        Volumes of each resting-state fMRI run (>= 20).
    tr : float
        fMRI repetition time in seconds.
    progress : bool
        Show a progress bar (tqdm, one step per subject) on stderr.

    Returns
    -------
    output : pathlib.Path
        The dataset root.

    Raises
    ------
    BrainpipeInputError
        If ``output`` exists and is neither empty nor a previous demo dataset.
    ValueError, TypeError
        If an argument is out of range or of the wrong type.
    """
    params = _check_params(
        seed=seed,
        n_subjects=n_subjects,
        n_eeg_subjects=n_eeg_subjects,
        n_sessions=n_sessions,
        n_runs=n_runs,
        trials_per_class=trials_per_class,
        imagery_seconds=imagery_seconds,
        idle_seconds=idle_seconds,
        sfreq=sfreq,
        line_freq=line_freq,
        n_volumes=n_volumes,
        tr=tr,
    )
    validate_type(output, (str, os.PathLike), "output", "str or path-like")
    output = Path(output).absolute()
    _check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        _write_all(tmp, params, progress)
        _swap_into_place(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def is_demo_dataset(path):
    """Whether ``path`` holds a dataset written by :func:`simulate_dataset`.

    Recognised by ``derivatives/simulation/simulation.json`` or, failing that,
    by the ``GeneratedBy`` entry of ``dataset_description.json``.
    """
    path = Path(path)
    try:
        if json.loads((path / MARKER).read_text()).get("Generator") == GENERATOR:
            return True
    except (OSError, ValueError, AttributeError):
        pass
    try:
        desc = json.loads((path / "dataset_description.json").read_text())
        return any(
            str(g.get("Description", "")).startswith(GENERATOR) for g in desc.get("GeneratedBy", [])
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _holds_files(path):
    """Whether any file (not just empty folders) lies under ``path``."""
    return any(not p.is_dir() for p in Path(path).rglob("*"))


def _check_params(**p):
    for name in ("n_subjects", "n_sessions", "n_runs", "trials_per_class"):
        p[name] = check_positive_int(p[name], name)
    p["seed"] = check_positive_int(p["seed"], "seed", minimum=0)
    p["n_eeg_subjects"] = check_positive_int(p["n_eeg_subjects"], "n_eeg_subjects", minimum=0)
    if p["n_eeg_subjects"] > p["n_subjects"]:
        raise ValueError(
            f"n_eeg_subjects must be <= n_subjects ({p['n_subjects']}), "
            f"got {p['n_eeg_subjects']} instead."
        )
    p["n_volumes"] = check_positive_int(p["n_volumes"], "n_volumes", minimum=20)
    for name in ("imagery_seconds", "sfreq", "tr", "line_freq"):
        p[name] = float(check_positive(p[name], name))
    if p["line_freq"] not in (50.0, 60.0):
        raise ValueError(f"line_freq must be 50 or 60 (Hz), got {p['line_freq']!r} instead.")
    if p["sfreq"] <= 2.5 * p["line_freq"]:
        raise ValueError(
            f"sfreq must be above 2.5 x line_freq ({2.5 * p['line_freq']:g} Hz) to hold the "
            f"line noise, got {p['sfreq']!r} instead."
        )
    idle = p["idle_seconds"]
    try:
        lo, hi = (float(v) for v in idle)
    except (TypeError, ValueError):
        raise ValueError(f"idle_seconds must be a pair (min, max) of seconds, got {idle!r} instead.") from None
    if not 0 <= lo <= hi:
        raise ValueError(f"idle_seconds must satisfy 0 <= min <= max, got {idle!r} instead.")
    p["idle_seconds"] = (lo, hi)
    return p


def _check_output(output):
    if not output.exists():
        return
    if not output.is_dir():
        raise BrainpipeInputError(f"{output}: exists and is not a folder; refusing to overwrite it")
    # Empty sub-folders do not count: Snakemake creates the folders of a
    # rule's outputs before the rule runs.
    has_files = any(p.is_file() or p.is_symlink() for p in output.rglob("*"))
    if has_files and not is_demo_dataset(output):
        raise BrainpipeInputError(
            f"{output}: folder is not empty and is not a brainpipe demo dataset "
            f"(no {MARKER}); refusing to write into it. Choose an empty or new folder."
        )


def _swap_into_place(tmp, output):
    """Rename ``tmp`` onto ``output``; an old demo there is moved aside, then removed."""
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        old.rmdir()
        os.rename(output, old)
        try:
            os.rename(tmp, output)
        except BaseException:
            os.rename(old, output)  # put the previous dataset back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, output)


def _write_all(root, params, progress):
    from tqdm.auto import tqdm

    ids = subject_ids(params["n_subjects"])
    table = draw_participants(params["seed"], params["n_subjects"], params["n_eeg_subjects"])
    atlas = load_atlas()
    template, template_affine = anat.load_template()

    n_steps = params["n_subjects"] + params["n_eeg_subjects"]
    bar = tqdm(total=n_steps, desc="simulate", disable=not progress, unit="subject")

    # BrainVision files are written to a scratch folder outside the dataset
    # first. Not inside the hidden temporary root: MNE-BIDS mistakes any
    # folder with ".ds" in its path (".demo.tmp-...") for a CTF recording.
    with tempfile.TemporaryDirectory(prefix="brainpipe_eeg_") as scratch:
        for i in range(params["n_eeg_subjects"]):
            writers.write_eeg_subject(root, Path(scratch), ids[i], i, table.iloc[i], params)
            bar.update()

    fd_mean, n_spikes = [], []
    for i, sub in enumerate(ids):
        row = table.iloc[i]
        writers.write_t1(root, sub, i, row, template, template_affine, params)
        fd, spikes = writers.write_fmri(root, sub, i, row, atlas, params)
        fd_mean.append(round(float(np.nanmean(fd)), 5))
        n_spikes.append(int(spikes.size))
        bar.update()
    bar.close()

    # Top-level files last: MNE-BIDS writes its own participants.tsv, README
    # and dataset_description.json while adding EEG; ours replace them.
    write_json(
        root / "dataset_description.json",
        {
            "Name": "brainpipe simulated demo dataset",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["brainpipe developers"],
            "HowToAcknowledge": "Simulated data; no participants were recorded.",
            "GeneratedBy": writers.generated_by(params),
        },
    )
    (root / "README").write_text(writers.readme(params), encoding="utf-8")
    write_tsv(root / "participants.tsv", table[["participant_id", "age", "sex", "site"]])
    write_json(root / "participants.json", PARTICIPANTS_JSON)

    writers.write_atlas(root / "derivatives" / "atlas", atlas, params)
    write_json(
        root / "derivatives" / "confounds" / "dataset_description.json",
        writers.derivative_description("brainpipe demo confounds (fMRIPrep-like)", params),
    )
    sim = root / "derivatives" / "simulation"
    write_json(sim / "dataset_description.json", writers.derivative_description("brainpipe simulation truth", params))
    truth = table.assign(fmri_mean_fd=fd_mean, fmri_n_motion_spikes=n_spikes)
    write_tsv(sim / "truth.tsv", truth)
    write_json(sim / "truth.json", TRUTH_JSON)
    meta = {
        "Generator": GENERATOR,
        "Version": __version__,
        "Parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "EEG": {
            "Channels": list(eeg.EEG_CHANNELS),
            "EventID": eeg.EVENT_ID,
            "Task": EEG_TASK,
            "Subjects": ids[: params["n_eeg_subjects"]],
        },
        "fMRI": {"Task": FMRI_TASK, "Space": SPACE, "VoxelSizeMM": VOXEL_MM, "Networks": list(NETWORKS)},
        "Atlas": f"derivatives/atlas/atlas-{ATLAS_NAME}_dseg.nii.gz",
    }
    write_json(root / MARKER, meta)
