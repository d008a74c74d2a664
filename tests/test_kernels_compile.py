"""`python -m brainpipe.kernels.compile` (run by `make venv`) caches every Numba
kernel for the argument types the package passes: later calls compile nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The package's own calls, with the inputs users give: float32 and
# Fortran-ordered data, numpy integers from a config or a grid search, every
# estimator, orders 1 and above, the chunked iterator the pseudo-online
# decoders use and the AugmentedCovariances transformer.
LATER_CALLS = """
import numpy as np
from brainpipe.features.acm import AugmentedCovariances
from brainpipe.kernels import epoch_covariances, iter_window_covariances, lagged_products, window_covariances

rng = np.random.default_rng(1)
x = np.asfortranarray(rng.standard_normal((22, 3000)).astype(np.float32))
X = rng.standard_normal((12, 22, 500))
for est in ("scm", "cov", "oas", "lwf"):
    for order, lag in ((1, 1), (np.int64(4), np.int64(3)), (8, 1)):
        window_covariances(x, 250, 25, order=order, lag=lag, estimator=est, backend="numba")
        epoch_covariances(X, order=order, lag=lag, estimator=est, backend="numba")
        for _ in iter_window_covariances(x, 250, 25, chunk=16, order=order, lag=lag, estimator=est,
                                         backend="numba"):
            pass
AugmentedCovariances(order=3, lag=2, estimator="oas", backend="numba").fit(X[:, :8]).transform(X[:, :8])
lagged_products(X, 3, 4, backend="numba")
"""


def _cache_files(root):
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(root).rglob("*") if p.is_file()}


def _run(code, env):
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_compiled_cache_covers_the_package_calls(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    out = _run("from brainpipe.kernels.compile import compile_kernels; compile_kernels()", env).stdout
    assert "compiled and cached" in out
    compiled = _cache_files(tmp_path)
    names = {Path(p).name.split("-")[0] for p in compiled if p.endswith(".nbi")}
    assert {"_numba._windows_kernel", "_numba._epochs_kernel", "_numba._segment",
            "lagged_products._numba_kernel.locals.kernel"} <= names, names
    _run(LATER_CALLS, env)
    # a call with a new signature would have rewritten an index (.nbi) and added machine code (.nbc)
    assert _cache_files(tmp_path) == compiled
