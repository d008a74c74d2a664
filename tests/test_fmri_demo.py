"""fMRI and T1w stages on the simulated demo dataset (real effects, real files)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainpipe.fmri import extract_timeseries, group_connectivity, relmat_name, subject_connectivity
from brainpipe.mri import compute_iqms, load_t1


@pytest.fixture(scope="module")
def demo(request, tmp_path_factory):
    """The shared ``tiny_demo`` dataset if conftest provides it, else a small one."""
    try:
        root = request.getfixturevalue("tiny_demo")
    except pytest.FixtureLookupError:
        from brainpipe.io.simulate.dataset import simulate_dataset

        root = tmp_path_factory.mktemp("demo") / "demo"
        simulate_dataset(root, seed=0, n_subjects=6, n_eeg_subjects=0)
    return root if isinstance(root, Path) else Path(getattr(root, "root", root))


def _paths(root, sub):
    return (root / sub / "func" / f"{sub}_task-rest_bold.nii.gz",
            root / "derivatives" / "confounds" / sub / "func"
            / f"{sub}_task-rest_desc-confounds_timeseries.tsv")


def test_demo_fc_shows_the_simulated_networks(demo, tmp_path):
    atlas = demo / "derivatives" / "atlas" / "atlas-demo100_dseg.nii.gz"
    labels = demo / "derivatives" / "atlas" / "atlas-demo100_dseg.tsv"
    nets = pd.read_csv(labels, sep="\t").set_index("name")["network"]
    subs = sorted(p.name for p in demo.glob("sub-*") if (p / "func").exists())[:3]
    tss = []
    for sub in subs:
        bold, conf = _paths(demo, sub)
        ts_path = tmp_path / f"{sub}_task-rest_atlas-demo100_timeseries.tsv"
        ts = extract_timeseries(bold, atlas, labels, ts_path, confounds=conf)
        assert ts.shape[1] == 100 and len(ts) >= 20
        tss.append(ts_path)
    prefix = f"{subs[0]}_task-rest_atlas-demo100"
    out = {"correlation": tmp_path / relmat_name(prefix, "correlation")}
    fc = subject_connectivity(tss[0], out)["correlation"]
    same = np.equal.outer(nets[fc.index].to_numpy(), nets[fc.columns].to_numpy())
    off = ~np.eye(len(fc), dtype=bool)
    within = fc.to_numpy()[same & off].mean()
    between = fc.to_numpy()[~same].mean()
    assert within > between + 0.15, (within, between)
    mats, mean = group_connectivity(tss, [tmp_path / f"{s}_tangent.tsv" for s in subs],
                                    tmp_path / "mean.tsv")
    assert mats.shape == (3, 100, 100) and np.linalg.eigvalsh(mean).min() > 0


def test_demo_motion_score_separates_motion_subjects(demo):
    truth = pd.read_csv(demo / "derivatives" / "simulation" / "truth.tsv", sep="\t")
    truth = truth.set_index("participant_id")
    moved = truth.index[truth["t1_motion_artifact"] == 1]
    still = truth.index[truth["t1_motion_artifact"] == 0]
    if len(moved) == 0 or len(still) == 0:
        pytest.skip("the demo has no T1 with (or without) a motion artefact")
    scores = {}
    for sub in [moved[0], still[0], still[-1]]:
        img, data = load_t1(demo / sub / "anat" / f"{sub}_T1w.nii.gz")
        m, _ = compute_iqms(data, img.header.get_zooms()[:3])
        assert 1300 < m["brain_volume_ml"] < 2100
        assert 1.5 < m["cnr"] < 5 and 0.3 < m["efc"] < 0.7
        scores[sub] = m["motion_score"]
    assert scores[moved[0]] > 0.01 > max(scores[still[0]], scores[still[-1]])
