"""The simulated demo BIDS dataset: valid BIDS, deterministic, and real effects."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainpipe._check import BrainpipeInputError
from brainpipe.io.simulate import fmri, is_demo_dataset, load_atlas, simulate_dataset
from brainpipe.io.simulate.anat import ghosting_ratio
from brainpipe.io.simulate.atlas import NETWORKS
from brainpipe.io.simulate.eeg import EEG_CHANNELS, EVENT_ID

# ---------------------------------------------------------------- helpers


def _tree_hash(root):
    """{relative path: sha256} of every file under ``root``."""
    root = Path(root)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _validator():
    """Path of a runnable ``bids-validator-deno``, or None."""
    exe = shutil.which("bids-validator-deno") or str(Path(sys.executable).with_name("bids-validator-deno"))
    if not Path(exe).exists():
        return None
    try:
        ok = subprocess.run([exe, "--version"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    return exe if ok else None


# ---------------------------------------------------------------- whole dataset


def test_official_bids_validator_passes(tiny_demo):
    exe = _validator()
    if exe is None:
        pytest.skip("bids-validator-deno is not installed or cannot run here")
    res = subprocess.run([exe, str(tiny_demo)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "[ERROR]" not in res.stdout


SMALL = {
    "n_subjects": 3,
    "n_eeg_subjects": 1,
    "n_sessions": 2,
    "n_runs": 1,
    "trials_per_class": 3,
    "n_volumes": 20,
}


def test_same_seed_same_bytes(tmp_path):
    first = _tree_hash(simulate_dataset(tmp_path / "first", seed=11, **SMALL))
    second = _tree_hash(simulate_dataset(tmp_path / "second", seed=11, **SMALL))
    assert len(first) > 40 and any(k.endswith("_eeg.eeg") for k in first)
    assert first == second
    # and the seed matters, for every data file
    other = _tree_hash(simulate_dataset(tmp_path / "other", seed=12, **SMALL))
    for key in first:
        if key.endswith((".nii.gz", ".eeg")) and "atlas" not in key:
            assert other[key] != first[key], key


def test_layout_participants_and_truth(tiny_demo, tiny_demo_params):
    n = tiny_demo_params["n_subjects"]
    desc = json.loads((tiny_demo / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw" and desc["BIDSVersion"]
    assert (tiny_demo / "README").read_text().startswith("brainpipe simulated demo dataset")
    parts = pd.read_csv(tiny_demo / "participants.tsv", sep="\t")
    assert list(parts.columns) == ["participant_id", "age", "sex", "site"]
    assert list(parts.participant_id) == [f"sub-{i:02d}" for i in range(1, n + 1)]
    assert parts.age.between(18, 80).all() and parts.age.max() - parts.age.min() > 30
    assert set(parts.sex) == {"M", "F"} and set(parts.site) <= {"A", "B", "C"}
    pj = json.loads((tiny_demo / "participants.json").read_text())
    assert set(pj) == set(parts.columns) and pj["age"]["Units"] == "year"
    for sub in parts.participant_id:
        assert (tiny_demo / sub / "anat" / f"{sub}_T1w.nii.gz").is_file()
        assert (tiny_demo / sub / "func" / f"{sub}_task-rest_bold.nii.gz").is_file()
    truth = pd.read_csv(tiny_demo / "derivatives" / "simulation" / "truth.tsv", sep="\t")
    assert list(truth.participant_id) == list(parts.participant_id)
    assert (truth.age == parts.age).all()
    assert truth.eeg_erd_strength.notna().sum() == tiny_demo_params["n_eeg_subjects"]
    assert 1 <= truth.t1_motion_artifact.sum() < n
    assert is_demo_dataset(tiny_demo)
    for sub_folder in ("atlas", "confounds", "simulation"):
        d = json.loads((tiny_demo / "derivatives" / sub_folder / "dataset_description.json").read_text())
        assert d["DatasetType"] == "derivative" and d["GeneratedBy"][0]["Name"] == "brainpipe"


# ---------------------------------------------------------------- EEG


def _eeg_runs(root, params):
    from mne_bids import BIDSPath

    for sub in range(1, params["n_eeg_subjects"] + 1):
        for ses in range(1, params["n_sessions"] + 1):
            for run in range(1, params["n_runs"] + 1):
                yield sub, ses, BIDSPath(
                    subject=f"{sub:02d}", session=str(ses), task="imagery", run=run, datatype="eeg", root=root
                )


# mne-bids warns that participants.tsv's "site" column has no MNE equivalent
pytestmark = pytest.mark.filterwarnings("ignore:Unable to map the following column:RuntimeWarning")


def test_eeg_reads_back_with_events_and_montage(tiny_demo, tiny_demo_params):
    from mne_bids import read_raw_bids

    runs = list(_eeg_runs(tiny_demo, tiny_demo_params))
    assert len(runs) == 2 * 2 * 2
    for _, _, bp in runs:
        raw = read_raw_bids(bp, verbose=False)
        assert raw.ch_names == list(EEG_CHANNELS)
        assert raw.info["sfreq"] == 250.0 and raw.info["line_freq"] == 50.0
        pos = raw.get_montage().get_positions()["ch_pos"]
        assert set(pos) == set(EEG_CHANNELS) and np.isfinite(np.array(list(pos.values()))).all()
        ann = raw.annotations
        counts = pd.Series(ann.description).value_counts()
        assert counts.to_dict() == {"left_hand": 15, "right_hand": 15}
        assert np.allclose(ann.duration, 4.0)
        # idle stretches of 2-5 s between the end of imagery and the next cue
        gaps = np.diff(ann.onset) - 4.0
        assert gaps.min() >= 2.0 - 1e-6 and gaps.max() <= 5.0 + 1e-6
        assert ann.onset[-1] + 4.0 < raw.times[-1]
        events = pd.read_csv(bp.copy().update(suffix="events", extension=".tsv").fpath, sep="\t")
        assert set(zip(events.trial_type, events.value)) == set(EVENT_ID.items())
        sidecar = json.loads(bp.copy().update(suffix="eeg", extension=".json").fpath.read_text())
        assert sidecar["PowerLineFrequency"] == 50 and sidecar["EEGReference"]
        # microvolt-range EEG with 50 Hz line noise on top of a 1/f spectrum
        data = raw.get_data()
        assert 2e-6 < np.median(data.std(axis=1)) < 60e-6
        spec = np.abs(np.fft.rfft(data[:, :25000], axis=1)).mean(axis=0)
        freqs = np.fft.rfftfreq(25000, 1 / 250.0)
        line = spec[np.abs(freqs - 50) < 0.05].max()
        near = np.median(spec[(np.abs(freqs - 50) > 1) & (np.abs(freqs - 50) < 5)])
        assert line > 10 * near
        assert spec[(freqs > 2) & (freqs < 4)].mean() > 3 * spec[(freqs > 60) & (freqs < 100)].mean()


def _epochs(root, params, sub, ses):
    import mne
    from mne_bids import read_raw_bids

    X, y = [], []
    for s, e, bp in _eeg_runs(root, params):
        if (s, e) != (sub, ses):
            continue
        raw = read_raw_bids(bp, verbose=False).load_data(verbose=False)
        raw.filter(8.0, 30.0, verbose=False)
        events, event_id = mne.events_from_annotations(raw, event_id=EVENT_ID, verbose=False)
        ep = mne.Epochs(raw, events, event_id, tmin=0.5, tmax=3.5, baseline=None, preload=True, verbose=False)
        X.append(ep.get_data(copy=False))
        y.append(ep.events[:, 2])
    return np.concatenate(X), np.concatenate(y)


def test_motor_imagery_is_decodable_but_not_trivially(tiny_demo, tiny_demo_params):
    from mne.decoding import CSP
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    pipelines = {
        # rank="full": the simulated EEG is full rank, and it skips a slow rank estimate
        "csp_lda": make_pipeline(CSP(n_components=6, log=True, rank="full"), LinearDiscriminantAnalysis()),
        "ts_lr": make_pipeline(Covariances("oas"), TangentSpace(), LogisticRegression(max_iter=1000)),
    }
    scores = {name: [] for name in pipelines}
    for sub in (1, 2):
        for ses in (1, 2):
            X, y = _epochs(tiny_demo, tiny_demo_params, sub, ses)
            assert X.shape == (60, 22, 751)
            cv = StratifiedKFold(5, shuffle=True, random_state=0)
            for name, pipe in pipelines.items():
                scores[name].append(cross_val_score(pipe, X, y, cv=cv).mean())
    for name, s in scores.items():
        # 4 sessions x 60 trials: chance is 0.5 (p < 0.001 above ~0.59 on 240 trials)
        assert np.mean(s) > 0.68, (name, s)
        assert np.mean(s) < 0.99, (name, s)


# ---------------------------------------------------------------- fMRI and atlas


def test_bold_image_sidecar_and_confounds(tiny_demo, tiny_demo_params):
    atlas = load_atlas()
    n_vol = tiny_demo_params["n_volumes"]
    for sub in ("sub-01", "sub-08"):
        img = nib.load(tiny_demo / sub / "func" / f"{sub}_task-rest_bold.nii.gz")
        assert img.shape == atlas.labels.shape + (n_vol,)
        assert img.get_data_dtype() == np.int16
        assert img.header.get_zooms()[3] == pytest.approx(2.0)
        np.testing.assert_allclose(img.affine, atlas.affine)
        data = np.asarray(img.dataobj)
        brain = atlas.labels > 0
        assert (data[~brain] == 0).all() and (data[brain] > 0).all()
        side = json.loads((tiny_demo / sub / "func" / f"{sub}_task-rest_bold.json").read_text())
        assert side["RepetitionTime"] == 2.0 and side["TaskName"] == "rest"
        conf = pd.read_csv(
            tiny_demo / "derivatives" / "confounds" / sub / "func" / f"{sub}_task-rest_desc-confounds_timeseries.tsv",
            sep="\t",
        )
        assert list(conf.columns) == [
            "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
            "framewise_displacement", "global_signal", "csf", "white_matter",
        ]  # fmt: skip
        assert len(conf) == n_vol and np.isnan(conf.framewise_displacement[0])
        assert conf.iloc[1:].notna().all().all() and (conf.framewise_displacement[1:] >= 0).all()
        # the global signal column is the mean of the brain voxels
        gs = data[brain].reshape(-1, n_vol).mean(axis=0)
        np.testing.assert_allclose(conf.global_signal, gs, rtol=1e-6)


def test_atlas_files_match_the_simulation_grid(tiny_demo):
    folder = tiny_demo / "derivatives" / "atlas"
    img = nib.load(folder / "atlas-demo100_dseg.nii.gz")
    labels = np.asarray(img.dataobj)
    table = pd.read_csv(folder / "atlas-demo100_dseg.tsv", sep="\t")
    assert list(table.columns) == ["index", "name", "network"]
    assert list(table["index"]) == list(range(1, 101))
    assert set(np.unique(labels)) == set(range(0, 101))
    assert set(table.network) == set(NETWORKS) and table.name.is_unique
    atlas = load_atlas()
    np.testing.assert_array_equal(labels, atlas.labels)
    sizes = np.bincount(labels.ravel(), minlength=101)[1:]
    assert sizes.min() >= 20
    # right parcel 50 + k mirrors left parcel k (the template is symmetric)
    assert np.abs(sizes[:50] - sizes[50:]).max() <= 0.25 * sizes.max()
    assert list(table.network[:50]) == list(table.network[50:])


def test_fc_from_the_images_shows_the_networks(tiny_demo):
    from nilearn.maskers import NiftiLabelsMasker

    atlas = load_atlas()
    net = atlas.network_index
    same = np.equal.outer(net, net) & ~np.eye(net.size, dtype=bool)
    diff = ~np.equal.outer(net, net)
    masker = NiftiLabelsMasker(
        tiny_demo / "derivatives" / "atlas" / "atlas-demo100_dseg.nii.gz",
        standardize="zscore_sample",
        detrend=True,
    )
    for sub in ("sub-01", "sub-02"):
        conf = pd.read_csv(
            tiny_demo / "derivatives" / "confounds" / sub / "func" / f"{sub}_task-rest_desc-confounds_timeseries.tsv",
            sep="\t",
        )
        cols = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter"]
        ts = masker.fit_transform(tiny_demo / sub / "func" / f"{sub}_task-rest_bold.nii.gz", confounds=conf[cols].values)
        assert ts.shape == (60, 100)
        fc = np.corrcoef(ts.T)
        assert fc[same].mean() > fc[diff].mean() + 0.2


def _roi_fc_after_confound_regression(seed, index, age, sex, n_volumes, atlas):
    """The simulated voxel data of one subject reduced to FC (parcel means, confounds out)."""
    model = fmri.network_model(age, sex, np.random.default_rng([seed, index, 0]))
    roi = fmri.simulate_roi_timeseries(np.random.default_rng([seed, index, 1]), model, atlas.network_index, n_volumes, 2.0)
    data, conf, _ = fmri.simulate_bold_run(np.random.default_rng([seed, index, 2]), atlas, roi, tr=2.0)
    brain = atlas.labels > 0
    vox = data[brain].astype(float)  # (n_vox, n_volumes)
    labels = atlas.labels[brain] - 1
    means = np.stack([np.bincount(labels, weights=v, minlength=100) for v in vox.T]) / np.bincount(labels)
    nuis = conf[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter"]].to_numpy()
    design = np.column_stack([np.ones(n_volumes), np.linspace(-1, 1, n_volumes), nuis])
    resid = means - design @ np.linalg.lstsq(design, means, rcond=None)[0]
    fc = np.corrcoef(resid.T)
    return np.arctanh(np.clip(fc[np.triu_indices(100, 1)], -0.999, 0.999))


def test_age_is_recoverable_from_fc():
    """Ridge on FC upper triangles predicts age (cross-validated), as the demo promises."""
    from scipy.stats import pearsonr
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    atlas = load_atlas()
    rng = np.random.default_rng(7)
    n = 30
    ages = rng.uniform(18, 80, n)
    sexes = np.array(["F", "M"] * (n // 2))[rng.permutation(n)]
    X = np.array([_roi_fc_after_confound_regression(7, i, ages[i], sexes[i], 100, atlas) for i in range(n)])
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-1, 5, 13)), X, ages, cv=KFold(5, shuffle=True, random_state=0))
    r = pearsonr(pred, ages)[0]
    assert r > 0.4, r
    # the default-mode coupling is what carries it: it weakens with age
    dmn = np.flatnonzero(atlas.network_index == NETWORKS.index("Default"))
    pairs = np.triu_indices(100, 1)
    in_dmn = np.isin(pairs[0], dmn) & np.isin(pairs[1], dmn)
    assert pearsonr(X[:, in_dmn].mean(axis=1), ages)[0] < -0.5


def test_network_model_follows_its_demographic_effects():
    young = [fmri.network_model(20, "F", np.random.default_rng(i)) for i in range(20)]
    old = [fmri.network_model(78, "F", np.random.default_rng(i)) for i in range(20)]
    male = [fmri.network_model(49, "M", np.random.default_rng(i)) for i in range(20)]
    female = [fmri.network_model(49, "F", np.random.default_rng(i)) for i in range(20)]
    d, v, s = (NETWORKS.index(n) for n in ("Default", "Vis", "SomMot"))
    assert np.mean([m.loadings[d] for m in old]) < np.mean([m.loadings[d] for m in young]) - 0.08
    assert np.mean([m.coupling[v, s] for m in male]) > np.mean([m.coupling[v, s] for m in female]) + 0.1
    for m in young + old:
        assert np.allclose(np.diag(m.coupling), 1) and np.linalg.eigvalsh(m.coupling).min() > 0


def test_bold_noise_is_band_limited():
    x = fmri.bold_noise(np.random.default_rng(0), 2000, 2.0, 20)
    np.testing.assert_allclose(x.std(axis=0), 1.0)
    power = (np.abs(np.fft.rfft(x, axis=0)) ** 2).mean(axis=1)
    freqs = np.fft.rfftfreq(2000, 2.0)
    inside = power[(freqs > 0.02) & (freqs < 0.08)].mean()
    assert inside > 20 * power[freqs > 0.2].mean() and inside > 5 * power[(freqs > 0) & (freqs < 0.003)].mean()


def test_framewise_displacement_reference():
    params = np.zeros((3, 6))
    params[1] = [1.0, -1.0, 0.5, 0.0, 0.0, 0.0]
    params[2] = params[1] + [0.0, 0.0, 0.0, 0.01, 0.0, -0.02]
    fd = fmri.framewise_displacement(params)
    assert np.isnan(fd[0])
    np.testing.assert_allclose(fd[1:], [2.5, 50 * 0.03])


# ---------------------------------------------------------------- T1


def test_t1_images_and_motion_artefacts_are_distinguishable(tiny_demo):
    truth = pd.read_csv(tiny_demo / "derivatives" / "simulation" / "truth.tsv", sep="\t")
    ratios, noise = {}, {}
    for sub in truth.participant_id:
        img = nib.load(tiny_demo / sub / "anat" / f"{sub}_T1w.nii.gz")
        assert img.shape == (99, 117, 95) and img.get_data_dtype() == np.int16
        data = np.asarray(img.dataobj)
        ratios[sub] = ghosting_ratio(data)
        noise[sub] = data[:8, :, :8].std()  # a corner of air: Rician noise only
    art = truth.set_index("participant_id").t1_motion_artifact
    moved = [ratios[s] for s in art.index[art == 1]]
    still = [ratios[s] for s in art.index[art == 0]]
    assert min(moved) > 1.1 > max(still), (moved, still)
    # the background noise follows the simulated noise level
    from scipy.stats import spearmanr

    level = truth.set_index("participant_id").t1_noise_level
    assert spearmanr([noise[s] for s in level.index], level.to_numpy())[0] > 0.8


# ---------------------------------------------------------------- arguments and folders


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_subjects": 0}, ValueError, "n_subjects"),
        ({"n_subjects": 2, "n_eeg_subjects": 3}, ValueError, "n_eeg_subjects"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, ValueError, "seed"),
        ({"tr": 0}, ValueError, "tr"),
        ({"line_freq": 55}, ValueError, "line_freq"),
        ({"sfreq": 100.0}, ValueError, "sfreq"),
        ({"idle_seconds": (5, 2)}, ValueError, "idle_seconds"),
        ({"idle_seconds": 3}, ValueError, "idle_seconds"),
        ({"n_volumes": 5}, ValueError, "n_volumes"),
        ({"trials_per_class": 0}, ValueError, "trials_per_class"),
    ],
)
def test_bad_arguments_are_refused_clearly(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate_dataset(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_output_folder_rules(tmp_path, monkeypatch):
    small = {"n_subjects": 2, "n_eeg_subjects": 0, "n_volumes": 20}
    with pytest.raises(TypeError, match="output"):
        simulate_dataset(3, **small)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    with pytest.raises(BrainpipeInputError, match="not empty"):
        simulate_dataset(busy, **small)
    assert (busy / "thesis.tex").read_text() == "precious" and len(list(busy.iterdir())) == 1
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(BrainpipeInputError, match="not a folder"):
        simulate_dataset(afile, **small)

    # a folder of empty folders (what Snakemake pre-creates) is fine, and a
    # previous demo is replaced cleanly
    out = tmp_path / "demo"
    (out / "sub-01" / "func").mkdir(parents=True)
    simulate_dataset(out, seed=3, **small)
    (out / "sub-01" / "stray.txt").write_text("from an older version")
    simulate_dataset(out, seed=4, **small)
    meta = json.loads((out / "derivatives" / "simulation" / "simulation.json").read_text())
    assert meta["Parameters"]["seed"] == 4 and not (out / "sub-01" / "stray.txt").exists()
    # still recognised when the marker is gone (e.g. a workflow deleted some files)
    (out / "derivatives" / "simulation" / "simulation.json").unlink()
    assert is_demo_dataset(out)
    simulate_dataset(out, seed=4, **small)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "demo", "file"]

    # a crash half-way leaves the previous dataset untouched and no debris
    before = _tree_hash(out)
    from brainpipe.io.simulate import writers

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(writers, "write_fmri", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        simulate_dataset(out, seed=5, **small)
    with pytest.raises(RuntimeError, match="simulated crash"):
        simulate_dataset(tmp_path / "fresh", seed=5, **small)
    assert _tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "demo", "file"]
