"""Sliding windows, window starts and the MOABB delay embedding."""

import os

import numpy as np
import pytest

from brainpipe.kernels import (
    augmented_dataset,
    effective_length,
    n_windows,
    sliding_windows,
    window_starts,
)


@pytest.fixture(scope="module")
def moabb_augmented(tmp_path_factory):
    """MOABB's AugmentedDataset, imported with MNE_DATA in a temp folder."""
    os.environ.setdefault("MNE_DATA", str(tmp_path_factory.mktemp("mne_data")))
    from moabb.pipelines.features import AugmentedDataset

    return AugmentedDataset


@pytest.mark.parametrize(
    "n_times, window, step",
    [(100, 10, 3), (100, 10, 10), (100, 10, 25), (100, 100, 7), (101, 1, 1)],
)
def test_sliding_windows_match_slices_and_share_memory(n_times, window, step):
    x = np.arange(3 * n_times, dtype=float).reshape(3, n_times)
    views = sliding_windows(x, window, step)
    starts = window_starts(n_times, window, step)
    assert views.shape == (n_windows(n_times, window, step), 3, window)
    assert len(starts) == views.shape[0]
    assert np.shares_memory(views, x)  # zero copy
    for k, s in enumerate(starts):
        np.testing.assert_array_equal(views[k], x[:, s : s + window])
    # the last window is the last one that fits
    assert starts[-1] + window <= n_times < starts[-1] + step + window


def test_window_starts_values():
    np.testing.assert_array_equal(window_starts(1000, 250, 25), np.arange(31) * 25)
    assert window_starts(75_000, 250, 25).shape == (2991,)  # 5 min at 250 Hz
    assert window_starts(250, 250, 1).tolist() == [0]


def test_window_errors_name_the_parameters():
    x = np.zeros((2, 50))
    with pytest.raises(ValueError, match=r"window \(60 samples\).*n_times=50"):
        sliding_windows(x, 60, 1)
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        sliding_windows(x, 10, 0)
    with pytest.raises(ValueError, match=r"shape \(n_channels, n_times\)"):
        sliding_windows(np.zeros(50), 10, 1)


def test_effective_length_follows_moabb():
    assert effective_length(250, 1, 5) == 250  # order 1: unchanged, lag unused
    assert effective_length(250, 8, 1) == 242  # drops order * lag samples
    assert effective_length(250, 4, 10) == 210
    with pytest.raises(ValueError, match=r"window=9 .*order=4 and lag=2"):
        effective_length(9, 4, 2)
    assert effective_length(10, 4, 2) == 2  # 2 samples per copy is the minimum
    with pytest.raises(ValueError, match=r"window=1 .*order=1 and lag=1"):
        effective_length(1, 1, 1)
    with pytest.raises(ValueError, match=r"n_times=4 .*order=3"):
        effective_length(4, 3, 1, what="n_times")


@pytest.mark.parametrize("order, lag", [(1, 1), (1, 3), (2, 1), (4, 3), (8, 1)])
def test_augmented_dataset_equals_moabb(moabb_augmented, order, lag):
    X = np.random.default_rng(0).standard_normal((4, 3, 60))
    expected = moabb_augmented(order=order, lag=lag).transform(X)
    ours = augmented_dataset(X, order, lag)
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)
