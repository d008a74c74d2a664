"""Per-trial connectivity against mne-connectivity, and node strength."""

import numpy as np
import pytest
from mne_connectivity import spectral_connectivity_epochs

from brainpipe.features import (
    ConnectivityNodeStrength,
    node_strength,
    trial_connectivity,
)

SFREQ = 100.0


def coupled_epochs(n_trials=4, n_times=400, delay=3, seed=0):
    """Channel 1 is a delayed copy of channel 0 plus noise; channel 2 is independent.

    A delay gives a phase lag, hence imaginary coherence between 0 and 1.
    """
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n_trials, n_times + delay))
    X = np.empty((n_trials, 3, n_times))
    X[:, 0] = src[:, delay:]
    X[:, 1] = src[:, :n_times] + 0.5 * rng.standard_normal((n_trials, n_times))
    X[:, 2] = rng.standard_normal((n_trials, n_times))
    return X


@pytest.mark.parametrize("method", ["imcoh", "coh"])
def test_each_trial_matches_mne_connectivity_on_its_segments(method):
    X = coupled_epochs()
    n_per_seg, n_overlap = 100, 50
    con, freqs = trial_connectivity(X, SFREQ, fmin=10, fmax=30, method=method,
                                    n_per_seg=n_per_seg, n_overlap=n_overlap)
    assert con.shape == (4, len(freqs), 3, 3)
    starts = range(0, X.shape[-1] - n_per_seg + 1, n_per_seg - n_overlap)
    for trial in range(len(X)):
        segments = np.stack([X[trial, :, s : s + n_per_seg] for s in starts])
        ref = spectral_connectivity_epochs(
            segments, method=method, mode="fourier", sfreq=SFREQ, fmin=10, fmax=30,
            verbose=False,
        )
        np.testing.assert_allclose(ref.freqs, freqs)
        dense = np.abs(ref.get_data(output="dense"))  # (3, 3, n_freqs), lower triangle
        for i, j in [(1, 0), (2, 0), (2, 1)]:
            np.testing.assert_allclose(con[trial, :, i, j], dense[i, j], rtol=1e-10,
                                       atol=1e-13)
            np.testing.assert_allclose(con[trial, :, j, i], dense[i, j], rtol=1e-10,
                                       atol=1e-13)


def test_node_strength_is_the_mean_over_the_other_channels():
    con = np.random.default_rng(1).uniform(size=(2, 5, 4, 4))
    expected = np.stack(
        [[[np.mean([con[t, f, i, j] for j in range(4) if j != i]) for i in range(4)]
          for f in range(5)] for t in range(2)]
    )
    np.testing.assert_allclose(node_strength(con), expected, rtol=1e-12)


def test_coupled_channels_have_higher_strength_than_the_independent_one():
    X = coupled_epochs(n_trials=6, n_times=1000, seed=2)
    est = ConnectivityNodeStrength(SFREQ, fmin=5, fmax=20, ch_names=["a", "b", "c"])
    feats = est.fit_transform(X).reshape(6, 3, -1)
    assert feats.shape[-1] == len(est.freqs_)
    strength = feats.mean(axis=(0, 2))
    # a and b share one strong link; c has only chance-level links
    assert strength[0] > 2 * strength[2] and strength[1] > 2 * strength[2]
    assert est.get_feature_names_out()[0] == "a_6Hz"  # 2 Hz bins from 0.5 s


def test_bands_average_the_frequency_bins():
    X = coupled_epochs(seed=3)
    per_freq = ConnectivityNodeStrength(SFREQ, fmin=8, fmax=30).fit(X)
    banded = ConnectivityNodeStrength(SFREQ, fmin=8, fmax=30,
                                      bands={"mu": (8, 13), "beta": (13, 31)}).fit(X)
    full = per_freq.transform(X).reshape(4, 3, -1)
    out = banded.transform(X).reshape(4, 3, 2)
    f = per_freq.freqs_
    np.testing.assert_allclose(out[..., 0], full[..., (f >= 8) & (f < 13)].mean(-1))
    np.testing.assert_allclose(out[..., 1], full[..., (f >= 13) & (f < 31)].mean(-1))
    assert list(banded.get_feature_names_out()[:2]) == ["ch0_mu", "ch0_beta"]


def test_bad_input_is_refused():
    X = coupled_epochs()
    with pytest.raises(ValueError, match="at least 2 channels"):
        ConnectivityNodeStrength(SFREQ).fit(X[:, :1])
    with pytest.raises(ValueError, match="'method' parameter"):
        ConnectivityNodeStrength(SFREQ, method="wpli").fit(X)
    with pytest.raises(ValueError, match="Nyquist"):
        ConnectivityNodeStrength(SFREQ, fmax=80).fit(X)
    est = ConnectivityNodeStrength(SFREQ).fit(X)
    with pytest.raises(ValueError, match="fitted on 3 channels"):
        est.transform(np.concatenate([X, X], axis=1))
