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

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ... import __version__
from ..._check import BrainpipeInputError, check_positive_int, validate_type
from . import anat, eeg, fmri
from .atlas import ATLAS_NAME, NETWORKS, SPACE, VOXEL_MM, load_atlas
from .participants import (
    PARTICIPANTS_JSON,
    STREAM_EEG,
    STREAM_FMRI,
    STREAM_T1,
    TRUTH_JSON,
    draw_participants,
    rng_for,
    subject_ids,
)

BIDS_VERSION = "1.10.0"
GENERATOR = "brainpipe.io.simulate"
#: Relative path of the file that marks a folder as a previous demo output.
MARKER = Path("derivatives") / "simulation" / "simulation.json"
EEG_TASK = "imagery"
FMRI_TASK = "rest"
CONFOUND_COLUMNS = (
    "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
    "framewise_displacement", "global_signal", "csf", "white_matter",
)  # fmt: skip
_ACQ_DATE = datetime.datetime(2024, 3, 4, 9, 0, tzinfo=datetime.timezone.utc)


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
        value = p[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r} instead.")
        p[name] = float(value)
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


def _write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_tsv(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, na_rep="n/a", lineterminator="\n")


def _generated_by(params):
    return [
        {
            "Name": "brainpipe",
            "Version": __version__,
            "Description": f"{GENERATOR}.simulate_dataset(seed={params['seed']})",
        }
    ]


def _derivative_description(name, params):
    return {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": _generated_by(params),
    }


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
            _write_eeg_subject(root, Path(scratch), ids[i], i, table.iloc[i], params)
            bar.update()

    fd_mean, n_spikes = [], []
    for i, sub in enumerate(ids):
        row = table.iloc[i]
        _write_t1(root, sub, i, row, template, template_affine, params)
        fd, spikes = _write_fmri(root, sub, i, row, atlas, params)
        fd_mean.append(round(float(np.nanmean(fd)), 5))
        n_spikes.append(int(spikes.size))
        bar.update()
    bar.close()

    # Top-level files last: MNE-BIDS writes its own participants.tsv, README
    # and dataset_description.json while adding EEG; ours replace them.
    _write_json(
        root / "dataset_description.json",
        {
            "Name": "brainpipe simulated demo dataset",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["brainpipe developers"],
            "HowToAcknowledge": "Simulated data; no participants were recorded.",
            "GeneratedBy": _generated_by(params),
        },
    )
    (root / "README").write_text(_readme(params), encoding="utf-8")
    _write_tsv(root / "participants.tsv", table[["participant_id", "age", "sex", "site"]])
    _write_json(root / "participants.json", PARTICIPANTS_JSON)

    _write_atlas(root / "derivatives" / "atlas", atlas, params)
    _write_json(
        root / "derivatives" / "confounds" / "dataset_description.json",
        _derivative_description("brainpipe demo confounds (fMRIPrep-like)", params),
    )
    sim = root / "derivatives" / "simulation"
    _write_json(sim / "dataset_description.json", _derivative_description("brainpipe simulation truth", params))
    truth = table.assign(fmri_mean_fd=fd_mean, fmri_n_motion_spikes=n_spikes)
    _write_tsv(sim / "truth.tsv", truth)
    _write_json(sim / "truth.json", TRUTH_JSON)
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
    _write_json(root / MARKER, meta)


# ---------------------------------------------------------------- EEG


def _write_eeg_subject(root, scratch, sub, index, row, params):
    """Simulate and write every session/run of one EEG subject through MNE-BIDS."""
    import mne
    import pybv
    from mne_bids import BIDSPath, update_sidecar_json, write_raw_bids

    seed, sfreq = params["seed"], params["sfreq"]
    subject = eeg.draw_subject(rng_for(seed, STREAM_EEG, index), row["eeg_erd_strength"])
    montage = eeg.montage()
    for ses in range(1, params["n_sessions"] + 1):
        session = eeg.draw_session(rng_for(seed, STREAM_EEG, index, ses))
        for run in range(1, params["n_runs"] + 1):
            rng = rng_for(seed, STREAM_EEG, index, ses, run)
            data, onsets, labels = eeg.simulate_run(
                rng,
                subject,
                session,
                trials_per_class=params["trials_per_class"],
                sfreq=sfreq,
                imagery_seconds=params["imagery_seconds"],
                idle_seconds=params["idle_seconds"],
                line_freq=params["line_freq"],
            )
            samples = np.rint(onsets * sfreq).astype(int)
            codes = np.array([eeg.EVENT_ID[lab] for lab in labels])
            dur = int(round(params["imagery_seconds"] * sfreq))
            # int16 at 0.1 uV (range +-3.2 mV) keeps the files half the size of
            # MNE-BIDS's float32 conversion; MNE-BIDS then copies them as they are.
            base = f"sub-{sub}_ses-{ses}_run-{run}"
            meas_date = _ACQ_DATE + datetime.timedelta(days=7 * (ses - 1) + index, minutes=30 * (run - 1))
            pybv.write_brainvision(
                data=data,
                sfreq=sfreq,
                ch_names=list(eeg.EEG_CHANNELS),
                fname_base=base,
                folder_out=str(scratch),
                overwrite=True,
                events=np.column_stack([samples, codes, np.full(codes.size, dur)]),
                resolution=0.1,
                unit="µV",
                fmt="binary_int16",
                meas_date=meas_date,
            )
            raw = mne.io.read_raw_brainvision(scratch / f"{base}.vhdr", verbose=False)
            raw.set_montage(montage, verbose=False)
            raw.info["line_freq"] = params["line_freq"]
            raw.set_annotations(
                mne.Annotations(
                    onset=onsets,
                    duration=np.full(onsets.size, params["imagery_seconds"]),
                    description=list(labels),
                    orig_time=raw.info["meas_date"],
                )
            )
            bids_path = BIDSPath(
                subject=sub,
                session=str(ses),
                task=EEG_TASK,
                run=run,
                datatype="eeg",
                root=root,
            )
            write_raw_bids(raw, bids_path, event_id=eeg.EVENT_ID, overwrite=True, verbose=False)
            update_sidecar_json(
                bids_path.copy().update(suffix="eeg", extension=".json"),
                {
                    "TaskDescription": (
                        "Cue-based motor imagery of the left or right hand for "
                        f"{params['imagery_seconds']:g} s after each cue, then rest until the next cue."
                    ),
                    "Instructions": "Imagine squeezing the cued hand until the cue disappears, then relax.",
                    "EEGReference": "reference-free simulated potentials",
                    "EEGGround": "n/a (simulated)",
                    "Manufacturer": "brainpipe simulation",
                    "CapManufacturer": "n/a (simulated 10-20 positions)",
                    "SoftwareFilters": "n/a",
                    "HardwareFilters": "n/a",
                },
                verbose=False,
            )
            for f in scratch.glob(f"{base}.*"):
                f.unlink()


# ---------------------------------------------------------------- MRI


def _write_t1(root, sub, index, row, template, affine, params):
    import nibabel as nib

    rng = rng_for(params["seed"], STREAM_T1, index)
    data = anat.simulate_t1(
        rng,
        template,
        noise_level=float(row["t1_noise_level"]),
        bias_strength=float(row["t1_bias_strength"]),
        motion_artifact=bool(row["t1_motion_artifact"]),
    )
    path = root / f"sub-{sub}" / "anat" / f"sub-{sub}_T1w.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(anat.t1_image(data, affine), path)
    _write_json(
        path.with_name(f"sub-{sub}_T1w.json"),
        {
            "Manufacturer": "brainpipe simulation",
            "MagneticFieldStrength": 3,
            "PhaseEncodingDirection": "j",
            "SkullStripped": True,
        },
    )


def _write_fmri(root, sub, index, row, atlas, params):
    import nibabel as nib

    seed, tr = params["seed"], params["tr"]
    model = fmri.network_model(float(row["age"]), row["sex"], rng_for(seed, STREAM_FMRI, index, 0))
    roi = fmri.simulate_roi_timeseries(
        rng_for(seed, STREAM_FMRI, index, 1), model, atlas.network_index, params["n_volumes"], tr
    )
    data, confounds, spikes = fmri.simulate_bold_run(
        rng_for(seed, STREAM_FMRI, index, 2),
        atlas,
        roi,
        tr=tr,
        motion_level=float(row["fmri_motion_level"]),
        noise_level=float(row["fmri_noise_level"]),
        bold_amplitude=float(row["fmri_bold_amplitude"]),
    )
    stem = f"sub-{sub}_task-{FMRI_TASK}"
    path = root / f"sub-{sub}" / "func" / f"{stem}_bold.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(fmri.bold_image(data, atlas, tr), path)
    _write_json(
        path.with_name(f"{stem}_bold.json"),
        {
            "TaskName": FMRI_TASK,
            "TaskDescription": "Eyes-open resting state (simulated).",
            "RepetitionTime": tr,
            "Manufacturer": "brainpipe simulation",
            "MagneticFieldStrength": 3,
            "EchoTime": 0.03,
            "PhaseEncodingDirection": "j-",
        },
    )
    conf = root / "derivatives" / "confounds" / f"sub-{sub}" / "func" / f"{stem}_desc-confounds_timeseries.tsv"
    _write_tsv(conf, confounds[list(CONFOUND_COLUMNS)])
    _write_json(conf.with_suffix(".json"), _CONFOUNDS_JSON)
    return confounds["framewise_displacement"].to_numpy(), spikes


_CONFOUNDS_JSON = {
    **{
        f"trans_{a}": {"Description": f"Translation along {a} estimated by realignment", "Units": "mm"}
        for a in "xyz"
    },
    **{
        f"rot_{a}": {"Description": f"Rotation about {a} estimated by realignment", "Units": "rad"}
        for a in "xyz"
    },
    "framewise_displacement": {
        "Description": "Framewise displacement (Power et al. 2012, 50 mm head radius); n/a in the first volume",
        "Units": "mm",
    },
    "global_signal": {"Description": "Mean signal within the brain mask"},
    "csf": {"Description": "Mean signal within the CSF mask (CSF probability > 0.5)"},
    "white_matter": {"Description": "Mean signal within the white-matter mask (WM probability > 0.9)"},
}


def _write_atlas(folder, atlas, params):
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "dataset_description.json", _derivative_description("brainpipe demo atlas", params))
    stem = f"atlas-{ATLAS_NAME}_dseg"
    nib.save(atlas.to_nifti(), folder / f"{stem}.nii.gz")
    _write_tsv(folder / f"{stem}.tsv", atlas.table())
    _write_json(
        folder / f"{stem}.json",
        {
            "Name": f"brainpipe {ATLAS_NAME}",
            "Description": (
                "100 parcels (50 per hemisphere, right = mirror of left) from k-means on voxel "
                "coordinates of the MNI152 brain mask at 6 mm, each assigned to the nearest "
                "Yeo-7 network seed. The simulated fMRI is generated on these parcels."
            ),
            "SpatialReference": SPACE,
            "Resolution": f"{VOXEL_MM:g} mm isotropic",
            "Networks": list(NETWORKS),
        },
    )


def _readme(p):
    n_eeg = p["n_eeg_subjects"]
    return f"""brainpipe simulated demo dataset
================================

Simulated data written by `brainpipe simulate` ({GENERATOR}.simulate_dataset,
seed {p['seed']}). No person was recorded. Same seed and parameters, same bytes.

Content
-------
- {p['n_subjects']} participants (participants.tsv: age 18-80, sex, site A/B/C).
- T1w (anat/): nilearn's MNI152 2009a template at 2 mm with a per-subject
  intensity bias field and Rician noise; about 20 % of subjects have a
  simulated in-scan motion artefact (ghosting along the anterior-posterior
  phase-encode axis).
- Resting-state fMRI (func/, task "rest"): {p['n_volumes']} volumes, TR {p['tr']:g} s,
  already in {SPACE} space at {VOXEL_MM:g} mm (the images are not native-space
  acquisitions). ROI signals come from a 7-network model whose within- and
  between-network coupling depends on age and sex, plus head motion (leaking
  into the voxels), physiological and scanner drifts and thermal noise.
- Motor-imagery EEG for sub-01..sub-{n_eeg:02d} (task "imagery"): {p['n_sessions']} sessions x
  {p['n_runs']} runs, 22 channels of the 10-20 system, {p['sfreq']:g} Hz, continuous runs
  with {p['trials_per_class']} left_hand and {p['trials_per_class']} right_hand cues per run, {p['imagery_seconds']:g} s of
  imagery after each cue (mu/beta desynchronisation over the contralateral
  hand area) and idle pauses of {p['idle_seconds'][0]:g}-{p['idle_seconds'][1]:g} s; {p['line_freq']:g} Hz line noise.

Derivatives
-----------
- derivatives/atlas: the 100-parcel, 7-network atlas the fMRI was simulated on.
- derivatives/confounds: fMRIPrep-like confounds per fMRI run (realignment
  parameters, framewise displacement, global, CSF and white-matter signals).
- derivatives/simulation: truth.tsv (per subject: T1 motion artefact, noise
  levels, fMRI motion, EEG effect strength) and simulation.json (parameters).
"""
