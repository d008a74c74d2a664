"""The BIDS writers of the simulated demo dataset: one subject's EEG, T1 and fMRI, the atlas.

Each writer draws from its subject's own random stream
(:func:`~brainpipe.io.simulate.participants.rng_for`) and writes its files
through :mod:`brainpipe.io.atomic`; :mod:`brainpipe.io.simulate.dataset`
orders them and assembles the dataset.
"""

from __future__ import annotations

import datetime

import numpy as np

from ... import __version__
from ..atomic import write_json, write_tsv
from . import anat, eeg, fmri
from .atlas import ATLAS_NAME, NETWORKS, SPACE, VOXEL_MM
from .participants import STREAM_EEG, STREAM_FMRI, STREAM_T1, rng_for

BIDS_VERSION = "1.10.0"
GENERATOR = "brainpipe.io.simulate"
EEG_TASK = "imagery"
FMRI_TASK = "rest"
CONFOUND_COLUMNS = (
    "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
    "framewise_displacement", "global_signal", "csf", "white_matter",
)  # fmt: skip
_ACQ_DATE = datetime.datetime(2024, 3, 4, 9, 0, tzinfo=datetime.timezone.utc)



def generated_by(params):
    """The ``GeneratedBy`` entry of a dataset description."""
    return [
        {
            "Name": "brainpipe",
            "Version": __version__,
            "Description": f"{GENERATOR}.simulate_dataset(seed={params['seed']})",
        }
    ]


def derivative_description(name, params):
    """``dataset_description.json`` of one derivative folder."""
    return {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": generated_by(params),
    }


# ---------------------------------------------------------------- EEG


def write_eeg_subject(root, scratch, sub, index, row, params):
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


def write_t1(root, sub, index, row, template, affine, params):
    """Write one subject's T1w image and sidecar."""
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
    write_json(
        path.with_name(f"sub-{sub}_T1w.json"),
        {
            "Manufacturer": "brainpipe simulation",
            "MagneticFieldStrength": 3,
            "PhaseEncodingDirection": "j",
            "SkullStripped": True,
        },
    )


def write_fmri(root, sub, index, row, atlas, params):
    """Write one subject's resting-state BOLD, sidecar and confounds; return its FD and motion spikes."""
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
    write_json(
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
    write_tsv(conf, confounds[list(CONFOUND_COLUMNS)])
    write_json(conf.with_suffix(".json"), _CONFOUNDS_JSON)
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


def write_atlas(folder, atlas, params):
    """Write the demo atlas (labels image, TSV, sidecar) under ``folder``."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "dataset_description.json", derivative_description("brainpipe demo atlas", params))
    stem = f"atlas-{ATLAS_NAME}_dseg"
    nib.save(atlas.to_nifti(), folder / f"{stem}.nii.gz")
    write_tsv(folder / f"{stem}.tsv", atlas.table())
    write_json(
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


def readme(p):
    """The dataset README for parameters ``p``."""
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
