"""Streaming covariances: chunks, bounded memory, long recordings."""

import os
import tracemalloc

import numpy as np
import pytest

from brainpipe.kernels import (
    iter_window_covariances,
    sliding_windows,
    window_covariances,
    window_starts,
)
from brainpipe.kernels._reference import augmented_dataset, embedded_covariances

BACKENDS = ["numpy", "numba", "torch"]


def signal(n_channels, n_times, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_channels, n_times)).cumsum(axis=1) * 0.1 + rng.standard_normal(
        (n_channels, n_times)
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunks_concatenate_to_window_covariances(backend, chunk):
    x = signal(4, 700, seed=chunk)
    kw = dict(order=3, lag=2, estimator="oas", backend=backend)
    chunks = list(iter_window_covariances(x, 60, 11, chunk=chunk, **kw))
    n_total = len(window_starts(700, 60, 11))
    assert [len(c) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1)
    assert sum(len(c) for c in chunks) == n_total
    full = window_covariances(x, 60, 11, **kw)
    np.testing.assert_allclose(np.concatenate(chunks), full, rtol=1e-12, atol=1e-12)


def test_reads_a_memmap_chunk_by_chunk(tmp_path):
    x = signal(3, 2000, seed=1)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    got = np.concatenate(list(iter_window_covariances(ro, 100, 30, chunk=16, order=2)))
    ref = window_covariances(x.astype(np.float32), 100, 30, order=2, backend="numpy")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_accepts_nested_lists():
    x = signal(2, 120, seed=2)
    got = np.concatenate(list(iter_window_covariances(x.tolist(), 40, 20, chunk=2)))
    np.testing.assert_allclose(got, window_covariances(x, 40, 20, backend="numpy"),
                               rtol=1e-12, atol=1e-12)


def test_arguments_checked_before_iteration():
    x = signal(2, 100)
    with pytest.raises(ValueError, match=r"window=12 .*order=6 and lag=2"):
        iter_window_covariances(x, 12, 1, order=6, lag=2)  # no next() needed
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        iter_window_covariances(x, 12, 1, chunk=0)
    x[0, 90] = np.inf
    chunks = iter_window_covariances(x, 10, 10, chunk=3)
    assert next(chunks).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        list(chunks)


def _peak_bytes(x, backend):
    tracemalloc.start()
    tracemalloc.reset_peak()
    for covs in iter_window_covariances(x, 250, 25, chunk=32, order=4, backend=backend):
        float(np.trace(covs, axis1=1, axis2=2).sum())  # consume, then drop
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_peak_memory_does_not_grow_with_recording_length(backend):
    short = signal(8, 250 * 60)  # 1 min at 250 Hz
    long = signal(8, 250 * 60 * 6)  # 6 min
    _peak_bytes(short[:, :1000], backend)  # warm up (compile, caches)
    peak_short = _peak_bytes(short, backend)
    peak_long = _peak_bytes(long, backend)
    chunk_bytes = 32 * 32 * 32 * 8  # one yielded array
    # all windows of the long recording would need 60x that
    assert peak_short >= chunk_bytes
    assert peak_long < 1.25 * peak_short + 256 * 1024, (peak_short, peak_long)


def test_one_hour_with_large_dc_offset_stays_accurate(tmp_path_factory):
    """Sliding sums over 1 h at 250 Hz with a 1e4 offset and a slow drift."""
    os.environ.setdefault("MNE_DATA", str(tmp_path_factory.mktemp("mne_data")))
    from moabb.pipelines.features import AugmentedDataset
    from pyriemann.estimation import Covariances

    sfreq, n_times = 250, 250 * 3600
    rng = np.random.default_rng(7)
    t = np.arange(n_times) / sfreq
    x = rng.standard_normal((4, n_times)) * 5.0
    x += 1e4 + 300.0 * np.sin(2 * np.pi * t / 600.0)  # offset + drift (10 min period)
    window, step, order, lag = 250, 25, 3, 2
    starts = window_starts(n_times, window, step)
    picks = np.sort(rng.choice(len(starts), 40, replace=False))
    picks[-1] = len(starts) - 1  # include the very last window
    got = {}
    first = 0
    for covs in iter_window_covariances(x, window, step, chunk=512, order=order, lag=lag,
                                        estimator="scm", backend="numba"):
        for k in picks[(picks >= first) & (picks < first + len(covs))]:
            got[k] = covs[k - first]
        first += len(covs)
    assert first == len(starts) == 35_991
    W = sliding_windows(x, window, step)[picks]
    expected = Covariances("scm").transform(AugmentedDataset(order, lag).transform(W))
    ours = np.stack([got[k] for k in picks])
    err = np.max(np.abs(ours - expected), axis=(1, 2)) / np.max(np.abs(expected), axis=(1, 2))
    assert err.max() < 1e-11, err.max()
    # and the numpy reference agrees on the same windows
    ref = embedded_covariances(augmented_dataset(W, order, lag), "scm")
    assert np.max(np.abs(ref - ours)) / np.max(np.abs(ref)) < 1e-11
