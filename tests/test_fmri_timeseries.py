"""Regional time series extraction on small hand-made NIfTIs with known signals."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, filtfilt

from brainpipe._check import BrainpipeInputError
from brainpipe.fmri import extract_timeseries, read_timeseries
from brainpipe.io.atomic import sidecar_path
from brainpipe.report.fragments import read_fragment

TR = 2.0
N_VOL = 150
SHAPE = (8, 6, 4)
AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])
NAMES = ["A_vis", "B_vis", "C_dmn", "D_dmn"]


def _bandlimited(rng, n, tr=TR):
    b, a = butter(2, [0.015, 0.09], btype="band", fs=1 / tr)
    return filtfilt(b, a, rng.standard_normal(n + 100))[50:-50]


@pytest.fixture
def synth(tmp_path):
    """4 block regions; each voxel = its region's signal + small voxel noise.

    Regions A and B share a latent signal, so do C and D; region C (and the
    voxels of C only) are contaminated by a 'motion' regressor that is also
    written as the confound ``trans_x``.
    """
    rng = np.random.default_rng(0)
    lat1, lat2 = _bandlimited(rng, N_VOL), _bandlimited(rng, N_VOL)
    own = [_bandlimited(rng, N_VOL) for _ in range(4)]
    roi = np.stack([lat1 + 0.5 * own[0], lat1 + 0.5 * own[1],
                    lat2 + 0.5 * own[2], lat2 + 0.5 * own[3]])
    roi /= roi.std(axis=1, keepdims=True)
    motion = np.cumsum(rng.standard_normal(N_VOL)) * 0.3
    atlas = np.zeros(SHAPE, dtype=np.int16)
    atlas[1:4, 1:3, :] = 1
    atlas[4:7, 1:3, :] = 2
    atlas[1:4, 3:5, :] = 3
    atlas[4:7, 3:5, :] = 4
    data = np.zeros(SHAPE + (N_VOL,))
    for k in range(4):
        data[atlas == k + 1] = 100 + roi[k] + 0.2 * rng.standard_normal(((atlas == k + 1).sum(), N_VOL))
    data[atlas == 3] += 3.0 * motion  # a confound the cleaning must remove
    data[atlas == 0] = 100 + rng.standard_normal(((atlas == 0).sum(), N_VOL))
    bold = tmp_path / "sub-01_task-rest_bold.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.float32), AFFINE), bold)
    bold.with_name("sub-01_task-rest_bold.json").write_text(json.dumps({"RepetitionTime": TR}))
    atlas_path = tmp_path / "atlas-test_dseg.nii.gz"
    nib.save(nib.Nifti1Image(atlas, AFFINE), atlas_path)
    labels = tmp_path / "atlas-test_dseg.tsv"
    pd.DataFrame({"index": [1, 2, 3, 4], "name": NAMES,
                  "network": ["Vis", "Vis", "Default", "Default"]}).to_csv(labels, sep="\t", index=False)
    conf = pd.DataFrame({c: 0.01 * rng.standard_normal(N_VOL)
                         for c in ["trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf",
                                   "white_matter", "global_signal"]})
    conf.insert(0, "trans_x", motion)
    fd = np.r_[np.nan, np.abs(np.diff(motion))]
    conf["framewise_displacement"] = fd
    conf_path = tmp_path / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    conf.to_csv(conf_path, sep="\t", index=False, na_rep="n/a")
    return dict(bold=bold, atlas=atlas_path, labels=labels, confounds=conf_path, roi=roi,
                motion=motion, tmp=tmp_path)


def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


def _assert_own_region(ts, roi):
    r = np.corrcoef(ts.to_numpy().T, roi)[:4, 4:]
    assert (r.argmax(axis=1) == np.arange(4)).all(), r
    assert np.diag(r).min() > 0.75, r


def test_regions_in_label_order_and_confound_removed(synth):
    out = synth["tmp"] / "ts.tsv"
    fig = synth["tmp"] / "carpet.png"
    frag = synth["tmp"] / "frag.json"
    ts = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out,
                            confounds=synth["confounds"], figure=fig, fragment=frag)
    assert list(ts.columns) == NAMES
    assert ts.shape == (N_VOL, 4)
    # z-scored (sample SD)
    np.testing.assert_allclose(ts.mean(), 0, atol=1e-10)
    np.testing.assert_allclose(ts.std(ddof=1), 1, atol=1e-10)
    # each column is its own region's signal (the band-pass keeps the band-limited truth)
    _assert_own_region(ts, synth["roi"])
    # the motion confound was regressed out of region C
    assert abs(_corr(ts["C_dmn"], synth["motion"])) < 0.1
    back = read_timeseries(out)
    np.testing.assert_allclose(back.to_numpy(), ts.to_numpy(), rtol=1e-6, atol=1e-6)
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["RepetitionTime"] == TR
    assert str(synth["bold"]) in meta["Sources"]
    assert meta["ConfoundColumns"][:6] == ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    assert fig.stat().st_size > 10_000
    section = read_fragment(frag)
    assert section["section"] == "fMRI"
    assert any(item["kind"] == "image" for item in section["items"])


def test_without_confounds_motion_stays(synth):
    out = synth["tmp"] / "ts.tsv"
    raw = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out)
    clean = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out,
                               confounds=synth["confounds"])
    truth = synth["roi"][2]
    assert _corr(raw["C_dmn"], truth) < _corr(clean["C_dmn"], truth) - 0.2
    # regions without the artefact are nearly unchanged by the regression
    assert abs(_corr(raw["A_vis"], truth) - _corr(clean["A_vis"], truth)) < 0.1


def test_confound_patterns_and_strategy(synth):
    out = synth["tmp"] / "ts.tsv"
    extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out,
                       confounds=synth["confounds"], confound_columns=["trans_*", "rot_?"])
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["ConfoundColumns"] == ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    # nilearn's fMRIPrep loader on our file ("simple": motion + wm/csf, high-pass absent)
    ts = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out,
                            confounds=synth["confounds"], confound_strategy="simple",
                            confound_options={"motion": "basic"})
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["ConfoundStrategy"] == "simple"
    assert "trans_x" in meta["ConfoundColumns"] and "csf" in meta["ConfoundColumns"]
    assert abs(_corr(ts["C_dmn"], synth["motion"])) < 0.1


def test_scrubbing_strategy_censors_high_motion_volumes(synth):
    conf = pd.read_csv(synth["confounds"], sep="\t")
    conf.loc[[40, 90], "framewise_displacement"] = 2.0  # two big jumps
    conf["std_dvars"] = 1.0
    conf.to_csv(synth["confounds"], sep="\t", index=False, na_rep="n/a")
    out = synth["tmp"] / "ts.tsv"
    ts = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out,
                            confounds=synth["confounds"], confound_strategy="scrubbing",
                            confound_options={"fd_threshold": 0.5, "std_dvars_threshold": 3,
                                              "motion": "basic", "wm_csf": "basic",
                                              "scrub": 0})
    meta = json.loads(sidecar_path(out).read_text())
    assert 40 in meta["CensoredVolumes"] and 90 in meta["CensoredVolumes"]
    assert len(ts) == N_VOL - len(meta["CensoredVolumes"]) == meta["NumberOfKeptVolumes"]


def test_atlas_on_another_grid_is_resampled(synth, tmp_path):
    atlas = nib.load(synth["atlas"])
    data = np.asarray(atlas.dataobj)
    fine = np.repeat(np.repeat(np.repeat(data, 2, 0), 2, 1), 2, 2)
    # 2 mm voxels covering the same space (voxel centres shifted by half a voxel)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = -1.0
    path = tmp_path / "fine_dseg.nii.gz"
    nib.save(nib.Nifti1Image(fine, aff), path)
    out = tmp_path / "ts.tsv"
    ts = extract_timeseries(synth["bold"], path, synth["labels"], out,
                            confounds=synth["confounds"])
    assert json.loads(sidecar_path(out).read_text())["AtlasResampledToBold"] is True
    _assert_own_region(ts, synth["roi"])


@pytest.mark.parametrize("problem", ["3d", "no_tr", "rows", "nan_conf", "nan_bold", "labels",
                                     "no_overlap"])
def test_bad_input_names_file_and_leaves_nothing(synth, problem):
    tmp = synth["tmp"]
    bold, atlas, labels, conf = synth["bold"], synth["atlas"], synth["labels"], synth["confounds"]
    if problem == "3d":
        bold = tmp / "three_d.nii.gz"
        nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), bold)
        match = "must be 4D"
    elif problem == "no_tr":
        synth["bold"].with_name("sub-01_task-rest_bold.json").write_text("{}")
        match = "RepetitionTime"
    elif problem == "rows":
        pd.read_csv(conf, sep="\t").iloc[:-5].to_csv(conf, sep="\t", index=False, na_rep="n/a")
        match = f"145 rows but the BOLD image has {N_VOL} volumes"
    elif problem == "nan_conf":
        df = pd.read_csv(conf, sep="\t")
        df.loc[50, "csf"] = np.nan
        df.to_csv(conf, sep="\t", index=False, na_rep="n/a")
        match = "'csf' has n/a"
    elif problem == "nan_bold":
        img = nib.load(bold)
        data = img.get_fdata()
        data[2, 2, 1, 10] = np.nan
        nib.save(nib.Nifti1Image(data.astype(np.float32), AFFINE), bold)
        match = "NaN"
    elif problem == "labels":
        pd.DataFrame({"index": [1, 2, 3], "name": NAMES[:3]}).to_csv(labels, sep="\t", index=False)
        match = "missing from the label table"
    elif problem == "no_overlap":
        img = nib.load(atlas)
        aff = img.affine.copy()
        aff[:3, 3] += 500.0
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff), atlas)
        match = "vanish on the BOLD grid"
    out = tmp / "out_ts.tsv"
    fig = tmp / "out.png"
    with pytest.raises(BrainpipeInputError, match=match):
        extract_timeseries(bold, atlas, labels, out, confounds=conf, figure=fig)
    assert not out.exists() and not fig.exists() and not sidecar_path(out).exists()


def test_explicit_tr_and_bad_band(synth):
    synth["bold"].with_name("sub-01_task-rest_bold.json").unlink()
    out = synth["tmp"] / "ts.tsv"
    with pytest.raises(BrainpipeInputError, match="sidecar"):
        extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out)
    ts = extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out, tr=TR)
    assert ts.shape == (N_VOL, 4)
    with pytest.raises(ValueError, match="must lie in"):
        extract_timeseries(synth["bold"], synth["atlas"], synth["labels"], out, tr=TR,
                           low_pass=0.3)
