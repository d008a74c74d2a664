"""ACM order/lag hyper-parameter search: brainpipe against MOABB's grid search.

Workload: one session shaped like BNCI2014_001 (22 channels, 250 Hz, 288
trials of 4 s = 1001 samples, 4 motor-imagery classes), simulated here: mu
(8-13 Hz) and beta (18-26 Hz) rhythms of 8 cortical sources with
class-specific desynchronisation, mixed to the scalp with sensor noise, then
band-passed 8-32 Hz with MNE's default IIR filter (4th-order Butterworth,
forward-backward) as MOABB's ``MotorImagery`` paradigm does. After the filter a
small white noise (``--post-noise``, relative to the signal's standard
deviation; amplifier/ADC noise) keeps the high-order, lag-1 matrices away from
numerical singularity; with ``--post-noise 0`` their condition numbers reach
1e13, pyriemann's Riemannian mean stops converging (50 iterations and a
warning) and neither implementation's tangent vectors are defined beyond
rounding noise.

Compared on the same data, the same grid and the same folds, in one run:

- baseline: MOABB's ``AUG_TANG_SVM_grid``: ``GridSearchCV`` over
  ``make_pipeline(AugmentedDataset(), Covariances("cov"),
  TangentSpace(metric="riemann"), SVC())`` with
  ``moabb_param_grid(orders, lags, Cs, kernels)`` (``return_train_score=True``
  and ``n_jobs`` as MOABB's inner search);
- brainpipe ``AugmentedCovarianceSearchCV`` (``mode="grid"``), with
  ``n_jobs=1`` and with ``--n-jobs`` (default: all cores);
- brainpipe ``mode="embedding"`` (order and lag from AMI + Cao with 250
  reference points per series, then the SVC sub-grid), for its score next to
  the grid's.

Both sides get the whole machine by default: brainpipe with
``n_jobs=-1`` (threads, one BLAS thread each), the baseline with
``GridSearchCV(n_jobs=-1)`` (joblib processes, one BLAS thread each), the
fastest configuration a MOABB user can pick on a multi-core machine; MOABB's
own default (``n_jobs_grid=1``) is slower still (``--baseline-n-jobs 1``).
``acm_search_speedup`` is the baseline's time over brainpipe's, both with
all cores; the line above it gives brainpipe with ``n_jobs=1`` against the
same baseline.

The full MOABB grid (order 1-10 x lag 1-10 x C {0.5, 1, 1.5} x kernel {rbf,
linear}, 600 candidates) would take hours with the baseline on a 2-core
machine, so the default is the documented sub-grid order {1,2,3,4,6,8} x lag
{1,2,4} x C {0.5,1,1.5} x kernel {rbf,linear} (108 candidates), 5 folds.

Run::

    .venv/bin/python benchmarks/bench_acm_search.py            # default sub-grid
    .venv/bin/python benchmarks/bench_acm_search.py --quick    # ~1 minute smoke run
    .venv/bin/python benchmarks/bench_acm_search.py --orders 1-10 --lags 1-10   # MOABB's grid

The last line is ``acm_search_speedup=<float>``: baseline time (with
``--baseline-n-jobs``) over brainpipe time with ``--n-jobs``; the line above
gives brainpipe with ``n_jobs=1`` against the same baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

SFREQ = 250.0
N_CHANNELS = 22
MU_ERD, BETA_ERD, MU_ERS, MU_SHIFT = 0.75, 0.85, 1.15, 1.2


# ------------------------------------------------------------ simulation


def _ar2(rng, freq, radius, n_series, n_times, burn=250):
    """Narrow-band AR(2) resonators at ``freq`` Hz, unit-variance driving noise."""
    from scipy.signal import lfilter

    w = 2 * np.pi * freq / SFREQ
    a = [1.0, -2 * radius * np.cos(w), radius**2]
    noise = rng.standard_normal((n_series, n_times + burn))
    return lfilter([1.0], a, noise, axis=-1)[:, burn:]


def simulate_session(n_trials=288, n_channels=N_CHANNELS, n_times=1001, n_classes=4,
                     post_noise=1e-3, seed=0):
    """Band-passed motor-imagery epochs shaped like one BNCI2014_001 session.

    Returns
    -------
    X : ndarray, shape (n_trials, n_channels, n_times)
    y : ndarray, shape (n_trials,)
        Labels 0 .. n_classes - 1, balanced, shuffled.
    """
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed)
    n_src = 8
    # smooth mixing: each source projects to a patch of neighbouring channels
    pos = np.linspace(0, 1, n_channels)
    centres = np.linspace(0.05, 0.95, n_src)
    mixing = np.exp(-((pos[:, None] - centres[None]) ** 2) / 0.02)
    mixing += 0.1 * rng.standard_normal(mixing.shape)
    y = np.repeat(np.arange(n_classes), int(np.ceil(n_trials / n_classes)))[:n_trials]
    rng.shuffle(y)
    pad = 250  # filter on a longer segment, keep the middle (no edge effects)
    total = n_times + 2 * pad
    sos = butter(4, [8.0, 32.0], btype="bandpass", fs=SFREQ, output="sos")
    X = np.empty((n_trials, n_channels, n_times))
    for k in range(n_trials):
        mu = _ar2(rng, 10.5 + rng.normal(0, 0.5), 0.99, n_src, total)
        # the desynchronised rhythm also moves up in frequency: information in
        # the temporal structure that the augmented covariance can use
        k_erd = (2 * y[k]) % n_src
        mu[k_erd] = _ar2(rng, 10.5 + MU_SHIFT + rng.normal(0, 0.5), 0.99, 1, total)[0]
        beta = _ar2(rng, 22.0 + rng.normal(0, 1.0), 0.97, n_src, total)
        gain_mu = np.ones(n_src)
        gain_beta = np.ones(n_src)
        # class-specific desynchronisation (ERD) of one source, synchronisation
        # of another
        gain_mu[(2 * y[k]) % n_src] = MU_ERD
        gain_beta[(2 * y[k]) % n_src] = BETA_ERD
        gain_mu[(2 * y[k] + 3) % n_src] = MU_ERS
        sources = gain_mu[:, None] * mu + 0.5 * gain_beta[:, None] * beta
        background = np.cumsum(rng.standard_normal((n_src, total)), axis=1) * 0.05
        raw = mixing @ (sources + background)
        raw += 0.8 * rng.standard_normal(raw.shape) * raw.std()  # sensor noise
        X[k] = sosfiltfilt(sos, raw, axis=-1)[:, pad:pad + n_times]
    if post_noise:
        X += post_noise * X.std() * rng.standard_normal(X.shape)
    return X, y


# ------------------------------------------------------------ helpers


def _int_list(text):
    """"1,2,4" or "1-10" (or a mix: "1-4,6,8") -> list of int."""
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def _float_list(text):
    return [float(v) if "." in v else int(v) for v in text.split(",")]


def _baseline(X, y, grid, cv, n_jobs, blas_threads=None):
    from moabb.pipelines.features import AugmentedDataset
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    from brainpipe.features.acm_search import moabb_param_grid

    pipe = make_pipeline(AugmentedDataset(), Covariances(estimator="cov"),
                         TangentSpace(metric="riemann"), SVC(kernel="rbf"))
    search = GridSearchCV(pipe, moabb_param_grid(**grid), cv=cv, n_jobs=n_jobs,
                          refit=True, return_train_score=True)
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(record=True) as caught, \
            threadpool_limits(limits=blas_threads):
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        search.fit(X, y)
        elapsed = time.perf_counter() - t0
    # warnings of joblib worker processes do not reach this one
    n_noconv = (sum("Convergence not reached" in str(w.message) for w in caught)
                if n_jobs == 1 else None)
    return search, elapsed, n_noconv


def _ours(X, y, grid, cv, n_jobs, mode="grid", search_tol=1e-4):
    from brainpipe.features.acm_search import AugmentedCovarianceSearchCV

    search = AugmentedCovarianceSearchCV(**grid, cv=cv, estimator="cov", mode=mode,
                                         n_jobs=n_jobs, return_train_score=True,
                                         search_tol=search_tol,
                                         embedding_params={"n_ref": 250})
    t0 = time.perf_counter()
    search.fit(X, y)
    return search, time.perf_counter() - t0


def _as_ours(params):
    return {"order": params["augmenteddataset__order"],
            "lag": params["augmenteddataset__lag"],
            "C": params["svc__C"], "kernel": params["svc__kernel"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 96 trials, order {1,2,4} x lag {1,2} x "
                             "C {0.5,1} x kernel {rbf,linear}, 3 folds")
    parser.add_argument("--orders", type=_int_list, default=None,
                        help="orders, e.g. '1,2,3,4,6,8' (default) or '1-10'")
    parser.add_argument("--lags", type=_int_list, default=None,
                        help="lags in samples, e.g. '1,2,4' (default) or '1-10'")
    parser.add_argument("--Cs", type=_float_list, default=None,
                        help="SVC C values (default 0.5,1,1.5)")
    parser.add_argument("--kernels", default=None,
                        help="SVC kernels (default rbf,linear)")
    parser.add_argument("--folds", type=int, default=None, help="CV folds (default 5)")
    parser.add_argument("--trials", type=int, default=None, help="default 288")
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="brainpipe threads (default -1: all cores)")
    parser.add_argument("--baseline-n-jobs", type=int, default=-1,
                        help="GridSearchCV n_jobs (default -1: all cores, the "
                             "fastest baseline; MOABB's default is 1)")
    parser.add_argument("--baseline-blas-threads", type=int, default=None,
                        help="BLAS threads of the baseline (default: the "
                             "library's; 1 avoids OpenBLAS thread contention "
                             "on a busy machine)")
    parser.add_argument("--search-tol", type=float, default=1e-4,
                        help="gradient-norm tolerance of brainpipe's fold means "
                             "(default 1e-4, the estimator's; pyriemann: 1e-8)")
    parser.add_argument("--post-noise", type=float, default=1e-3,
                        help="white noise after the band-pass, relative std")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baseline", action="store_true",
                        help="time brainpipe only (no speedup line)")
    args = parser.parse_args(argv)

    os.environ.setdefault("MNE_DATA", tempfile.mkdtemp(prefix="mne_data_"))
    from sklearn.model_selection import StratifiedKFold

    quick = args.quick
    grid = {
        "orders": args.orders or ([1, 2, 4] if quick else [1, 2, 3, 4, 6, 8]),
        "lags": args.lags or ([1, 2] if quick else [1, 2, 4]),
        "Cs": args.Cs or ([0.5, 1] if quick else [0.5, 1, 1.5]),
        "kernels": (args.kernels.split(",") if args.kernels
                    else ["rbf", "linear"]),
    }
    n_folds = args.folds or (3 if quick else 5)
    n_trials = args.trials or (96 if quick else 288)
    n_cand = (len(grid["orders"]) * len(grid["lags"]) * len(grid["Cs"])
              * len(grid["kernels"]))

    X, y = simulate_session(n_trials=n_trials, post_noise=args.post_noise,
                            seed=args.seed)
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=args.seed)
    print(f"data: {X.shape[0]} trials x {X.shape[1]} channels x {X.shape[2]} samples "
          f"({SFREQ:.0f} Hz), {len(np.unique(y))} classes, band-pass 8-32 Hz, "
          f"post-filter noise {args.post_noise:g}")
    print(f"grid: order {grid['orders']} x lag {grid['lags']} x C {grid['Cs']} x "
          f"kernel {grid['kernels']} = {n_cand} candidates, "
          f"StratifiedKFold({n_folds}, shuffle=True, random_state={args.seed})")
    print(f"cpu cores: {os.cpu_count()}, load average: "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    sys.stdout.flush()

    # warm-up: Numba compilation is a one-off cost, not part of a search
    from brainpipe.kernels.lagged_products import lagged_products

    lagged_products(X[:2, :2, :50], 1, 2, backend="auto")

    tol = args.search_tol
    ours1, t_ours1 = _ours(X, y, grid, cv, n_jobs=1, search_tol=tol)
    print(f"brainpipe grid (n_jobs=1, search_tol={tol:g}): {t_ours1:.1f} s, "
          f"best {ours1.best_params_} score {ours1.best_score_:.4f}")
    oursn, t_oursn = _ours(X, y, grid, cv, n_jobs=args.n_jobs, search_tol=tol)
    print(f"brainpipe grid (n_jobs={args.n_jobs}): {t_oursn:.1f} s, best "
          f"{oursn.best_params_} score {oursn.best_score_:.4f}")
    emb, t_emb = _ours(X, y, grid, cv, n_jobs=args.n_jobs, mode="embedding",
                       search_tol=tol)
    print(f"brainpipe embedding (AMI + Cao): {t_emb:.1f} s, order "
          f"{emb.embedding_order_} lag {emb.embedding_lag_}, best {emb.best_params_} "
          f"score {emb.best_score_:.4f} (grid: {oursn.best_score_:.4f}, "
          f"difference {emb.best_score_ - oursn.best_score_:+.4f})")
    sys.stdout.flush()
    if args.skip_baseline:
        return

    base, t_base, n_noconv = _baseline(X, y, grid, cv, args.baseline_n_jobs,
                                       args.baseline_blas_threads)
    best_base = _as_ours(base.best_params_)
    blas = args.baseline_blas_threads or "default"
    print(f"MOABB AUG_TANG_SVM_grid (GridSearchCV, n_jobs={args.baseline_n_jobs}, "
          f"BLAS threads {blas}): "
          f"{t_base:.1f} s, best {best_base} score {base.best_score_:.4f}; "
          + (f"pyriemann mean not converged in {n_noconv} fits"
             if n_noconv is not None else "warnings stay in the worker processes"))
    same_order = [_as_ours(p) for p in base.cv_results_["params"]] == \
        oursn.cv_results_["params"]
    diff = np.abs(base.cv_results_["mean_test_score"]
                  - oursn.cv_results_["mean_test_score"])
    same_ranks = np.array_equal(base.cv_results_["rank_test_score"],
                                oursn.cv_results_["rank_test_score"])
    print(f"same candidate order: {same_order}; mean test scores: max |diff| "
          f"{diff.max():.2e}, {int((diff > 0).sum())} of {n_cand} differ; same "
          f"ranks: {bool(same_ranks)}")
    same = (best_base == oursn.best_params_
            and base.best_score_ == oursn.best_score_)
    print(f"same selection (order, lag, C, kernel and best score): {same}")
    agree = np.mean(base.predict(X) == oursn.predict(X))
    print(f"refitted pipelines agree on {agree:.1%} of the training trials")
    df_diff = np.abs(base.decision_function(X) - oursn.decision_function(X)).max()
    print(f"refitted decision values: max |diff| {df_diff:.1e}")
    print(f"speedup brainpipe n_jobs=1 vs baseline n_jobs={args.baseline_n_jobs}: "
          f"{t_base / t_ours1:.1f}x")
    print(f"acm_search_speedup={t_base / t_oursn:.2f}")


if __name__ == "__main__":
    main()
