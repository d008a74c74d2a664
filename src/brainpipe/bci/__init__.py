"""BCI evaluation: pipelines, offline and pseudo-online evaluation, metrics (nMCC, ITR).

``brainpipe.bci.metrics`` is imported here (light); the modules that need
MOABB (:mod:`~brainpipe.bci.dataset`, :mod:`~brainpipe.bci.pipelines`,
:mod:`~brainpipe.bci.offline`) load on first use of their names, because
importing MOABB takes seconds.
"""

from importlib import import_module

from .metrics import itr, nmcc, nmcc_scorer

_LAZY = {
    "BIDSMotorImagery": "dataset",
    "get_dataset": "dataset",
    "PIPELINES": "pipelines",
    "make_pipeline": "pipelines",
    "make_pipelines": "pipelines",
    "evaluate_offline": "offline",
    "make_paradigm": "offline",
    "run_offline": "offline",
    "AugmentedCovarianceSearchCV": "acm_search",
    "ContinuousRun": "runs",
    "load_runs": "runs",
    "WindowDecoder": "window_decoder",
    "evaluate_pseudo_online": "online_evaluation",
    "run_pseudo_online": "pseudo_online",
}

__all__ = ["itr", "nmcc", "nmcc_scorer", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
