"""T1w QC end to end: a head phantom with known tissues, motion ghosts, real T1."""

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainpipe._check import BrainpipeInputError
from brainpipe.io.atomic import sidecar_path
from brainpipe.mri import compute_iqms, t1_qc
from brainpipe.report.fragments import read_fragment

SHAPE = (64, 72, 60)
ZOOMS = (2.0, 2.0, 2.0)


def _phantom(rng, noise=20.0, ghosts=False):
    """Ellipsoidal head: WM core, GM shell, CSF ventricles, dark skull, bright scalp.

    Returns the magnitude image (Rician noise) and the true brain, GM, WM masks.
    """
    grid = np.indices(SHAPE).astype(float)
    centre = np.array(SHAPE)[:, None, None, None] / 2
    radii = np.array([22.0, 27.0, 21.0])[:, None, None, None]
    r = np.sqrt((((grid - centre) / radii) ** 2).sum(axis=0))  # 1 at the brain surface
    img = np.zeros(SHAPE)
    brain = r <= 1.0
    wm = r <= 0.75
    vent = (np.abs(grid[0] - centre[0]) < 6) & (np.abs(grid[1] - centre[1]) < 12) \
        & (np.abs(grid[2] - centre[2]) < 6)
    img[brain] = 550.0           # GM
    img[wm] = 800.0              # WM
    img[vent] = 250.0            # CSF
    img[(r > 0.93) & brain] = 250.0  # CSF around the cortex
    img[(r > 1.0) & (r <= 1.08)] = 120.0   # CSF + skull (dark)
    img[(r > 1.08) & (r <= 1.18)] = 700.0  # scalp (bright)
    img *= 1 + 0.05 * rng.standard_normal(SHAPE)  # tissue texture
    if ghosts:
        spec = np.fft.fft(img, axis=1)
        k = np.fft.fftfreq(SHAPE[1])
        moved = rng.random(SHAPE[1]) < 0.3
        shift = np.where(moved, rng.uniform(1.0, 3.0, SHAPE[1]), 0.0)
        spec *= np.exp(-2j * np.pi * k * shift)[None, :, None]
        img = np.abs(np.fft.ifft(spec, axis=1))
    mag = np.abs(img + rng.normal(0, noise, SHAPE) + 1j * rng.normal(0, noise, SHAPE))
    # the mask covers the parenchyma and what it encloses, not the outer CSF
    brain = r <= 0.93
    gm = brain & ~wm & ~vent
    return mag, brain, gm, wm & ~vent


def _save(tmp_path, data, name="sub-01_T1w.nii.gz", meta=None):
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.diag(list(ZOOMS) + [1.0])), path)
    if meta is not None:
        path.with_name(name.replace(".nii.gz", ".json")).write_text(json.dumps(meta))
    return path


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_phantom_masks_and_metrics():
    rng = np.random.default_rng(0)
    data, brain, gm, wm = _phantom(rng)
    m, masks = compute_iqms(data, ZOOMS)
    # skull stripping keeps the brain and drops the bright scalp
    assert _dice(masks["brain"], brain) > 0.93
    seg = masks["seg"]
    assert (seg[wm & masks["brain"]] == 3).mean() > 0.95
    assert (seg[gm & masks["brain"]] == 2).mean() > 0.85
    # known answers: SNRd = mu / noise scale; CNR vs tissue + air noise
    assert m["snrd_wm"] == pytest.approx(800 / 20, rel=0.1)
    assert m["snr_wm"] == pytest.approx(800 / np.hypot(40, 20), rel=0.15)
    assert 3 < m["cnr"] < 6
    assert m["brain_volume_ml"] == pytest.approx(brain.sum() * 8 / 1000, rel=0.07)
    assert m["qi_1"] < 0.001 and abs(m["motion_score"]) < 0.005


def test_motion_ghosts_raise_the_motion_score():
    clean = [compute_iqms(_phantom(np.random.default_rng(s))[0], ZOOMS)[0] for s in (1, 2)]
    moved = [compute_iqms(_phantom(np.random.default_rng(s), ghosts=True)[0], ZOOMS)[0]
             for s in (1, 2)]
    assert max(c["motion_score"] for c in clean) < 0.005
    assert min(m["motion_score"] for m in moved) > 0.01
    # the phase-encode axis (1) carries the ghosts
    for m in moved:
        assert m["gsr_y"] == m["motion_score"] > max(m["gsr_x"], m["gsr_z"])
    assert min(m["efc"] for m in moved) > max(c["efc"] for c in clean)


def test_t1_qc_files(tmp_path):
    data = _phantom(np.random.default_rng(3), ghosts=True)[0]
    t1 = _save(tmp_path, data, meta={"PhaseEncodingDirection": "j"})
    mask, tsv = tmp_path / "sub-01_desc-brain_mask.nii.gz", tmp_path / "sub-01_iqms.tsv"
    dseg = tmp_path / "sub-01_dseg.nii.gz"
    fig, bg, frag = tmp_path / "m.png", tmp_path / "bg.png", tmp_path / "f.json"
    metrics = t1_qc(t1, mask, tsv, out_dseg=dseg, figure=fig, figure_background=bg,
                    fragment=frag)
    row = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
    assert len(row) == 1 and row.loc[0, "source"] == "sub-01_T1w.nii.gz"
    for key in ("snr_total", "snrd_total", "cnr", "cjv", "efc", "fber", "qi_1", "wm2max",
                "motion_score"):
        assert row.loc[0, key] == pytest.approx(metrics[key])
    assert json.loads(sidecar_path(tsv).read_text())["PhaseEncodingAxis"] == "y"
    assert metrics["motion_score"] == metrics["gsr_y"]
    m = nib.load(mask)
    assert m.shape == SHAPE and set(np.unique(m.get_fdata())) == {0.0, 1.0}
    assert set(np.unique(nib.load(dseg).get_fdata())) == {0.0, 1.0, 2.0, 3.0}
    assert fig.stat().st_size > 10_000 and bg.stat().st_size > 5_000
    f = read_fragment(frag)
    assert f["section"] == "Structural MRI" and len(f["items"]) == 4


@pytest.mark.parametrize("problem, match", [
    ("4d", "must be 3D"), ("nan", "NaN"), ("constant", "constant"), ("missing", "does not exist"),
])
def test_t1_qc_bad_input(tmp_path, problem, match):
    if problem == "4d":
        t1 = _save(tmp_path, np.ones((20, 20, 20, 3)))
    elif problem == "nan":
        data = _phantom(np.random.default_rng(4))[0]
        data[3, 3, 3] = np.nan
        t1 = _save(tmp_path, data)
    elif problem == "constant":
        t1 = _save(tmp_path, np.full((30, 30, 30), 5.0))
    else:
        t1 = tmp_path / "nope_T1w.nii.gz"
    mask, tsv = tmp_path / "mask.nii.gz", tmp_path / "iqm.tsv"
    with pytest.raises(BrainpipeInputError, match=match):
        t1_qc(t1, mask, tsv)
    assert not mask.exists() and not tsv.exists()


# --- real data: Colin27 (one person, 27 averaged scans) ---------------------

CACHE = Path.home() / ".cache" / "brainpipe-test-data"


def _colin27():
    base = CACHE / "mricron-data" / "usr" / "share" / "mricron" / "templates"
    if (base / "ch2.nii.gz").exists() and (base / "ch2bet.nii.gz").exists():
        return base
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("Colin27 needs apt-get and dpkg (Debian's mricron-data)")
    dl = CACHE / "debs"
    dl.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", "mricron-data"], cwd=dl,
                          capture_output=True, text=True, timeout=300)
    debs = sorted(dl.glob("mricron-data_*.deb"))
    if proc.returncode or not debs:
        pytest.skip(f"cannot fetch mricron-data with apt-get: {proc.stderr[-300:]}")
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(CACHE / "mricron-data")], check=True,
                   timeout=300)
    return base


@pytest.mark.network
def test_colin27_metrics_in_published_ranges(tmp_path):
    base = _colin27()
    img = nib.load(base / "ch2.nii.gz")
    ref = np.asarray(nib.load(base / "ch2bet.nii.gz").dataobj) > 0
    # 2 mm (2x2x2 block means) keeps the test fast; the metrics are ratios
    data = img.get_fdata()[:180, :216, :180]
    data = data.reshape(90, 2, 108, 2, 90, 2).mean(axis=(1, 3, 5))
    ref = ref[:180, :216, :180].reshape(90, 2, 108, 2, 90, 2).mean(axis=(1, 3, 5)) > 0.5
    aff = img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    t1 = tmp_path / "colin27_T1w.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.float32), aff), t1)
    mask = tmp_path / "colin27_desc-brain_mask.nii.gz"
    m = t1_qc(t1, mask, tmp_path / "colin27_iqms.tsv")
    brain = np.asarray(nib.load(mask).dataobj) > 0
    # our skull stripping agrees with the brain-extracted Colin27 that ships with it
    assert _dice(brain, ref) > 0.9
    assert 1200 < m["brain_volume_ml"] < 2000
    # good T1w ranges (MRIQC on ABIDE/DS030, Esteban et al. 2017): CJV ~0.3-0.6,
    # CNR ~1.5-4, EFC ~0.4-0.7, WM SNR > 10
    assert 0.25 < m["cjv"] < 0.6
    assert 1.5 < m["cnr"] < 5
    assert 0.35 < m["efc"] < 0.75
    assert m["snr_wm"] > 10
    # the provider zeroed the air, so air-based metrics are reported as missing
    assert np.isnan(m["fber"]) and np.isnan(m["qi_1"])
