"""How each heavy step's time and memory grow with the data.

Two axes, simulated inputs, brainpipe's own functions:

- **EEG recording length** (64 channels at 500 Hz; default 10 min, 1 h, 4 h):
  ``preprocess``: the recording read into memory, notch and band-pass
  filters and bad-channel handling (the calls of
  :func:`brainpipe.eeg.preprocess.preprocess_eeg_run`, minus the FIF write);
  ``window_covs``: :func:`brainpipe.kernels.iter_window_covariances` over the
  whole recording (1 s windows every 0.1 s, estimator "oas"), read from disk
  chunk by chunk; ``pseudo_online``: a :class:`brainpipe.bci.pseudo_online.WindowDecoder`
  (the ``ts_svm`` pipeline, fitted once on 5 minutes) deciding on every
  window of the recording, also streamed from disk.
- **Cohort size** (ROI time series, 100 regions x 300 volumes per subject,
  4 sites; default 50, 200, 1,000 subjects): ``fc``: per subject,
  :func:`brainpipe.fmri.connectivity.connectivity` (correlation) written to
  disk, one subject in memory at a time, as the workflow's per-subject rule;
  ``graph``: per subject, :func:`brainpipe.fmri.graph.graph_metrics` of that
  FC; ``tangent``: group tangent-space connectivity (all subjects); and
  ``prediction``: :func:`brainpipe.fmri.prediction.evaluate` (ridge on the FC
  edges, age, leave-one-site-out, 10 permutations).

Each size runs in a fresh subprocess (Numba kernels compiled and libraries
imported first, untimed). Per step it reports the wall time, the CPU time
(what the exponents are fitted on: on a shared machine the wall time also
counts waiting for a core), and the peak memory the step added: the
resident-set high-water mark (VmHWM, reset before the step through
/proc/self/clear_refs) above the resident set at its start, which sees numpy, Numba and MNE allocations alike
(tracemalloc where /proc is missing). Inputs a step streams from disk are not
resident, so a streaming step's peak is its chunk's. At the end, the growth
exponent ``b`` of ``cost ~ size**b`` per step (least squares on log-log) for
time and memory, and one line ``scale_<axis>_<step>_{time,memory}_exponent=<float>``
each. A step whose predicted memory at a size (linear extrapolation of its
largest size's peak) exceeds ``--max-mem-gb`` (default: half of the memory
available) is skipped at that size and said so.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--quick] [--axis eeg|cohort|both]
[--minutes 10 60 240] [--subjects 50 200 1000] [--threads 1] [--max-mem-gb G]``.
``--quick`` uses 2, 5 and 10 minutes and 20, 50, 100 subjects.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SFREQ = 500.0
N_CHANNELS = 64
WINDOW_S, STEP_S = 1.0, 0.1  # the pseudo-online defaults
CHUNK = 256  # windows per streamed chunk (kernels.DEFAULT_CHUNK)
TRAIN_MIN = 5.0
N_ROIS, N_VOLUMES, N_SITES = 100, 300, 4
N_PERMUTATIONS = 10
BLOCK_S = 60.0  # seconds simulated (and written) at a time

EEG_STEPS = ("preprocess", "window_covs", "pseudo_online")
COHORT_STEPS = ("fc", "graph", "tangent", "prediction")


# ----------------------------------------------------------------- memory
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


HAVE_HWM = _reset_hwm()


def _trim():
    """Give freed heap pages back to the OS, so one step's peak is not the last's."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(name, fn, rows):
    """Run ``fn()`` once; append its costs to ``rows``; return its value.

    The row has ``step``, ``seconds`` (wall), ``cpu_s`` (this process's CPU
    time: on a shared machine the wall time also counts the waits for a
    core), ``peak_mb`` (memory the step added) and ``rss_mb`` (the resident
    high-water mark during the step).
    """
    _trim()
    if HAVE_HWM:
        base = _status_kb("VmRSS")
        _reset_hwm()
    else:
        tracemalloc.start()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if HAVE_HWM:
        hwm = _status_kb("VmHWM") / 1024
        peak = hwm - base / 1024
    else:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        hwm = float("nan")
        tracemalloc.stop()
    rows.append({"step": name, "seconds": seconds, "cpu_s": cpu, "peak_mb": max(peak, 0.0),
                 "rss_mb": hwm})
    return out


# ----------------------------------------------------------------- EEG axis
class DiskRecording:
    """A (n_channels, n_times) float64 recording read from a time-major file on demand.

    Supports ``shape`` and ``x[:, start:stop]``, what
    :func:`brainpipe.kernels.iter_window_covariances` needs, so a step streams
    it without holding it in memory.
    """

    def __init__(self, path, n_channels, n_times):
        self.path = Path(path)
        self.shape = (n_channels, n_times)

    def __getitem__(self, key):
        rows, cols = key
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise IndexError("DiskRecording supports x[:, start:stop] only")
        start, stop, _ = cols.indices(self.shape[1])
        n = max(stop - start, 0)
        c = self.shape[0]
        block = np.fromfile(self.path, dtype=np.float64, count=n * c, offset=start * c * 8)
        return block.reshape(n, c).T

    def read_all(self):
        return np.ascontiguousarray(self[:, 0 : self.shape[1]])


def _eeg_block(rng, mixing, n, t0, period):
    """Coloured, mixed noise with 10 Hz bursts on 8 'motor' channels in task periods."""
    from scipy.signal import lfilter

    src = lfilter([1.0], [1.0, -0.95], rng.standard_normal((N_CHANNELS, n)), axis=1)
    t = (t0 + np.arange(n)) / SFREQ
    phase = (t // period).astype(int) % 3  # 0 idle, 1 left, 2 right, periods of `period` s
    burst = np.sin(2 * np.pi * 10.0 * t) * 3.0
    src[:8] += np.where(phase == 1, burst, 0.0)
    src[8:16] += np.where(phase == 2, burst, 0.0)
    return 5e-6 * (mixing @ src)


def write_recording(path, minutes, seed=0, period=4.0):
    """Simulate ``minutes`` of 64-channel EEG into ``path`` (time-major float64)."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(N_CHANNELS) + rng.standard_normal((N_CHANNELS, N_CHANNELS)) / N_CHANNELS
    n_times = int(round(minutes * 60 * SFREQ))
    block = int(BLOCK_S * SFREQ)
    with open(path, "wb") as f:
        for t0 in range(0, n_times, block):
            n = min(block, n_times - t0)
            np.ascontiguousarray(_eeg_block(rng, mixing, n, t0, period).T).tofile(f)
    return DiskRecording(path, N_CHANNELS, n_times)


def _preprocess(rec):
    import mne

    from brainpipe.eeg.preprocess import handle_bad_channels

    info = mne.create_info([f"EEG{i:03d}" for i in range(N_CHANNELS)], SFREQ, "eeg")
    raw = mne.io.RawArray(rec.read_all(), info, verbose="error")
    raw.notch_filter([50.0], picks="eeg", verbose="error")
    raw.filter(1.0, 40.0, picks="eeg", verbose="error")
    # no montage: a bad channel would be dropped, not interpolated
    handle_bad_channels(raw, "simulated", interpolate_bads=False)
    return raw.n_times


def _window_covs(rec):
    from brainpipe.kernels import iter_window_covariances

    window, step = int(WINDOW_S * SFREQ), int(STEP_S * SFREQ)
    n, trace = 0, 0.0
    for covs in iter_window_covariances(rec, window, step, chunk=CHUNK, estimator="oas"):
        n += len(covs)
        trace += float(np.trace(covs, axis1=1, axis2=2).sum())
    return n


def _fitted_decoder(train, period=4.0):
    from brainpipe.bci.pipelines import make_pipeline
    from brainpipe.bci.pseudo_online import WindowDecoder
    from brainpipe.kernels import window_starts

    window, step = int(WINDOW_S * SFREQ), int(0.25 * SFREQ)
    starts = window_starts(train.shape[1], window, step)
    # a window's label: the phase it lies in wholly (idle, left, right)
    first, last = starts / SFREQ // period, (starts + window - 1) / SFREQ // period
    pure = np.flatnonzero(first == last)
    labels = np.array(["idle", "left", "right"])[(first[pure].astype(int)) % 3]
    decoder = WindowDecoder(make_pipeline("ts_svm"), window, int(STEP_S * SFREQ), chunk=CHUNK)
    return decoder.fit([train], [(pure, labels, step)])


def _warm_up(workdir):
    """Compile the Numba kernels and import MNE on a few seconds, untimed."""
    tiny = write_recording(Path(workdir) / "warm.f64", 0.2, seed=2)
    _preprocess(tiny)
    _window_covs(tiny)


def eeg_worker(minutes, workdir, steps=EEG_STEPS):
    rows = []
    _warm_up(workdir)
    rec = write_recording(Path(workdir) / f"eeg_{minutes:g}min.f64", minutes)
    if "preprocess" in steps:
        measure("preprocess", lambda: _preprocess(rec), rows)
    if "window_covs" in steps:
        measure("window_covs", lambda: _window_covs(rec), rows)
    if "pseudo_online" in steps:
        train = write_recording(Path(workdir) / "train.f64", TRAIN_MIN, seed=1).read_all()
        decoder = _fitted_decoder(train)
        decoder.predict(train[:, : int(30 * SFREQ)])  # compile the decision path
        del train
        measure("pseudo_online", lambda: len(decoder.predict(rec)[0]), rows)
    return rows


# ----------------------------------------------------------------- cohort axis
def _subject_series(i, age, rng_seed=0):
    """ROI time series whose within-network coupling weakens with age."""
    rng = np.random.default_rng([rng_seed, i])
    n_net = 10
    net = np.arange(N_ROIS) % n_net
    strength = 1.2 - 0.012 * (age - 20)
    shared = rng.standard_normal((N_VOLUMES, n_net))
    return shared[:, net] * strength + rng.standard_normal((N_VOLUMES, N_ROIS))


def cohort_worker(n_subjects, workdir, steps=COHORT_STEPS):
    from brainpipe.fmri.connectivity import connectivity
    from brainpipe.fmri.graph import graph_metrics
    from brainpipe.fmri.prediction import connectivity_features, evaluate

    rows = []
    rng = np.random.default_rng(0)
    ages = rng.uniform(20, 80, n_subjects)
    sites = np.arange(n_subjects) % N_SITES
    fc_dir = Path(workdir) / f"fc_{n_subjects}"
    fc_dir.mkdir()
    # imports and first calls, untimed
    warm, _ = connectivity([_subject_series(0, 40.0)], kind="correlation")
    graph_metrics(warm[0], density=0.1)

    def fc():
        for i in range(n_subjects):  # one subject in memory at a time
            mats, _ = connectivity([_subject_series(i, ages[i])], kind="correlation")
            np.save(fc_dir / f"sub-{i:04d}.npy", mats[0])

    def graph():
        for i in range(n_subjects):
            graph_metrics(np.load(fc_dir / f"sub-{i:04d}.npy"), density=0.1)

    def tangent():
        mats, _ = connectivity([_subject_series(i, ages[i]) for i in range(n_subjects)],
                               kind="tangent")
        return mats.shape

    def prediction():
        X = connectivity_features(np.stack([np.load(fc_dir / f"sub-{i:04d}.npy")
                                            for i in range(n_subjects)]))
        return evaluate(X, ages, sites, "ridge", task="regression", cv="logo",
                        n_permutations=N_PERMUTATIONS)["score"]

    measure("fc", fc, rows)  # graph and prediction read its output
    if "graph" in steps:
        measure("graph", graph, rows)
    if "tangent" in steps:
        measure("tangent", tangent, rows)
    if "prediction" in steps:
        r2 = measure("prediction", prediction, rows)
        rows[-1]["r2"] = r2
    return rows


# ----------------------------------------------------------------- driver
def run_size(axis, size, threads, steps):
    """Run one size's ``steps`` in a fresh interpreter; return its rows and max RSS (MB)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    proc = subprocess.run([sys.executable, __file__, "--worker", axis, "--size", str(size),
                           "--steps", *steps], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{axis} size {size} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponent(sizes, values):
    """Slope ``b`` of ``log(value) = a + b log(size)``; nan with fewer than 2 sizes."""
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    ok = values > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[ok]), np.log(values[ok]), 1)[0])


def _predicted_peak_gb(done, step, size):
    """A step's peak at ``size``, extrapolated linearly from its largest size done."""
    pts = [(s, r["peak_mb"]) for s, res in done for r in res["rows"] if r["step"] == step]
    if not pts:
        return 0.0
    s_max, p_max = max(pts)
    return p_max * size / s_max / 1024


def _row(res, step):
    return next((r for r in res["rows"] if r["step"] == step), None)


def run_axis(axis, sizes, unit, threads, max_mem_gb):
    steps = EEG_STEPS if axis == "eeg" else COHORT_STEPS
    done = []
    for size in sizes:
        todo = []
        for step in steps:
            need = _predicted_peak_gb(done, step, size)
            if need > max_mem_gb:
                print(f"  {axis} {size:g} {unit}: {step} skipped, predicted peak {need:.1f} GB "
                      f"> --max-mem-gb {max_mem_gb:.1f}", flush=True)
            else:
                todo.append(step)
        if not todo:
            continue
        t0 = time.perf_counter()
        res = run_size(axis, size, threads, todo)
        done.append((size, res))
        print(f"  {axis} {size:g} {unit}: {time.perf_counter() - t0:.1f} s in all, "
              f"max RSS {res['max_rss_mb']:.0f} MB", flush=True)
    print(f"\n{axis}: size in {unit}")
    print(f"{'step':<14}{'size':>8}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}"
          f"{'CPU s/unit':>12}")
    for step in steps:
        for size, res in done:
            r = _row(res, step)
            if r is None:
                continue
            extra = f"  r2={r['r2']:.2f}" if "r2" in r else ""
            print(f"{step:<14}{size:>8g}{r['seconds']:>10.2f}{r['cpu_s']:>10.2f}"
                  f"{r['peak_mb']:>10.1f}{r['cpu_s'] / size:>12.4f}{extra}")
    print(f"\n{axis}: growth exponent b (cost ~ size**b; time = CPU time) per step, "
          "over the sizes it ran")
    out = {}
    for step in steps:
        pts = [(size, _row(res, step)) for size, res in done if _row(res, step) is not None]
        sizes_done = [s for s, _ in pts]
        bt = exponent(sizes_done, [r["cpu_s"] for _, r in pts])
        bm = exponent(sizes_done, [r["peak_mb"] for _, r in pts])
        out[step] = (bt, bm)
        print(f"{step:<14} time b={bt:5.2f}   memory b={bm:5.2f}   sizes {sizes_done}")
        print(f"scale_{axis}_{step}_time_exponent={bt:.3f}")
        print(f"scale_{axis}_{step}_memory_exponent={bm:.3f}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--axis", choices=("eeg", "cohort", "both"), default="both")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 240])
    parser.add_argument("--subjects", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--quick", action="store_true",
                        help="2, 5, 10 minutes and 20, 50, 100 subjects")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/Numba threads per worker (default 1: one core per job)")
    parser.add_argument("--max-mem-gb", type=float, default=None,
                        help="skip sizes predicted to need more (default: half of MemAvailable)")
    parser.add_argument("--worker", choices=("eeg", "cohort"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--steps", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
            if args.worker == "eeg":
                rows = eeg_worker(args.size, tmp, args.steps or EEG_STEPS)
            else:
                rows = cohort_worker(int(args.size), tmp, args.steps or COHORT_STEPS)
        # the high-water mark is reset before each step: the largest of theirs
        rss = max((r["rss_mb"] for r in rows), default=float("nan"))
        print(json.dumps({"rows": rows, "max_rss_mb": rss}))
        return

    if args.quick:
        args.minutes, args.subjects = [2, 5, 10], [20, 50, 100]
    if args.max_mem_gb is None:
        try:
            args.max_mem_gb = _meminfo_kb("MemAvailable") / 2**20 / 2
        except (OSError, KeyError):
            args.max_mem_gb = 4.0
    print(f"bench_scale: {os.cpu_count()} CPUs, {args.threads} thread(s) per worker, "
          f"memory cap {args.max_mem_gb:.1f} GB; EEG {N_CHANNELS} ch at {SFREQ:g} Hz, "
          f"windows {WINDOW_S:g} s every {STEP_S:g} s; cohort {N_ROIS} ROIs x {N_VOLUMES} volumes",
          flush=True)
    if args.axis in ("eeg", "both"):
        run_axis("eeg", args.minutes, "min", args.threads, args.max_mem_gb)
    if args.axis in ("cohort", "both"):
        run_axis("cohort", args.subjects, "subjects", args.threads, args.max_mem_gb)


def _meminfo_kb(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise KeyError(field)


if __name__ == "__main__":
    main()
