"""Signed R² / Fisher ranking, and HappyFeat-style PSD/connectivity pipelines."""

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import f_classif
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from brainpipe.features import (
    ConnectivityNodeStrength,
    PSDBandPower,
    SignedR2Selector,
    fisher_score,
    signed_r2,
)


def informative(n=120, n_features=30, informative=(3, 17), seed=0, n_classes=2):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.standard_normal((n, n_features))
    for rank, idx in enumerate(informative):
        X[:, idx] += (1.5 - 0.5 * rank) * (y == 1) - 0.8 * (y == 2)
    return X, y


def test_signed_r2_is_the_signed_squared_correlation_with_the_label():
    X, y = informative()
    r2 = signed_r2(X, y)
    corr = np.array([np.corrcoef(X[:, j], y)[0, 1] for j in range(X.shape[1])])
    np.testing.assert_allclose(r2, np.sign(corr) * corr**2, rtol=1e-10)
    # HappyFeat's formula (sum-of-squares form) gives the same values
    a, b = X[y == 0], X[y == 1]
    sq, sr = a.sum(0), b.sum(0)
    g = (sq + sr) ** 2 / len(X)
    happy = (sq**2 / len(a) + sr**2 / len(b) - g) / ((a**2).sum(0) + (b**2).sum(0) - g)
    np.testing.assert_allclose(np.abs(r2), happy, rtol=1e-10)
    # sign: positive when larger in the second (sorted) class
    assert r2[3] > 0 and signed_r2(-X, y)[3] < 0


def test_fisher_score_is_anova_f_up_to_degrees_of_freedom():
    X, y = informative(n_classes=3, seed=1)
    f, _ = f_classif(X, y)
    n, k = len(y), 3
    np.testing.assert_allclose(fisher_score(X, y) * (n - k) / (k - 1), f, rtol=1e-10)


def test_selector_keeps_the_informative_features():
    X, y = informative()
    sel = SignedR2Selector(k=2).fit(X, y)
    assert set(np.flatnonzero(sel.get_support())) == {3, 17}
    assert list(sel.ranking_[:2]) == [3, 17]  # larger effect first
    assert sel.transform(X).shape == (120, 2)
    assert SignedR2Selector(k="all").fit(X, y).transform(X).shape == (120, 30)


@pytest.mark.parametrize("multiclass", ["ovr", "fisher"])
def test_selector_multiclass(multiclass):
    X, y = informative(n=150, n_classes=3, seed=2)
    sel = SignedR2Selector(k=2, multiclass=multiclass).fit(X, y)
    assert set(np.flatnonzero(sel.get_support())) == {3, 17}
    assert sel.signed_r2_.shape == (3, 30)


def test_selector_edge_cases():
    X, y = informative()
    X[:, 5] = 1.0  # constant feature: R² 0, not NaN
    sel = SignedR2Selector(k=3).fit(X, y)
    assert sel.scores_[5] == 0
    with pytest.warns(UserWarning, match="greater than n_features"):
        assert SignedR2Selector(k=50).fit(X, y).transform(X).shape == (120, 30)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SignedR2Selector().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="non-negative integer or 'all'"):
        SignedR2Selector(k=-1).fit(X, y)


def simulated_mi(n_per_class=30, n_channels=4, sfreq=100.0, seconds=3.0, seed=0):
    """Class 1 loses 12 Hz power on channel 1 (ERD) and channels 2-3 couple at 20 Hz."""
    rng = np.random.default_rng(seed)
    n_times = int(sfreq * seconds)
    t = np.arange(n_times) / sfreq
    n = 2 * n_per_class
    y = np.repeat([0, 1], n_per_class)
    X = rng.standard_normal((n, n_channels, n_times))
    mu_amp = np.where(y == 0, 1.5, 0.5)[:, None]
    X[:, 1] += mu_amp * np.sin(2 * np.pi * 12 * t + rng.uniform(0, 6.3, (n, 1)))
    beta = np.sin(2 * np.pi * 20 * t + rng.uniform(0, 6.3, (n, 1)))
    coupled = y == 1
    X[coupled, 2] += beta[coupled]
    X[coupled, 3] += np.roll(beta[coupled], 3, axis=-1)  # lagged copy: imaginary
    return X, y, sfreq


def test_psd_selection_lda_pipeline_finds_the_erd_channel():
    X, y, sfreq = simulated_mi()
    pipe = make_pipeline(
        PSDBandPower(sfreq, bands=None, fmin=4, fmax=30),
        SignedR2Selector(k=3),
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    assert cross_val_score(pipe, X, y, cv=cv).mean() > 0.9
    pipe.fit(X, y)
    names = list(pipe[0].get_feature_names_out())
    kept = {names[i] for i in np.flatnonzero(pipe[1].get_support())}
    # the ERD bin, and the 20 Hz power that the coupled rhythm adds
    assert kept == {"ch1_12Hz", "ch2_20Hz", "ch3_20Hz"}, kept
    signed = dict(zip(names, pipe[1].signed_r2_))
    assert signed["ch1_12Hz"] < 0 < signed["ch2_20Hz"]  # ERD lowers class-1 power


def test_connectivity_selection_lda_pipeline_finds_the_coupled_pair():
    X, y, sfreq = simulated_mi(seed=1)
    pipe = make_pipeline(
        ConnectivityNodeStrength(sfreq, fmin=8, fmax=30),
        SignedR2Selector(k=2),
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    assert cross_val_score(pipe, X, y, cv=cv).mean() > 0.85
    pipe.fit(X, y)
    names = pipe[0].get_feature_names_out()[pipe[1].get_support()]
    assert sorted(name.split("_")[0] for name in names) == ["ch2", "ch3"], names
    assert all(name.endswith("_20Hz") for name in names), names
