"""The one place where ``backend=`` is turned into an implementation.

Each backend module exposes the same two functions, on validated input:
``window_covariances(x, window, step, order, lag, estimator)`` and
``epoch_covariances(X, order, lag, estimator)``. Modules are imported lazily
so that using the numpy reference never imports Numba or torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache

from brainpipe._check import check_option

__all__ = ["BACKENDS", "resolve_backend", "get_backend", "cuda_available"]

BACKENDS = ("auto", "numpy", "numba", "torch")

_MODULES = {
    "numpy": "brainpipe.kernels._reference",
    "numba": "brainpipe.kernels._numba",
    "torch": "brainpipe.kernels._torch",
}


@lru_cache(maxsize=1)
def cuda_available():
    """True when torch is installed and sees a CUDA device."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend):
    """Name of the backend that ``backend`` stands for.

    Parameters
    ----------
    backend : {"auto", "numpy", "numba", "torch"}
        ``"auto"`` is torch when CUDA is available, else Numba.

    Returns
    -------
    name : {"numpy", "numba", "torch"}
    """
    check_option("backend", backend, BACKENDS)
    if backend == "auto":
        return "torch" if cuda_available() else "numba"
    return backend


def get_backend(backend):
    """The module implementing ``backend`` (after :func:`resolve_backend`)."""
    return importlib.import_module(_MODULES[resolve_backend(backend)])
