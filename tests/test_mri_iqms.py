"""Reference tests of the T1w image-quality metrics on arrays with known answers."""

import math

import numpy as np
import pytest

from brainpipe.mri import iqms
from brainpipe.mri.segment import kmeans_1d, otsu_threshold


def test_efc_constant_is_one_and_single_voxel_is_zero():
    assert iqms.efc(np.full((10, 12, 8), 7.0)) == pytest.approx(1.0, abs=1e-12)
    x = np.zeros((10, 12, 8))
    x[3, 4, 5] = 100.0
    assert iqms.efc(x) == pytest.approx(0.0, abs=1e-12)
    # scale invariant, and more concentrated energy -> lower EFC
    rng = np.random.default_rng(0)
    y = rng.random((10, 12, 8))
    assert iqms.efc(3 * y) == pytest.approx(iqms.efc(y), rel=1e-12)
    y2 = y.copy()
    y2[2:5, 2:5, 2:5] += 20
    assert iqms.efc(y2) < iqms.efc(y)


def test_efc_matches_the_formula():
    rng = np.random.default_rng(1)
    x = rng.random(500) + 0.1
    n = x.size
    b = np.sqrt((x**2).sum())
    e = -np.sum(x / b * np.log(x / b))
    e_max = -n / np.sqrt(n) * np.log(1 / np.sqrt(n))
    assert iqms.efc(x) == pytest.approx(e / e_max, rel=1e-12)


def test_snr_of_known_noise():
    rng = np.random.default_rng(2)
    vals = rng.normal(200.0, 10.0, 200_000)
    assert iqms.snr(vals.mean(), vals.std(), vals.size) == pytest.approx(20.0, rel=0.01)
    # the n/(n-1) factor is the sample-SD correction
    assert iqms.snr(10.0, 2.0, 5) == pytest.approx(10 / (2 * math.sqrt(5 / 4)))
    assert math.isnan(iqms.snr(10.0, 0.0, 5))


def test_snr_dietrich_recovers_signal_over_rayleigh_scale():
    # air magnitude noise of scale s: SD = s * sqrt((4 - pi) / 2); SNRd = mu / s
    rng = np.random.default_rng(3)
    s = 10.0
    air = np.abs(rng.normal(0, s, 300_000) + 1j * rng.normal(0, s, 300_000))
    assert iqms.snr_dietrich(250.0, air.std()) == pytest.approx(25.0, rel=0.01)
    assert iqms.rayleigh_scale(air) == pytest.approx(s, rel=0.01)


def test_cnr_and_cjv_closed_form():
    assert iqms.cnr(200, 100, 0.0, 10, 10) == pytest.approx(100 / math.sqrt(200))
    assert iqms.cnr(100, 200, 5.0, 10, 10) == pytest.approx(100 / 15.0)
    assert iqms.cjv(200, 100, 10, 20) == pytest.approx(0.3)
    assert math.isnan(iqms.cjv(100, 100, 1, 1))


def test_fber_is_mean_energy_ratio():
    rng = np.random.default_rng(4)
    data = rng.normal(0, 10.0, (40, 40, 40))
    head = np.zeros(data.shape, bool)
    head[10:30, 10:30, 10:30] = True
    data[head] = 100.0
    ratio = iqms.fber(data, head, ~head)
    assert ratio == pytest.approx(100.0**2 / 10.0**2, rel=0.02)
    # a zeroed background has no energy: undefined, not infinite
    data[~head] = 0
    assert math.isnan(iqms.fber(data, head, ~head))


def test_wm2max():
    data = np.arange(10_000, dtype=float).reshape(100, 100)
    wm = np.zeros_like(data, bool)
    wm[50] = True  # values 5000..5099, median 5049.5
    assert iqms.wm2max(data, wm) == pytest.approx(5049.5 / np.percentile(data, 99.95))


def _rayleigh(rng, shape, s=10.0):
    return np.abs(rng.normal(0, s, shape) + 1j * rng.normal(0, s, shape))


def test_artifact_mask_and_qi1():
    rng = np.random.default_rng(5)
    data = _rayleigh(rng, (40, 40, 40))
    air = np.ones(data.shape, bool)
    # pure noise: isolated exceedances are opened away
    art = iqms.artifact_mask(data, air)
    assert iqms.art_qi1(air & ~art, art) < 1e-3
    # a 6x6x6 ghost blob at 6 sigma above the floor is found, all of it
    data[5:11, 5:11, 5:11] += 60.0
    art = iqms.artifact_mask(data, air)
    assert art[6:10, 6:10, 6:10].all()
    assert iqms.art_qi1(air & ~art, art) == pytest.approx(216 / 64_000, rel=0.25)


def test_ghost_ratio_zero_without_ghosts_positive_with():
    rng = np.random.default_rng(6)
    shape = (40, 48, 30)
    data = _rayleigh(rng, shape, 5.0)
    head = np.zeros(shape, bool)
    head[12:28, 16:32, 8:22] = True
    data[head] = 500.0
    air = ~np.pad(head[1:-1, 1:-1, 1:-1], 1)  # not exact: just outside the head
    air &= ~head
    for ax in range(3):
        assert abs(iqms.ghost_ratio(data, head, air, head, ax)) < 0.005
    ghosted = data.copy()
    # ghosts along axis 1 on the lines crossing the head
    ghosted[12:28, :16, 8:22] += 25.0
    ghosted[12:28, 32:, 8:22] += 25.0
    assert iqms.ghost_ratio(ghosted, head, air, head, 1) == pytest.approx(25 / 500, rel=0.15)
    assert iqms.ghost_ratio(ghosted, head, air, head, 0) < 0.02


def test_otsu_maximises_between_class_variance():
    rng = np.random.default_rng(7)
    vals = np.r_[rng.normal(10, 2, 5000), rng.normal(50, 5, 3000)]
    thr = otsu_threshold(vals)
    assert 17 < thr < 40

    def between(t):
        a, b = vals[vals <= t], vals[vals > t]
        return a.size * b.size * (a.mean() - b.mean()) ** 2

    grid = np.linspace(15, 45, 61)
    assert between(thr) >= max(between(t) for t in grid) * 0.999


def test_kmeans_1d_finds_three_modes():
    rng = np.random.default_rng(8)
    vals = np.r_[rng.normal(100, 5, 2000), rng.normal(300, 10, 4000), rng.normal(500, 10, 4000)]
    centres, thr = kmeans_1d(vals, 3)
    np.testing.assert_allclose(centres, [100, 300, 500], atol=5)
    np.testing.assert_allclose(thr, [200, 400], atol=6)
