"""Hot loops: sliding windows and (augmented) covariance matrices.

Leaves of the package: they depend on numpy, scipy, Numba and torch (and
``brainpipe._check``) only. Every
kernel has a plain numpy reference (``backend="numpy"``) the fast backends
are tested against; ``backend="auto"`` picks CUDA torch when a GPU is
present, Numba otherwise.

Public functions
----------------
sliding_windows(x, window, step)
    (n_channels, n_times) -> (n_windows, n_channels, window) zero-copy view.
window_starts(n_times, window, step)
    First sample of every window, to time-stamp them.
window_covariances(x, window, step, *, order=1, lag=1, estimator="scm", backend="auto")
    (n_channels, n_times) -> (n_windows, n_channels*order, n_channels*order).
iter_window_covariances(x, window, step, *, chunk=256, ...)
    The same, yielded chunk by chunk with bounded memory.
epoch_covariances(X, *, order=1, lag=1, estimator="scm", backend="auto")
    (n_trials, n_channels, n_times) -> (n_trials, n_channels*order, n_channels*order).
augmented_dataset(X, order, lag)
    numpy copy of MOABB's ``AugmentedDataset`` delay embedding.
riemann_mean_logmaps(covmats, *, init=None, tol=1e-9, backend="auto", ...)
    (n_matrices, n, n) -> the affine-invariant Riemannian mean (n, n), by
    Newton steps, with the matrices' tangent vectors at it.
tangent_vectors_at(covmats, mean, *, backend="auto")
    (n_matrices, n, n) -> pyriemann's tangent vectors at ``mean``.
whitened_log_upper(covmats, whitener, *, n_jobs=-1, backend="numpy", dtype="float64")
    (n_matrices, n, n) -> (n_matrices, n(n+1)/2) tangent vectors ``upper(logm(P C P))``,
    one ``eigh`` per matrix on threads of one BLAS thread (what decisions use).
riemann_distances(covmats, whiteners, *, n_jobs=-1, backend="numpy")
    (n_matrices, n, n), (n_refs, n, n) -> (n_matrices, n_refs) affine-invariant distances.
"""

from brainpipe.kernels._backend import BACKENDS, resolve_backend
from brainpipe.kernels._reference import ESTIMATORS, augmented_dataset
from brainpipe.kernels.covariance import (
    epoch_covariances,
    iter_window_covariances,
    window_covariances,
)
from brainpipe.kernels.windows import (
    effective_length,
    n_windows,
    sliding_windows,
    window_starts,
)

from brainpipe.kernels.riemann_mean import riemann_mean_logmaps, tangent_vectors_at
from brainpipe.kernels.spd import riemann_distances, whitened_log_upper
from brainpipe.kernels.lagged_products import (  # noqa: E402
    LaggedProducts,
    assemble_covariances,
    lagged_augmented_covariances,
    lagged_products,
)

__all__ = [
    "riemann_mean_logmaps",
    "tangent_vectors_at",
    "riemann_distances",
    "whitened_log_upper",
    "LaggedProducts",
    "assemble_covariances",
    "lagged_augmented_covariances",
    "lagged_products",
    "BACKENDS",
    "ESTIMATORS",
    "augmented_dataset",
    "effective_length",
    "epoch_covariances",
    "iter_window_covariances",
    "n_windows",
    "resolve_backend",
    "sliding_windows",
    "window_covariances",
    "window_starts",
]
