"""PSDBandPower against a sinusoid of known power and against scipy's Welch."""

import numpy as np
import pytest
from scipy.signal import welch

from brainpipe.features import PSDBandPower

SFREQ = 250.0


def sinusoid_epochs(freq=10.0, amplitude=2.0, n_trials=3, n_channels=2, seconds=4.0,
                    noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    phase = rng.uniform(0, 2 * np.pi, (n_trials, n_channels, 1))
    X = amplitude * np.sin(2 * np.pi * freq * t + phase)
    return X + noise * rng.standard_normal(X.shape)


def test_band_power_of_a_sinusoid_is_amplitude_squared_over_two():
    X = sinusoid_epochs(freq=10.0, amplitude=2.0)
    est = PSDBandPower(SFREQ, bands=((4, 8), (8, 13), (13, 30)), log=False)
    power = est.fit_transform(X).reshape(3, 2, 3)
    np.testing.assert_allclose(power[..., 1], 2.0**2 / 2, rtol=0.02)
    assert np.all(power[..., [0, 2]] < 1e-3 * power[..., 1:2])


def test_band_power_equals_scipy_welch_sum():
    X = sinusoid_epochs(freq=21.0, noise=0.5, seed=1)
    est = PSDBandPower(SFREQ, bands={"mu": (8, 13), "beta": (13, 30)}, log=False,
                       n_per_seg=200, n_overlap=100).fit(X)
    freqs, psd = welch(X, fs=SFREQ, window="hamming", nperseg=200, noverlap=100,
                       nfft=200, detrend="constant", scaling="density", average="mean")
    df = freqs[1] - freqs[0]
    ref = np.stack([psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) * df
                    for lo, hi in ((8, 13), (13, 30))], axis=-1)
    np.testing.assert_allclose(est.transform(X), ref.reshape(3, -1), rtol=1e-10)
    assert list(est.get_feature_names_out()[:2]) == ["ch0_mu", "ch0_beta"]


def test_welch_equals_mne_psd_array_welch():
    from mne.time_frequency import psd_array_welch

    X = sinusoid_epochs(freq=17.0, noise=0.5, seed=4)
    est = PSDBandPower(SFREQ, bands=None, fmin=1, fmax=40, log=False).fit(X)
    psd, freqs = psd_array_welch(X, SFREQ, fmin=1, fmax=40, n_fft=250,
                                 n_per_seg=250, n_overlap=125, verbose=False)
    np.testing.assert_allclose(est.freqs_, freqs)
    np.testing.assert_allclose(est.transform(X), psd.reshape(3, -1), rtol=1e-10)


def test_per_frequency_features_for_happyfeat_ranking():
    X = sinusoid_epochs(freq=12.0, noise=0.1)
    est = PSDBandPower(SFREQ, bands=None, fmin=4, fmax=30, ch_names=["C3", "C4"])
    feats = est.fit_transform(X)
    n_freqs = len(est.freqs_)
    assert np.allclose(est.freqs_, np.arange(4, 31))  # 1 Hz bins from 1 s segments
    assert feats.shape == (3, 2 * n_freqs)
    names = est.get_feature_names_out()
    assert names[0] == "C3_4Hz" and names[n_freqs] == "C4_4Hz"
    peak = feats.reshape(3, 2, n_freqs).argmax(axis=-1)
    assert np.all(est.freqs_[peak] == 12.0)


def test_relative_power_sums_to_one_over_the_range_when_bands_tile_it():
    X = sinusoid_epochs(freq=10.0, noise=1.0, seed=2)
    est = PSDBandPower(SFREQ, bands=((1, 20), (20, 41)), fmin=1, fmax=40,
                       relative=True, log=False)
    power = est.fit_transform(X).reshape(3, 2, 2)
    np.testing.assert_allclose(power.sum(-1), 1.0, rtol=1e-12)


def test_log_power_and_multitaper():
    X = sinusoid_epochs(freq=10.0, noise=0.2, seed=3)
    lin = PSDBandPower(SFREQ, log=False).fit_transform(X)
    log = PSDBandPower(SFREQ, log=True).fit_transform(X)
    np.testing.assert_allclose(log, np.log10(lin), rtol=1e-12)
    mt = PSDBandPower(SFREQ, method="multitaper", log=False).fit_transform(X)
    np.testing.assert_allclose(mt.reshape(3, 2, 3)[..., 1], 2.0, rtol=0.05)


def test_flat_channel_and_bad_parameters_give_clear_errors():
    X = sinusoid_epochs()
    X[:, 1] = 0.0
    with pytest.raises(ValueError, match="Channel ch1 has zero power"):
        PSDBandPower(SFREQ).fit_transform(X)
    X = sinusoid_epochs()
    with pytest.raises(ValueError, match="sfreq must be a positive number"):
        PSDBandPower(-1).fit(X)
    with pytest.raises(ValueError, match="Nyquist"):
        PSDBandPower(SFREQ, bands=((100, 200),)).fit(X)
    with pytest.raises(ValueError, match="holds no frequency bin"):
        PSDBandPower(SFREQ, bands=((10.2, 10.4),)).fit(X)
    with pytest.raises(ValueError, match="'method' parameter"):
        PSDBandPower(SFREQ, method="burg").fit(X)
    est = PSDBandPower(SFREQ).fit(X)
    with pytest.raises(ValueError, match="samples per epoch"):
        est.transform(X[..., :500])
