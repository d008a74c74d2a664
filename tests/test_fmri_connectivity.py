"""Connectivity matrices: reference values, file layout, tangent space, real data."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainpipe._check import BrainpipeInputError
from brainpipe.fmri import (
    connectivity,
    group_connectivity,
    read_relmat,
    relmat_name,
    subject_connectivity,
)
from brainpipe.io.atomic import sidecar_path
from brainpipe.report.fragments import read_fragment

NAMES = [f"R{i}" for i in range(6)]
NETS = ["Vis", "Vis", "Vis", "Default", "Default", "Cont"]


def _series(rng, n=200, coupling=0.7):
    """6 regions: 0-2 share one latent, 3-4 another, 5 is independent."""
    lat = rng.standard_normal((n, 2))
    x = rng.standard_normal((n, 6))
    x[:, :3] += coupling * lat[:, [0]] * 2
    x[:, 3:5] += coupling * lat[:, [1]] * 2
    return x


def _write_ts(path, x):
    pd.DataFrame(x, columns=NAMES).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "dseg.tsv"
    pd.DataFrame({"index": range(1, 7), "name": NAMES, "network": NETS}).to_csv(
        path, sep="\t", index=False)
    return path


def test_relmat_name_is_xcpd_style():
    assert relmat_name("sub-01_task-rest_atlas-demo100", "correlation") == (
        "sub-01_task-rest_atlas-demo100_stat-pearsoncorrelation_relmat.tsv")
    assert relmat_name("p", "tangent") == "p_stat-tangent_relmat.tsv"
    with pytest.raises(ValueError, match="'kind' parameter"):
        relmat_name("p", "coherence")


def test_correlation_is_pearson_and_partial_matches_precision():
    x = _series(np.random.default_rng(1))
    corr, _ = connectivity([x], "correlation")
    np.testing.assert_allclose(corr[0], np.corrcoef(x.T), atol=1e-12)
    # partial correlation = -P_ij / sqrt(P_ii P_jj) of the precision matrix
    part, _ = connectivity([x], "partial correlation", cov_estimator="empirical")
    prec = np.linalg.inv(np.cov(x.T))
    d = np.sqrt(np.diag(prec))
    ref = -prec / np.outer(d, d)
    np.fill_diagonal(ref, 1.0)
    np.testing.assert_allclose(part[0], ref, atol=1e-10)
    for m in (corr[0], part[0]):
        np.testing.assert_array_equal(m, m.T)
        np.testing.assert_array_equal(np.diag(m), 1.0)


def test_subject_connectivity_files(tmp_path, labels):
    x = _series(np.random.default_rng(2))
    ts = _write_ts(tmp_path / "sub-01_timeseries.tsv", x)
    outs = {k: tmp_path / relmat_name("sub-01_task-rest_atlas-t", k)
            for k in ("correlation", "partial correlation")}
    fig, frag = tmp_path / "fc.png", tmp_path / "fc_fragment.json"
    res = subject_connectivity(ts, outs, atlas_labels=labels, figure=fig, fragment=frag)
    # XCP-D layout: first header cell "Node", then the region names
    first = outs["correlation"].read_text().splitlines()[0].split("\t")
    assert first == ["Node"] + NAMES
    back = read_relmat(outs["correlation"])
    np.testing.assert_allclose(back.to_numpy(), np.corrcoef(x.T), atol=1e-12)
    assert list(back.index) == NAMES and list(back.columns) == NAMES
    np.testing.assert_allclose(read_relmat(outs["partial correlation"]).to_numpy(),
                               res["partial correlation"].to_numpy())
    meta = json.loads(sidecar_path(outs["partial correlation"]).read_text())
    assert meta["Sources"] == [str(ts)] and meta["CovarianceEstimator"] == "ledoit_wolf"
    # the within-network blocks carry the coupling
    c = back.to_numpy()
    assert c[0, 1] > 0.5 and c[3, 4] > 0.5 and abs(c[0, 5]) < 0.2
    assert fig.stat().st_size > 10_000
    assert read_fragment(frag)["section"] == "fMRI"


def test_subject_connectivity_bad_input(tmp_path):
    ts = tmp_path / "ts.tsv"
    x = _series(np.random.default_rng(3))
    df = pd.DataFrame(x, columns=NAMES)
    df.iloc[10, 2] = np.nan
    df.to_csv(ts, sep="\t", index=False, na_rep="n/a")
    out = tmp_path / "r.tsv"
    with pytest.raises(BrainpipeInputError, match=r"ts.tsv: has n/a or NaN values in columns \['R2'\]"):
        subject_connectivity(ts, {"correlation": out})
    assert not out.exists()
    with pytest.raises(ValueError, match="'kind' parameter"):
        subject_connectivity(ts, {"granger": out})


def test_group_tangent(tmp_path, labels):
    rng = np.random.default_rng(4)
    tss = [_write_ts(tmp_path / f"sub-{i}_ts.tsv", _series(rng, coupling=0.3 + 0.1 * i))
           for i in range(5)]
    outs = [tmp_path / f"sub-{i}_stat-tangent_relmat.tsv" for i in range(5)]
    mean_out = tmp_path / "group_stat-tangent_relmat.tsv"
    fig, frag = tmp_path / "g.png", tmp_path / "g.json"
    mats, mean = group_connectivity(tss, outs, mean_out, atlas_labels=labels, figure=fig,
                                    fragment=frag)
    assert mats.shape == (5, 6, 6) and mean.shape == (6, 6)
    for path, m in zip(outs, mats):
        np.testing.assert_allclose(read_relmat(path).to_numpy(), m, atol=1e-12)
        np.testing.assert_allclose(m, m.T, atol=1e-12)
    # the reference point is SPD and the tangent vectors are centred around it
    assert np.linalg.eigvalsh(mean).min() > 0
    assert np.abs(mats.mean(axis=0)).max() < np.abs(mats).max()
    # coupling grows with the subject index: the tangent (0,1) entry follows it
    assert np.corrcoef(np.arange(5), mats[:, 0, 1])[0, 1] > 0.8
    assert read_relmat(mean_out).shape == (6, 6)
    assert fig.exists() and read_fragment(frag)["items"]


def test_group_regions_must_match(tmp_path):
    rng = np.random.default_rng(5)
    a = _write_ts(tmp_path / "a.tsv", _series(rng))
    b = tmp_path / "b.tsv"
    pd.DataFrame(_series(rng), columns=NAMES[::-1]).to_csv(b, sep="\t", index=False)
    outs = [tmp_path / "a_r.tsv", tmp_path / "b_r.tsv"]
    with pytest.raises(BrainpipeInputError, match="b.tsv: has regions that differ"):
        group_connectivity([a, b], outs, tmp_path / "m.tsv")
    assert not any(p.exists() for p in outs)


# --- real data -------------------------------------------------------------

CACHE = Path.home() / ".cache" / "brainpipe-test-data"


def _nitime_csv():
    """nitime's real resting fMRI ROI series (31 ROIs x 250 TRs), fetched with pip."""
    target = CACHE / "nitime-0.12.1" / "fmri_timeseries.csv"
    if target.exists():
        return target
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = list(wheels.glob("nitime-0.12.1-*.whl"))
    if not found:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "nitime==0.12.1", "-d", str(wheels)],
            capture_output=True, text=True, timeout=180,
        )
        found = list(wheels.glob("nitime-0.12.1-*.whl"))
        if proc.returncode or not found:
            pytest.skip(f"cannot fetch nitime from the package registry: {proc.stderr[-300:]}")
    with zipfile.ZipFile(found[0]) as zf:
        data = zf.read("nitime/data/fmri_timeseries.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


@pytest.mark.network
def test_real_fmri_connectivity(tmp_path):
    df = pd.read_csv(_nitime_csv())
    assert df.shape == (250, 31)
    ts = _write_ts_real(tmp_path / "nitime_timeseries.tsv", df)
    out = tmp_path / "nitime_stat-pearsoncorrelation_relmat.tsv"
    res = subject_connectivity(ts, {"correlation": out})["correlation"].to_numpy()
    np.testing.assert_array_equal(res, res.T)
    np.testing.assert_array_equal(np.diag(res), 1.0)
    off = res[np.triu_indices(31, 1)]
    assert off.mean() > 0.05  # resting-state FC is positive on average
    # homologous left/right ROIs (L*/R* pairs in nitime's table) are more coupled than average
    names = list(df.columns)
    pairs = [(names.index(n), names.index("R" + n[1:])) for n in names
             if n.startswith("L") and "R" + n[1:] in names]
    assert len(pairs) >= 10
    assert np.mean([res[i, j] for i, j in pairs]) > off.mean() + 0.1


def _write_ts_real(path, df):
    df.to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance", "precision"])
@pytest.mark.parametrize("cov_estimator", ["auto", "empirical", "ledoit_wolf"])
@pytest.mark.parametrize("shape", [(150, 100), (60, 100), (300, 7)])
def test_subject_matrix_equals_nilearn(kind, cov_estimator, shape):
    """The numpy per-subject path gives nilearn's ConnectivityMeasure (with
    scikit-learn's estimator) to round-off, fewer time points than regions
    included (Ledoit-Wolf keeps the matrix invertible)."""
    from brainpipe.fmri.connectivity import connectivity
    from brainpipe.fmri.subject_matrices import subject_matrix

    if cov_estimator == "empirical" and kind in ("partial correlation", "precision") and shape[0] <= shape[1]:
        pytest.skip("the sample covariance of fewer time points than regions is singular")
    rng = np.random.default_rng(sum(shape))
    mix = rng.standard_normal((shape[1], shape[1])) / np.sqrt(shape[1])
    ts = rng.standard_normal(shape) @ mix + 3.0
    ours = subject_matrix(ts, kind, cov_estimator)
    ref = connectivity([ts], kind, cov_estimator)[0][0]
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())
