"""Compatibility names: the ACM search moved to where each part belongs.

* :class:`~brainpipe.bci.acm_search.AugmentedCovarianceSearchCV` and
  :func:`~brainpipe.bci.acm_search.moabb_param_grid`: model selection, with
  the pipelines in :mod:`brainpipe.bci`;
* :func:`~brainpipe.kernels.riemann_mean.riemann_mean_logmaps`: the Newton
  Riemannian mean, a kernel (``backend=`` is the kernels' one switch).

Import them from there; the search names resolve here on first use (so that
importing :mod:`brainpipe.features` does not import :mod:`brainpipe.bci`).
"""

from importlib import import_module

from ..kernels.riemann_mean import riemann_mean_logmaps

__all__ = ["AugmentedCovarianceSearchCV", "moabb_param_grid", "riemann_mean_logmaps"]

_MOVED = {"AugmentedCovarianceSearchCV": "brainpipe.bci.acm_search",
          "moabb_param_grid": "brainpipe.bci.acm_search"}


def __getattr__(name):
    if name in _MOVED:
        return getattr(import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
