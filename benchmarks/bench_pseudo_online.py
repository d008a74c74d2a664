"""Pseudo-online decoding throughput: brainpipe's window decoder against plain pyriemann/scikit-learn.

Same continuous signals, same windows (1 s every 0.1 s for decisions, every
0.25 s for training), same pipeline definitions. brainpipe: the covariance
front streamed by the kernels (:class:`brainpipe.bci.pseudo_online.WindowDecoder`),
then the pipeline's own tangent space and classifier (``fast=True``:
:class:`~brainpipe.features.RiemannTangentSpace` and
:class:`~brainpipe.features.GramSVC`). Baseline: every window cut out as an
epoch and passed through the pipeline built from pyriemann / MOABB / libsvm
(``fast=False``; ACM through MOABB's ``AugmentedDataset``), the fastest way a
user of those libraries decides on overlapping windows.

Per pipeline it prints fit time, decisions per second end to end (covariance,
tangent space, classifier) and the agreement of the two sets of decisions;
the last line is ``pseudo_online_speedup=<float>``, the smallest ratio of
decision throughputs over the pipelines.

Usage::

    .venv/bin/python benchmarks/bench_pseudo_online.py [--minutes 5] [--pipelines csp_lda ts_svm mdm acm_ts_svm]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SFREQ = 250.0


def simulate_run(minutes, n_channels, seed):
    """A continuous run with cued periods: class 1 and 2 lower the power of
    one channel group (ERD-like), idle elsewhere. Returns (x, labels per sample)."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * SFREQ)
    x = rng.standard_normal((n_channels, n))
    lab = np.zeros(n, dtype=int)
    t = int(2 * SFREQ)
    while t + 4 * SFREQ < n:
        cls = rng.integers(1, 3)
        seg = slice(t, t + int(4 * SFREQ))
        lab[seg] = cls
        group = slice(0, n_channels // 2) if cls == 1 else slice(n_channels // 2, n_channels)
        x[group, seg] *= 0.6
        t += int(4 * SFREQ + rng.uniform(2, 4) * SFREQ)
    # a little spatial mixing so covariances are not diagonal
    mix = np.eye(n_channels) + 0.2 * rng.standard_normal((n_channels, n_channels))
    return mix @ x, lab


def window_labels(lab, window, step):
    starts = np.arange(0, len(lab) - window + 1, step)
    mid = lab[starts + window // 2]
    return starts, mid


def pipelines(names, fast):
    from brainpipe.bci.pipelines import make_pipeline

    out = {}
    for name in names:
        if name == "acm_ts_svm":
            impl = "brainpipe" if fast else "moabb"
            out[name] = make_pipeline(name, order=4, lag=2, implementation=impl, fast=fast)
        elif name in ("ts_svm",):
            out[name] = make_pipeline(name, fast=fast)
        else:
            out[name] = make_pipeline(name)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the training and test runs")
    parser.add_argument("--channels", type=int, default=22)
    parser.add_argument("--pipelines", nargs="+", default=["csp_lda", "ts_svm", "mdm", "acm_ts_svm"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_info

    from brainpipe.bci.pseudo_online import WindowDecoder
    from brainpipe.kernels import sliding_windows

    window, step, train_step = int(SFREQ), int(0.1 * SFREQ), int(0.25 * SFREQ)
    xtr, ltr = simulate_run(args.minutes, args.channels, args.seed)
    xte, lte = simulate_run(args.minutes, args.channels, args.seed + 1)
    idx_tr, _ = window_labels(ltr, window, train_step)
    _, ytr = window_labels(ltr, window, train_step)
    starts_te, yte = window_labels(lte, window, step)
    sel = [(np.arange(len(idx_tr)), ytr, train_step)]
    blas = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
    print(f"{args.channels} channels, {SFREQ:.0f} Hz, {args.minutes:g} min runs: {len(ytr)} training windows "
          f"(every 0.25 s), {len(yte)} test windows (1 s every 0.1 s); BLAS threads {blas}")
    ours_p, base_p = pipelines(args.pipelines, True), pipelines(args.pipelines, False)
    train_epochs = np.ascontiguousarray(sliding_windows(xtr, window, train_step))
    test_view = sliding_windows(xte, window, step)
    ratios = {}
    print(f"{'pipeline':<12} {'fit ours':>9} {'fit base':>9} {'win/s ours':>11} {'win/s base':>11} {'ratio':>7} "
          f"{'agree':>6} {'nMCC-acc ours':>13}")
    for name in args.pipelines:
        t0 = time.perf_counter()
        dec = WindowDecoder(ours_p[name], window, step).fit([xtr], sel)
        fit_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_ours = dec.predict(xte)
        if isinstance(y_ours, tuple):
            y_ours = y_ours[0]
        t_ours = time.perf_counter() - t0

        base = base_p[name]
        t0 = time.perf_counter()
        base.fit(train_epochs, ytr)
        fit_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_base = np.concatenate([base.predict(np.ascontiguousarray(test_view[i:i + 256]))
                                 for i in range(0, len(test_view), 256)])
        t_base = time.perf_counter() - t0
        n = len(y_base)
        r = (n / t_ours) / (n / t_base)
        ratios[name] = r
        agree = float(np.mean(np.asarray(y_ours)[:n] == y_base))
        acc = float(np.mean(np.asarray(y_ours)[:n] == yte[:n]))
        print(f"{name:<12} {fit_ours:8.2f}s {fit_base:8.2f}s {n / t_ours:11.0f} {n / t_base:11.0f} {r:6.1f}x "
              f"{agree:6.3f} {acc:13.3f}  ({dec.mode_})")
    slowest = min(ratios, key=ratios.get)
    print(f"slowest ratio: {slowest}")
    print(f"pseudo_online_speedup={ratios[slowest]:.2f}")


if __name__ == "__main__":
    main()
