"""Compile the Numba kernels once and cache them on disk (``python -m brainpipe.kernels.compile``).

The kernels are ``@njit(cache=True)``: the first process that calls one
compiles it for the argument types it sees (10-20 s for the parallel
covariance kernels on 2 cores) and writes the machine code beside the module
(``__pycache__``); every later process loads it in a fraction of a second.
Without a cache, the first jobs of a workflow run pay that compilation, each
of them, when they start side by side (on the 2-core demo the first
pseudo-online fits took 19 s instead of 4). ``make venv`` therefore runs this
module once after installing, as pip compiles ``.pyc`` files.

The calls below use the argument types the package's callers pass (float64
C-contiguous arrays, Python ints): the same signatures, so nothing is
compiled again later. ``tests/test_kernels_compile.py`` checks that a run of
the workflow's covariance paths adds no signature to the cache afterwards.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["compile_kernels"]


def compile_kernels(verbose=True):
    """Compile (or load from the cache) every Numba kernel, for the workflow's argument types.

    Parameters
    ----------
    verbose : bool, default=True
        Print one line with the seconds it took.

    Returns
    -------
    seconds : float
        Wall-clock seconds spent (about 20 the first time, under 3 once cached).
    """
    from brainpipe.kernels import epoch_covariances, lagged_products, window_covariances

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 400))
    X = rng.standard_normal((3, 4, 100))
    # the estimator, order and lag are runtime integers of the kernels: one
    # call each compiles every signature (the tests check orders 1-8, every
    # estimator, float32 and Fortran-ordered inputs add none)
    window_covariances(x, 50, 10, order=2, lag=2, estimator="oas", backend="numba")
    epoch_covariances(X, order=2, lag=2, estimator="oas", backend="numba")
    lagged_products(X, 2, 2, backend="numba")
    seconds = time.perf_counter() - start
    if verbose:
        print(f"brainpipe: Numba kernels compiled and cached in {seconds:.1f} s")
    return seconds


if __name__ == "__main__":
    compile_kernels()
