"""Sliding-window FC, tapers, k-means states and their metrics."""

import json

import numpy as np
import pandas as pd
import pytest

from brainpipe.fmri.dynamic import (
    dynamic_connectivity,
    fc_states,
    sliding_window_correlations,
    state_metrics,
    taper_weights,
)
from brainpipe.report.fragments import read_fragment


def test_rectangular_windows_are_pearson_per_window():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 5))
    corrs = sliding_window_correlations(x, 20, 7, backend="numpy")
    assert corrs.shape == ((80 - 20) // 7 + 1, 5, 5)
    for k, c in enumerate(corrs):
        np.testing.assert_allclose(c, np.corrcoef(x[7 * k:7 * k + 20].T), atol=1e-12)
    # the default backend gives the same
    np.testing.assert_allclose(sliding_window_correlations(x, 20, 7), corrs, atol=1e-10)


@pytest.mark.parametrize("taper", ["gaussian", "hann", "hamming"])
def test_tapered_windows_are_weighted_correlations(taper):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4))
    w = taper_weights(15, taper, sigma=2.0)
    corrs = sliding_window_correlations(x, 15, 5, taper=taper, sigma=2.0)
    for k, c in enumerate(corrs):
        cov = np.cov(x[5 * k:5 * k + 15].T, aweights=w)
        d = np.sqrt(np.diag(cov))
        np.testing.assert_allclose(c, cov / np.outer(d, d), atol=1e-12)


def test_taper_shapes():
    assert np.array_equal(taper_weights(10), np.ones(10))
    g = taper_weights(30, "gaussian", sigma=3.0)
    np.testing.assert_allclose(g, g[::-1])
    # the first sample lies half a sample inside the rectangle's edge: Phi(0.5 / 3) / max
    from scipy.stats import norm

    assert g.max() == 1.0
    assert g[0] == pytest.approx((norm.cdf(0.5 / 3) - norm.cdf(-29.5 / 3))
                                 / (norm.cdf(15.5 / 3) - norm.cdf(-14.5 / 3)),
                                 rel=1e-9)
    assert g[15] > 0.99
    with pytest.raises(ValueError, match="'taper' parameter"):
        taper_weights(10, "boxcar")


def test_state_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 0, 2, 2])
    occ, dwell, trans, n = state_metrics(labels, 4)
    np.testing.assert_allclose(occ, [3 / 8, 3 / 8, 2 / 8, 0])
    np.testing.assert_allclose(dwell, [1.5, 3.0, 2.0, 0.0])
    assert n == 3
    expected = np.zeros((4, 4))
    expected[0] = [1 / 3, 1 / 3, 1 / 3, 0]   # 0->0, 0->1, 0->2
    expected[1] = [1 / 3, 2 / 3, 0, 0]       # 1->1 twice, 1->0
    expected[2] = [0, 0, 1, 0]               # 2->2
    np.testing.assert_allclose(trans, expected)


def _two_regimes(rng, n_blocks=6, block=60, c=6):
    """Blocks alternate between two correlation patterns; returns data and truth."""
    a = np.full((c, c), 0.0)
    a[:3, :3] = a[3:, 3:] = 0.8
    b = np.full((c, c), 0.0)
    b[::2, ::2] = b[1::2, 1::2] = 0.8
    x, truth = [], []
    for i in range(n_blocks):
        m = a if i % 2 == 0 else b
        np.fill_diagonal(m, 1.0)
        x.append(rng.multivariate_normal(np.zeros(c), m, block))
        truth += [i % 2] * block
    return np.concatenate(x), np.array(truth)


def test_states_recover_alternating_regimes():
    rng = np.random.default_rng(2)
    xs = [_two_regimes(rng) for _ in range(2)]
    windowed = [sliding_window_correlations(x, 20, 5, backend="numpy") for x, _ in xs]
    labels, centroids = fc_states(windowed, 2, seed=0)
    assert centroids.shape == (2, 6, 6)
    for (x, truth), lab in zip(xs, labels):
        mid = truth[np.arange(len(lab)) * 5 + 10]  # regime at each window's centre
        agree = max((lab == mid).mean(), (lab != mid).mean())
        assert agree > 0.85


def test_dynamic_connectivity_files(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i in range(3):
        x, _ = _two_regimes(rng, n_blocks=4, block=50)
        p = tmp_path / f"sub-0{i}_task-rest_timeseries.tsv"
        pd.DataFrame(x, columns=[f"R{j}" for j in range(6)]).to_csv(p, sep="\t", index=False)
        p.with_suffix(".json").write_text(json.dumps({"RepetitionTime": 2.0}))
        paths.append(p)
    out_states, out_metrics = tmp_path / "states.npz", tmp_path / "metrics.tsv"
    out_labels, fig, frag = tmp_path / "labels.tsv", tmp_path / "states.png", tmp_path / "f.json"
    metrics = dynamic_connectivity(paths, out_states, out_metrics, out_labels_tsv=out_labels,
                                   window_s=40, n_states=2, taper="gaussian", sigma_s=4,
                                   figure=fig, fragment=frag)
    assert list(metrics["participant_id"]) == ["sub-00", "sub-01", "sub-02"]
    occ = metrics[["occupancy_0", "occupancy_1"]].to_numpy()
    np.testing.assert_allclose(occ.sum(axis=1), 1.0)
    # dwell in seconds: blocks of 100 s give long dwell times (not flickering)
    assert metrics["dwell_s_0"].mean() > 40
    p = metrics[["p_0_0", "p_0_1"]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    states = np.load(out_states)
    assert states["centroids"].shape == (2, 6, 6) and list(states["regions"])[0] == "R0"
    long = pd.read_csv(out_labels, sep="\t")
    assert len(long) == metrics["n_windows"].sum()
    assert fig.exists() and read_fragment(frag)["items"]


def test_dynamic_connectivity_window_too_long(tmp_path):
    p = tmp_path / "sub-01_ts.tsv"
    pd.DataFrame(np.random.default_rng(4).standard_normal((20, 3))).to_csv(p, sep="\t", index=False)
    with pytest.raises(Exception, match="fewer than the 30-volume window"):
        dynamic_connectivity([p], tmp_path / "s.npz", tmp_path / "m.tsv", window_s=60, tr=2.0)
    assert not (tmp_path / "s.npz").exists()
