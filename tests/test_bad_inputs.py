"""Bad inputs: every case ends in our own error naming the file (or config key).

``CASES`` is the catalogue of docs/bad_inputs.md: each case corrupts a copy
of a small simulated BIDS dataset (or its config) and states the file and
the words the problem line from ``brainpipe validate`` must hold. Beside it,
the issue's "must fix" cases run the real stages: truncated recordings,
hostile file names, HTML from data, bad channels in pseudo-online runs,
flat channels without positions, output modes under the user's umask.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from brainpipe._check import BrainpipeInputError
from brainpipe.io.validate import find_problems, validate_bids

REPO = Path(__file__).resolve().parents[1]
EEG = "sub-01/ses-1/eeg/sub-01_ses-1_task-imagery_run-1_eeg"
EVENTS = "sub-01/ses-1/eeg/sub-01_ses-1_task-imagery_run-1_events.tsv"
BOLD = "sub-01/func/sub-01_task-rest_bold.nii.gz"
T1 = "sub-01/anat/sub-01_T1w.nii.gz"
N_CHAN = 22


# --------------------------------------------------------------------------
# the dataset and its config
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_bids(tmp_path_factory):
    """2 subjects with fMRI/T1, subject 01 with 1 session x 2 EEG runs."""
    from brainpipe.io.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("bad_inputs") / "bids"
    return simulate_dataset(root, seed=0, n_subjects=2, n_eeg_subjects=1, n_sessions=1, n_runs=2,
                            trials_per_class=6, n_volumes=60, tr=2.0, progress=False)


def workflow_config(root):
    """The tiny test config pointed at a real (not simulated) dataset ``root``."""
    cfg = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    cfg["simulate"]["enabled"] = False
    cfg["bids_root"] = str(root)
    deriv = Path(root) / "derivatives"
    cfg["fmri"]["atlas"]["maps"] = str(deriv / "atlas/atlas-demo100_dseg.nii.gz")
    cfg["fmri"]["atlas"]["labels"] = str(deriv / "atlas/atlas-demo100_dseg.tsv")
    cfg["fmri"]["confounds"]["root"] = str(deriv / "confounds")
    return cfg


@pytest.fixture()
def bids(small_bids, tmp_path):
    """A fresh, writable copy of the small dataset."""
    return Path(shutil.copytree(small_bids, tmp_path / "bids", symlinks=True))


# --------------------------------------------------------------------------
# corruptions
# --------------------------------------------------------------------------
def _edit_tsv(path, func):
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = func(df)
    df.to_csv(path, sep="\t", index=False)


def _edit_json(path, func):
    meta = json.loads(Path(path).read_text())
    func(meta)
    Path(path).write_text(json.dumps(meta))


def _samples(root, run=1):
    """The int16 samples of a run, (n_times, n_channels), and the data file."""
    dat = Path(root) / EEG.replace("run-1", f"run-{run}")
    dat = dat.with_name(dat.name + ".eeg")
    return np.fromfile(dat, dtype="<i2").reshape(-1, N_CHAN), dat


def to_float32(root, run=1):
    """Rewrite a run as IEEE_FLOAT_32 (in µV, resolution 1) so it can hold NaN."""
    data, dat = _samples(root, run)
    vhdr = dat.with_suffix(".vhdr")
    if "BinaryFormat=IEEE_FLOAT_32" in vhdr.read_text(encoding="utf-8"):
        return dat  # converted already
    text = vhdr.read_text(encoding="utf-8").replace("BinaryFormat=INT_16", "BinaryFormat=IEEE_FLOAT_32")
    text = text.replace(",,0.1,µV", ",,1,µV")
    vhdr.write_text(text, encoding="utf-8")
    (data.astype("<f4") * 0.1).tofile(dat)
    return dat


def set_channel(root, index, value, run=1):
    dat = to_float32(root, run)
    data = np.fromfile(dat, dtype="<f4").reshape(-1, N_CHAN)
    data[:, index] = value
    data.tofile(dat)


def truncate(path, fraction=0.5, multiple=1):
    size = Path(path).stat().st_size
    os.truncate(path, int(size * fraction) // multiple * multiple)


def rename_channel(root, index, new, run=1):
    """Rename channel ``index`` in the header and channels.tsv (it loses its position)."""
    vhdr = Path(root) / (EEG.replace("run-1", f"run-{run}") + ".vhdr")
    lines = vhdr.read_text(encoding="utf-8").splitlines()
    old = None
    for i, line in enumerate(lines):
        if line.startswith(f"Ch{index + 1}="):
            old = line.split("=", 1)[1].split(",")[0]
            lines[i] = line.replace(f"={old},", f"={new},", 1)
    vhdr.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chans = vhdr.with_name(vhdr.name.replace("_eeg.vhdr", "_channels.tsv"))
    _edit_tsv(chans, lambda df: df.assign(name=df["name"].replace(old, new)))
    return old


def write_nifti(path, shape, affine=None, tr=None):
    import nibabel as nib

    img = nib.Nifti1Image(np.random.default_rng(0).normal(size=shape).astype("float32"),
                          np.eye(4) if affine is None else affine)
    if tr is not None:
        img.header.set_zooms((*img.header.get_zooms()[:3], tr))
    nib.save(img, path)


def _c(name, mutate, where, *words, config=None):
    return pytest.param(mutate, where, words, config, id=name)


def _set_cfg(*keys, value):
    def edit(cfg):
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return edit


def _atlas_shift(root):
    import nibabel as nib

    path = Path(root) / "derivatives/atlas/atlas-demo100_dseg.nii.gz"
    img = nib.load(path)
    affine = img.affine.copy()
    affine[:3, 3] += 500.0  # half a metre away: another space
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine, img.header), path)


def _bold_short(root):
    import nibabel as nib

    path = Path(root) / BOLD
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., :20], img.affine, img.header), path)
    _edit_tsv(Path(root) / "derivatives/confounds/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv",
              lambda df: df.iloc[:20])


def _gz_truncate(path):
    raw = gzip.decompress(Path(path).read_bytes())
    Path(path).write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])


def _nifti_edit(path, func):
    import nibabel as nib

    img = nib.load(path)
    data = np.asarray(img.dataobj).astype("float32")
    func(data)
    new = nib.Nifti1Image(data, img.affine, img.header)
    new.set_data_dtype(np.float32)  # keep NaN (an integer dtype would not)
    nib.save(new, path)


def _resample_run2(root):
    """Run 2 declared at 500 Hz (header, sidecar and channels.tsv agree): runs differ in rate."""
    base = Path(root) / EEG.replace("run-1", "run-2")
    vhdr = base.with_name(base.name + ".vhdr")
    vhdr.write_text(vhdr.read_text(encoding="utf-8").replace("SamplingInterval=4000.0", "SamplingInterval=2000.0"),
                    encoding="utf-8")
    _edit_json(base.with_name(base.name + ".json"), lambda m: m.update(
        SamplingFrequency=500.0, RecordingDuration=m["RecordingDuration"] / 2))


def _hostile_name(root):
    for f in sorted((Path(root) / "sub-01/ses-1/eeg").glob("*run-2_*")):
        f.rename(f.with_name(f.name.replace("run-2", "run-$(touch PWNED)")))


def _third_bold_subject(root):
    """sub-03, a copy of sub-02's BOLD: fmri_predict runs from 3 subjects on, so its columns are checked."""
    for src in sorted((Path(root) / "sub-02/func").iterdir()):
        dst = Path(root) / "sub-03/func" / src.name.replace("sub-02", "sub-03")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    _edit_tsv(Path(root) / "participants.tsv", lambda d: pd.concat(
        [d, d.iloc[[1]].assign(participant_id="sub-03")], ignore_index=True))


CASES = [
    # dataset files
    _c("description-missing", lambda r: (r / "dataset_description.json").unlink(),
       "dataset_description.json", "missing"),
    _c("description-bad-json", lambda r: (r / "dataset_description.json").write_text("{Name: x"),
       "dataset_description.json", "not valid JSON"),
    _c("eeg-sidecar-bad-json", lambda r: (r / f"{EEG}.json").write_text("{\"SamplingFrequency\": 250,"),
       f"{Path(EEG).name}.json", "not valid JSON"),
    _c("bold-sidecar-bad-json", lambda r: (r / "sub-01/func/sub-01_task-rest_bold.json").write_text("[1, 2"),
       "sub-01_task-rest_bold.json", "not valid JSON"),
    _c("tsv-ragged", lambda r: (r / EVENTS).write_text("onset\tduration\ttrial_type\n1\t2\tleft_hand\t9\t9\n"),
       Path(EVENTS).name, "not a readable TSV"),
    _c("tsv-empty-file", lambda r: (r / EVENTS).write_text(""), Path(EVENTS).name, "empty file"),
    # participants
    _c("participants-missing", lambda r: (r / "participants.tsv").unlink(), "participants.tsv", "missing"),
    _c("participants-no-age", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.drop(columns="age")),
       "participants.tsv", "missing columns", "age"),
    _c("age-not-numeric", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.assign(age=["35", "old"])),
       "participants.tsv", "'age' must be numeric", "old"),
    _c("age-impossible", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.assign(age=["35", "-4"])),
       "participants.tsv", "impossible age"),
    _c("age-too-old", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.assign(age=["35", "430"])),
       "participants.tsv", "impossible age"),
    _c("demographic-missing-value", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.assign(
        sex=["M", "n/a"])), "participants.tsv", "'sex' is n/a or empty", "sub-02"),
    _c("participant-duplicate", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.assign(
        participant_id=["sub-01", "sub-01"])), "participants.tsv", "more than once"),
    _c("subject-not-listed", lambda r: _edit_tsv(r / "participants.tsv", lambda d: d.iloc[:1]),
       "participants.tsv", "sub-02 has data but no row"),
    # names, links, references
    _c("name-shell-syntax", _hostile_name, "run-$(touch PWNED)", "shell syntax"),
    _c("name-space", lambda r: (r / f"{EEG}.json").rename(r / f"{EEG} copy.json"), "copy.json", "whitespace"),
    _c("name-bad-label", lambda r: (r / T1).rename(r / "sub-01/anat/sub-01_acq-high.res_T1w.nii.gz"),
       "acq-high", "not a valid BIDS"),
    _c("symlink-outside", lambda r: (r / "sub-01/anat/sub-01_T2w.nii.gz").symlink_to("/etc/hostname"),
       "sub-01_T2w.nii.gz", "outside the dataset root"),
    _c("datafile-outside", lambda r: (r / f"{EEG}.vhdr").write_text(
        (r / f"{EEG}.vhdr").read_text(encoding="utf-8").replace(
            "DataFile=sub-01", "DataFile=../../../../sub-01"), encoding="utf-8"),
       f"{Path(EEG).name}.vhdr", "DataFile points outside"),
    _c("scans-outside", lambda r: _edit_tsv(r / "sub-01/ses-1/sub-01_ses-1_scans.tsv", lambda d: d.assign(
        filename=["../../../etc/passwd"] * len(d))), "scans.tsv", "outside the dataset root"),
    _c("intendedfor-outside", lambda r: _edit_json(r / "sub-01/func/sub-01_task-rest_bold.json",
                                                  lambda m: m.update(IntendedFor=["../../../x.nii.gz"])),
       "sub-01_task-rest_bold.json", "IntendedFor"),
    # events
    _c("events-missing", lambda r: (r / EVENTS).unlink(), f"{Path(EEG).name}.vhdr", "no events file"),
    _c("events-no-rows", lambda r: (r / EVENTS).write_text("onset\tduration\ttrial_type\n"),
       Path(EVENTS).name, "no events"),
    _c("events-no-trial-type", lambda r: _edit_tsv(r / EVENTS, lambda d: d.drop(columns="trial_type")),
       Path(EVENTS).name, "'trial_type'"),
    _c("events-onset-text", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(onset=["soon"] * len(d))),
       Path(EVENTS).name, "onset must be a finite number"),
    _c("events-onset-negative", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(
        onset=["-3"] + list(d["onset"][1:]))), Path(EVENTS).name, "onset must be"),
    _c("events-duration-negative", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(duration="-4")),
       Path(EVENTS).name, "duration must be"),
    _c("events-only-non-task", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(trial_type="n/a")),
       Path(EVENTS).name, "no task events"),
    _c("events-past-end", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(
        onset=list(d["onset"][:-1]) + ["9999.0"])), Path(EVENTS).name, "start after the end"),
    _c("events-unknown-cue-names", lambda r: _edit_tsv(r / EVENTS, lambda d: d.assign(trial_type=d["trial_type"].map(
        {"left_hand": "LH", "right_hand": "RH"}))), Path(EVENTS).name, "none of the cue names"),
    _c("events-one-class", lambda r: [_edit_tsv(r / EVENTS.replace("run-1", f"run-{k}"), lambda d: d.assign(
        trial_type="right_hand")) for k in (1, 2)], "config bci.", "only the cue 'right_hand'"),
    _c("events-zero-durations", lambda r: [_edit_tsv(r / EVENTS.replace("run-1", f"run-{k}"), lambda d: d.assign(
        duration="0")) for k in (1, 2)], "config bci.pseudo_online.tmax", "zero durations"),
    # EEG data
    _c("eeg-truncated-half", lambda r: truncate(r / f"{EEG}.eeg", 0.5, 2 * N_CHAN),
       f"{Path(EEG).name}.vhdr", "truncated", "RecordingDuration"),
    _c("eeg-truncated-mid-sample", lambda r: truncate(r / f"{EEG}.eeg", 0.999, 1),
       f"{Path(EEG).name}.eeg", "truncated", "whole number of samples"),
    _c("eeg-data-empty", lambda r: (r / f"{EEG}.eeg").write_bytes(b""), f"{Path(EEG).name}.eeg", "empty"),
    _c("eeg-data-missing", lambda r: (r / f"{EEG}.eeg").unlink(), f"{Path(EEG).name}.vhdr",
       "DataFile", "does not exist"),
    _c("eeg-header-garbage", lambda r: (r / f"{EEG}.vhdr").write_text("not a header\nat all\n"),
       f"{Path(EEG).name}.vhdr", "not a readable BrainVision header"),
    _c("eeg-sfreq-mismatch", lambda r: _edit_json(r / f"{EEG}.json", lambda m: m.update(SamplingFrequency=500)),
       f"{Path(EEG).name}.json", "SamplingFrequency"),
    _c("eeg-nan-channel", lambda r: set_channel(r, 5, np.nan), f"{Path(EEG).name}.vhdr", "NaN or infinite", "FC4"),
    _c("eeg-inf-channel", lambda r: set_channel(r, 2, np.inf), f"{Path(EEG).name}.vhdr", "NaN or infinite"),
    _c("eeg-mostly-flat", lambda r: set_channel(r, slice(0, 15), 0.0), f"{Path(EEG).name}.vhdr", "flat"),
    _c("eeg-channels-tsv-mismatch", lambda r: _edit_tsv(
        r / (EEG.replace("_eeg", "_channels") + ".tsv"), lambda d: d.iloc[:-2]),
       "run-1_channels.tsv", "lists 20 channels"),
    _c("eeg-runs-differ-in-rate", lambda r: _resample_run2(r), "run-2_eeg.vhdr", "must share one rate"),
    # fMRI / T1
    _c("bold-no-tr", lambda r: _edit_json(r / "sub-01/func/sub-01_task-rest_bold.json",
                                          lambda m: m.pop("RepetitionTime")), "sub-01_task-rest_bold", "RepetitionTime"),
    _c("bold-tr-zero", lambda r: _edit_json(r / "sub-01/func/sub-01_task-rest_bold.json",
                                            lambda m: m.update(RepetitionTime=0)), "sub-01_task-rest_bold.json",
       "positive number"),
    _c("bold-tr-milliseconds", lambda r: _edit_json(r / "sub-01/func/sub-01_task-rest_bold.json",
                                                    lambda m: m.update(RepetitionTime=2000)),
       "sub-01_task-rest_bold.json", "milliseconds"),
    _c("bold-tr-header-mismatch", lambda r: _edit_json(r / "sub-01/func/sub-01_task-rest_bold.json",
                                                       lambda m: m.update(RepetitionTime=1.0)),
       "sub-01_task-rest_bold.nii.gz", "differs from RepetitionTime"),
    _c("bold-3d", lambda r: write_nifti(r / BOLD, (8, 8, 8)), "sub-01_task-rest_bold.nii.gz", "expected a 4D"),
    _c("bold-truncated-gz", lambda r: _gz_truncate(r / BOLD), "sub-01_task-rest_bold.nii.gz", "corrupt or truncated"),
    _c("bold-not-nifti", lambda r: (r / BOLD).write_bytes(b"\x1f\x8bjunk"), "sub-01_task-rest_bold.nii.gz",
       "not a readable NIfTI"),
    _c("bold-nan-voxels", lambda r: _nifti_edit(r / BOLD, lambda a: a.__setitem__((0, 0, 0), np.nan)),
       "sub-01_task-rest_bold.nii.gz", "NaN or infinite"),
    _c("t1-all-zero", lambda r: _nifti_edit(r / T1, lambda a: a.__setitem__(Ellipsis, 0)),
       "sub-01_T1w.nii.gz", "an empty image"),
    _c("t1-4d", lambda r: write_nifti(r / T1, (8, 8, 8, 3)), "sub-01_T1w.nii.gz", "expected a 3D"),
    _c("t1-truncated-gz", lambda r: _gz_truncate(r / T1), "sub-01_T1w.nii.gz", "corrupt or truncated"),
    _c("bold-too-short", _bold_short, "sub-01_task-rest_bold.nii.gz", "shorter than one period"),
    _c("atlas-other-space", _atlas_shift, "sub-01_task-rest_bold.nii.gz", "not in the same space"),
    _c("atlas-4d", lambda r: write_nifti(r / "derivatives/atlas/atlas-demo100_dseg.nii.gz", (8, 8, 8, 2)),
       "atlas-demo100_dseg.nii.gz", "3D labels image"),
    _c("atlas-labels-missing-rows", lambda r: _edit_tsv(r / "derivatives/atlas/atlas-demo100_dseg.tsv",
                                                       lambda d: d.iloc[:10]), "atlas-demo100_dseg.tsv", "have no row"),
    _c("confounds-missing", lambda r: (r / "derivatives/confounds/sub-01/func/"
                                       "sub-01_task-rest_desc-confounds_timeseries.tsv").unlink(),
       "sub-01_task-rest_desc-confounds_timeseries.tsv", "confounds file missing"),
    _c("confounds-column-missing", lambda r: _edit_tsv(
        r / "derivatives/confounds/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv",
        lambda d: d.drop(columns="csf")), "desc-confounds_timeseries.tsv", "csf"),
    _c("confounds-rows", lambda r: _edit_tsv(
        r / "derivatives/confounds/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv",
        lambda d: d.iloc[:30]), "desc-confounds_timeseries.tsv", "30 rows", "60 volumes"),
    # the config against the data
    _c("cfg-hfreq-above-nyquist", None, "config eeg.preprocess", "Nyquist",
       config=_set_cfg("eeg", "preprocess", "h_freq", value=200.0)),
    _c("cfg-band-reversed", None, "config eeg.preprocess", "must be below",
       config=_set_cfg("eeg", "preprocess", "l_freq", value=45.0)),
    _c("cfg-notch-above-nyquist", None, "config eeg.preprocess.notch", "Nyquist",
       config=_set_cfg("eeg", "preprocess", "notch", value=[50.0, 150.0])),
    _c("cfg-resample-too-low", None, "config eeg.preprocess.sfreq", "below h_freq",
       config=_set_cfg("eeg", "preprocess", "sfreq", value=60.0)),
    _c("cfg-epochs-reversed", None, "config eeg.epochs", "tmin",
       config=_set_cfg("eeg", "epochs", "tmax", value=0.2)),
    _c("cfg-unknown-pipeline", None, "config bci.offline.pipelines.csp_ldaa", "unknown pipeline",
       config=_set_cfg("bci", "offline", "pipelines", value={"csp_ldaa": {}})),
    _c("cfg-pipeline-bad-param", None, "config bci.pseudo_online.pipelines.csp_lda", "cannot be built",
       config=_set_cfg("bci", "pseudo_online", "pipelines", value={"csp_lda": {"n_filterz": 4}})),
    _c("cfg-acm-order-too-large", None, "config bci.pseudo_online.pipelines.acm", "does not fit",
       config=_set_cfg("bci", "pseudo_online", "pipelines",
                       value={"acm": {"pipeline": "acm_ts_svm", "order": 12, "lag": 1}})),
    _c("cfg-window-longer-than-task", None, "config bci.pseudo_online.window", "shortest task period",
       config=_set_cfg("bci", "pseudo_online", "window", value=6.0)),
    _c("cfg-step-below-sample", None, "config bci.pseudo_online.step", "less than one sample",
       config=_set_cfg("bci", "pseudo_online", "step", value=0.001)),
    _c("cfg-causal-filter-nyquist", None, "config bci.pseudo_online.causal_filter", "Nyquist",
       config=_set_cfg("bci", "pseudo_online", "causal_filter", value={"l_freq": 8.0, "h_freq": 130.0})),
    _c("cfg-paradigm-band-reversed", None, "config bci.offline.paradigm", "must be below",
       config=_set_cfg("bci", "offline", "paradigm", value={"name": "left_right", "fmin": 30.0, "fmax": 8.0})),
    _c("cfg-lowpass-nyquist", None, "config fmri.low_pass", "Nyquist",
       config=_set_cfg("fmri", "low_pass", value=0.3)),
    _c("cfg-highpass-above-lowpass", None, "config fmri.high_pass/low_pass", "must be below",
       config=_set_cfg("fmri", "high_pass", value=0.2)),
    _c("cfg-dfc-window-too-long", None, "config fmri.dynamic.window_s", "longer than",
       config=_set_cfg("fmri", "dynamic", "window_s", value=600.0)),
    _c("cfg-prediction-target", _third_bold_subject, "config fmri.prediction.targets", "not columns",
       config=_set_cfg("fmri", "prediction", "targets", value=["age", "handedness"])),
    _c("cfg-subject-absent", None, "config subjects", "sub-07",
       config=_set_cfg("subjects", value=["01", "07"])),
    _c("cfg-eeg-task-absent", None, "config eeg.task", "no eeg recording of task 'motor'",
       config=_set_cfg("eeg", "task", value="motor")),
    _c("cfg-fmri-task-absent", None, "config fmri.task", "tasks found: ['rest']",
       config=_set_cfg("fmri", "task", value="movie")),
    _c("cfg-atlas-missing", None, "config fmri.atlas.maps", "does not exist",
       config=_set_cfg("fmri", "atlas", "maps", value="/nonexistent/atlas.nii.gz")),
]


def test_clean_dataset_has_no_problems(small_bids):
    """The checks raise nothing on good data (with and without the config)."""
    assert find_problems(small_bids) == []
    assert find_problems(small_bids, config=workflow_config(small_bids)) == []


def test_catalogue_has_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("mutate", "where", "words", "config_edit"), CASES)
def test_catalogue(bids, mutate, where, words, config_edit):
    """Each bad input gives one problem line naming the file or key and the problem."""
    cfg = workflow_config(bids)
    if mutate is not None:
        mutate(bids)
    if config_edit is not None:
        config_edit(cfg)
    # 2 subjects: no group step runs, so no demographic column is required
    # unless asked for (tests/test_own_data.py checks that)
    demographics = ("age", "sex") if where == "participants.tsv" else None
    problems = find_problems(bids, config=cfg, demographics=demographics)
    hits = [p for p in problems if where in p and all(w in p for w in words)]
    assert hits, f"no problem naming {where!r} with {words}; got:\n" + "\n".join(problems)
    with pytest.raises(BrainpipeInputError, match="problem"):
        validate_bids(bids, config=cfg, demographics=demographics)


def _cli(*args, cwd=None):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "brainpipe.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_cli_validate_configfile(bids, tmp_path):
    """`brainpipe validate ROOT --configfile CONFIG`: exit 2, the key named, nothing else printed."""
    cfg = workflow_config(bids)
    cfg["bci"]["pseudo_online"]["window"] = 6.0
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = _cli("validate", str(bids), "--configfile", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "config bci.pseudo_online.window" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("validate", str(bids), "--configfile", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert proc.returncode == 2 and "nope.yaml: config file does not exist" in proc.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump(workflow_config(bids)))
    proc = _cli("validate", str(bids), "--configfile", str(ok), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_merge_config_replaces_lists():
    from brainpipe.io.validate import merge_config

    base = {"a": {"b": [1, 2], "c": 1}, "d": 1}
    assert merge_config(base, {"a": {"b": [3]}}) == {"a": {"b": [3], "c": 1}, "d": 1}
    assert base == {"a": {"b": [1, 2], "c": 1}, "d": 1}


# --------------------------------------------------------------------------
# must fix 3: truncated recordings stop the stage, naming the file
# --------------------------------------------------------------------------
def test_preprocess_refuses_truncated_brainvision(bids, tmp_path):
    from brainpipe.eeg.preprocess import preprocess_eeg_run

    truncate(bids / f"{EEG}.eeg", 0.5, 2 * N_CHAN)
    out = tmp_path / "out" / "x_desc-preproc_eeg.fif"
    with pytest.raises(BrainpipeInputError, match=r"run-1_eeg\.vhdr: is truncated"):
        preprocess_eeg_run(bids / f"{EEG}.vhdr", out, tmp_path / "out" / "x_events.tsv")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_without_sidecar_duration_caught_by_markers(bids):
    """No RecordingDuration: the BrainVision markers past the end still tell."""
    from brainpipe.eeg.integrity import check_recording

    _edit_json(bids / f"{EEG}.json", lambda m: m.pop("RecordingDuration"))
    (bids / EVENTS).unlink()
    truncate(bids / f"{EEG}.eeg", 0.5, 2 * N_CHAN)
    with pytest.raises(BrainpipeInputError, match=r"_eeg\.vmrk: .* marker\(s\) lie after the last sample"):
        check_recording(bids / f"{EEG}.vhdr")


def _edf_run(bids, tmp_path):
    """The first run exported to EDF inside the BIDS folder, sidecars alongside."""
    import mne

    raw = mne.io.read_raw_brainvision(bids / f"{EEG}.vhdr", preload=True, verbose="error")
    edf = bids / f"{EEG}.edf"
    mne.export.export_raw(edf, raw, fmt="edf", overwrite=True, verbose="error")
    for ext in (".vhdr", ".vmrk", ".eeg"):
        (bids / f"{EEG}{ext}").unlink()
    return edf, raw


def test_truncated_edf_refused(bids, tmp_path):
    from brainpipe.eeg.integrity import check_recording, recording_samples
    from brainpipe.eeg.preprocess import read_bids_eeg

    edf, raw = _edf_run(bids, tmp_path)
    n, sfreq = recording_samples(edf)
    assert sfreq == pytest.approx(raw.info["sfreq"]) and n >= raw.n_times
    check_recording(edf)  # complete: fine
    truncate(edf, 0.5)
    with pytest.raises(BrainpipeInputError, match=r"_eeg\.edf: is truncated: the header declares"):
        check_recording(edf)
    with pytest.raises(BrainpipeInputError, match=r"_eeg\.edf: is truncated"):
        read_bids_eeg(edf)


def test_events_past_end_refused_by_reader(bids):
    from brainpipe.eeg.preprocess import read_bids_eeg

    _edit_tsv(bids / EVENTS, lambda d: d.assign(onset=list(d["onset"][:-1]) + ["9999.0"]))
    with pytest.raises(BrainpipeInputError, match=r"_events\.tsv: 1 event\(s\) start after the end"):
        read_bids_eeg(bids / f"{EEG}.vhdr")


# --------------------------------------------------------------------------
# must fix 4: strings from data are escaped in the report
# --------------------------------------------------------------------------
XSS = "<img src=x onerror=alert(1)>"


def test_report_escapes_event_names(bids, tmp_path):
    from brainpipe.eeg.preprocess import preprocess_eeg_run
    from brainpipe.report.subject import build_subject_report

    _edit_tsv(bids / EVENTS, lambda d: d.assign(trial_type=d["trial_type"].replace("left_hand", XSS)))
    frag = tmp_path / "figures" / "sub-01_ses-1_run-1_desc-eeg_fragment.json"
    preprocess_eeg_run(bids / f"{EEG}.vhdr", tmp_path / "sub-01_ses-1_task-imagery_run-1_desc-preproc_eeg.fif",
                       tmp_path / "events.tsv", fragment=frag, notch=(), l_freq=1.0, h_freq=40.0)
    out = tmp_path / "report.html"
    build_subject_report("01", [frag], out, summary={"note": XSS})
    text = out.read_text()
    assert XSS not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


@pytest.mark.parametrize("snippet", [
    XSS, "<script>alert(1)</script>", "<p onclick='x()'>a</p>", "<a href='javascript:x'>l</a>",
    "<iframe src=//evil>", "<svg onload=alert(1)>", "<p style='background:url(javascript:x)'>a</p>",
    "<!-- <script>x</script> -->", "<p>unterminated <img src=x onerror=alert(1)",
])
def test_sanitize_html_neutralises(snippet):
    from html.parser import HTMLParser

    from brainpipe.report.subject import ALLOWED_TAGS, sanitize_html

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(sanitize_html(snippet))
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS
        assert not any(k.startswith("on") or k in ("href", "src") for k in attrs)
        assert "url(" not in attrs.get("style", "")


def test_sanitize_html_keeps_formatting():
    from brainpipe.report.subject import sanitize_html

    table = '<table border="0" class="dataframe"><tr style="text-align: right;"><th>a &amp; b</th></tr></table>'
    assert sanitize_html(table) == table
    assert sanitize_html("<p>1 < 2</p>") == "<p>1 &lt; 2</p>"


# --------------------------------------------------------------------------
# must fix 5: bad channels in pseudo-online runs; flat channels without positions
# --------------------------------------------------------------------------
def test_pseudo_online_flat_channel_interpolated(bids):
    from brainpipe.bci.pseudo_online import load_runs

    set_channel(bids, 7, 0.0)  # C3 flat in run 1
    runs = load_runs(bids, "01", task="imagery",
                     bad_channels={"flat_threshold": 1e-7, "noisy_z": 5.0, "interpolate_bads": True,
                                   "l_freq": 1.0, "h_freq": 40.0})
    run1 = next(r for r in runs if r.run == "1")
    assert run1.bad_channels["flat"] == ["C3"] and run1.bad_channels["interpolated"] == ["C3"]
    c3 = run1.ch_names.index("C3")
    assert run1.data[c3].std() > 1e-7 and np.all(np.isfinite(run1.data))
    assert all(r.ch_names == run1.ch_names for r in runs)


def test_pseudo_online_nan_channel_names_file(bids):
    from brainpipe.bci.pseudo_online import load_runs

    set_channel(bids, 5, np.nan)
    with pytest.raises(BrainpipeInputError, match=r"run-1_eeg\.vhdr: contains NaN or infinite samples.*FC4"):
        load_runs(bids, "01", task="imagery")


def test_pseudo_online_sidecar_records_bad_channels(bids, tmp_path):
    from brainpipe.bci.pseudo_online import run_pseudo_online

    rename_channel(bids, 7, "XX1")
    rename_channel(bids, 7, "XX1", run=2)
    set_channel(bids, 7, 0.0)  # unplaced and flat in run 1: dropped from every run
    out = tmp_path / "sub-01_task-imagery_desc-pseudoonline_scores.tsv"
    run_pseudo_online(bids, "01", out, config={
        "pipelines": ["csp_lda"], "evaluations": ["within-session"], "smoothing": [], "offline": False,
        "step": 0.25, "task": "imagery"})
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["BadChannels"]["ses-1_run-1"]["dropped"] == ["XX1"]
    assert meta["BadChannels"]["ses-1_run-2"]["dropped_in_other_runs"] == ["XX1"]
    assert meta["Settings"]["bad_channels"]["flat_threshold"] == 1e-7


def test_preprocess_flat_channel_without_position_dropped(bids, tmp_path):
    """Before: the channel came out all-NaN ("interpolated" from no position)."""
    from brainpipe.eeg.preprocess import preprocess_eeg_run

    rename_channel(bids, 3, "XX1")
    set_channel(bids, 3, 0.0)
    set_channel(bids, 8, 0.0)  # C1, placed: interpolated
    fif = tmp_path / "x_desc-preproc_eeg.fif"
    raw = preprocess_eeg_run(bids / f"{EEG}.vhdr", fif, tmp_path / "x_events.tsv")
    assert np.all(np.isfinite(raw.get_data()))
    assert "XX1" not in raw.ch_names and "C1" in raw.ch_names
    meta = json.loads(fif.with_suffix(".json").read_text())["BadChannels"]
    assert meta["dropped"] == ["XX1"] and meta["interpolated"] == ["C1"]


# --------------------------------------------------------------------------
# outputs honour the umask
# --------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_outputs_honour_umask(tmp_path, mask):
    from brainpipe.io.atomic import write_json, write_npz, write_tsv

    old = os.umask(mask)
    try:
        paths = [write_tsv(tmp_path / "a.tsv", pd.DataFrame({"x": [1]})),
                 write_json(tmp_path / "a.json", {"x": 1}), write_npz(tmp_path / "a.npz", x=np.zeros(2))]
    finally:
        os.umask(old)
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p


# --------------------------------------------------------------------------
# must fix 1: hostile file names never reach a shell
# --------------------------------------------------------------------------
def test_validate_rejects_hostile_name(bids, tmp_path):
    _hostile_name(bids)
    proc = _cli("validate", str(bids), cwd=tmp_path)
    assert proc.returncode == 2
    assert "run-$(touch PWNED)" in proc.stderr and "shell syntax" in proc.stderr
    assert not (tmp_path / "PWNED").exists() and not list(bids.rglob("PWNED"))


def _snakemake(workdir, *args, timeout=600):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=workdir)


def _workdir(tmp_path, root, edit=None):
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    cfg = workflow_config(root)
    if edit:
        edit(cfg)
    (work / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def test_workflow_stops_on_hostile_name_before_any_job(bids, tmp_path):
    _hostile_name(bids)
    work = _workdir(tmp_path, bids)
    proc = _snakemake(work, "--cores", "1", "-n")
    assert proc.returncode != 0
    assert "run-$(touch PWNED)" in proc.stdout + proc.stderr and "not valid BIDS labels" in proc.stdout + proc.stderr
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.slow
def test_workflow_quotes_paths_with_spaces_and_shell_syntax(small_bids, tmp_path):
    """A dataset under 'my data $(touch PWNED)/': jobs run, nothing is executed from the name."""
    parent = tmp_path / "my data $(touch PWNED) `touch PWNED2`"
    root = Path(shutil.copytree(small_bids, parent / "bids"))
    work = _workdir(tmp_path, root, edit=lambda c: c.update(results=str(tmp_path / "res ults $(touch PWNED)")))
    target = str(tmp_path / "res ults $(touch PWNED)/sub-01/eeg/sub-01_ses-1_task-imagery_run-1_desc-preproc_eeg.fif")
    proc = _snakemake(work, "--cores", "1", target, str(tmp_path / "res ults $(touch PWNED)/dataset_description.json"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert Path(target).exists()
    assert not list(tmp_path.rglob("PWNED")) and not list(tmp_path.rglob("PWNED2"))
    assert not (work / "PWNED").exists()


def test_workflow_onstart_refuses_bad_config(bids, tmp_path):
    """A config that cannot work stops the run before the first job, naming the key."""
    work = _workdir(tmp_path, bids, edit=_set_cfg("eeg", "preprocess", "h_freq", value=200.0))
    proc = _snakemake(work, "--cores", "1", str(Path(workflow_config(bids)["results"]) / "dataset_description.json"))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "config eeg.preprocess.l_freq/h_freq" in out and "Nyquist" in out
    assert not (work / "results").exists()


def test_config_only_for_the_simulated_demo(tmp_path):
    from brainpipe.io.validate import validate_config

    cfg = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    validate_config(cfg)
    bad = copy.deepcopy(cfg)
    bad["fmri"]["dynamic"]["window_s"] = 1000.0
    with pytest.raises(BrainpipeInputError, match="config fmri.dynamic.window_s"):
        validate_config(bad)


# --------------------------------------------------------------------------
# score tables: two identical runs give identical bytes (timings apart)
# --------------------------------------------------------------------------
def test_pseudo_online_scores_byte_identical(small_bids, tmp_path):
    from brainpipe.bci.pseudo_online import TIMING_COLUMNS, run_pseudo_online, timing_path

    cfg = {"pipelines": ["csp_lda"], "evaluations": ["within-session"], "smoothing": [3], "step": 0.25,
           "task": "imagery"}
    outs = [tmp_path / f"run{i}" / "sub-01_task-imagery_desc-pseudoonline_scores.tsv" for i in (1, 2)]
    for out in outs:
        run_pseudo_online(small_bids, "01", out, config=cfg)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    header = outs[0].read_text().splitlines()[0].split("\t")
    assert not set(TIMING_COLUMNS) & set(header)
    timing = pd.read_csv(timing_path(outs[0]), sep="\t")
    assert set(TIMING_COLUMNS) <= set(timing.columns) and len(timing) == len(pd.read_csv(outs[0], sep="\t"))


def test_offline_scores_byte_identical(small_bids, tmp_path):
    from brainpipe.bci.offline import run_offline

    cfg = {"pipelines": {"csp_lda": {}}, "n_splits": 2, "evaluations": ["within-session"]}
    outs = [tmp_path / f"run{i}" / "sub-01_task-imagery_desc-offline_scores.tsv" for i in (1, 2)]
    for out in outs:
        run_offline(small_bids, "01", out, config=cfg, seed=0)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert "time" not in outs[0].read_text().splitlines()[0].split("\t")
    timing = pd.read_csv(outs[0].with_name("sub-01_task-imagery_desc-offline_timing.tsv"), sep="\t")
    assert "time" in timing.columns


def test_sigterm_leaves_no_temporary_or_partial_file(small_bids, tmp_path):
    """A step stopped by SIGTERM (Snakemake, scancel, kill) unwinds: no .tmp file, no output."""
    import signal
    import time

    out = tmp_path / "out"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "brainpipe.cli", "preprocess-eeg", "--input", str(small_bids / f"{EEG}.vhdr"),
         "--output", str(out / "x_desc-preproc_eeg.fif"), "--events", str(out / "x_events.tsv"),
         "--fragment", str(out / "x_fragment.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.monotonic()
    while not (out.exists() and any(p.name.startswith(".tmp") for p in out.iterdir())):
        assert proc.poll() is None, "the step ended before writing"
        assert time.monotonic() - t0 < 120
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not any(out.rglob(".tmp*"))
    left = [p.name for p in out.rglob("*") if p.is_file()]
    assert not left, left  # all_or_nothing removed what the step had finished
