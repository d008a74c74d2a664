"""fMRI: regional time series, functional connectivity (static and dynamic),
graph features and prediction of demographics from connectivity.

Each public step is a function from files to files (see the CLI):

* :func:`extract_timeseries`: BOLD + atlas (+ confounds) -> ``*_timeseries.tsv``
* :func:`subject_connectivity`: time series -> ``*_stat-<stat>_relmat.tsv``
* :func:`group_connectivity`: all subjects' time series -> tangent relmats + mean
* :func:`dynamic_connectivity`: all subjects' time series -> FC states, dwell
  times, transitions
* :func:`graph_features`: relmat -> node and network graph features
* :func:`predict_demographics`: relmats + participants.tsv -> site-aware CV
  scores with permutation p-values
"""

from importlib import import_module

# connectivity, graph and timeseries load nilearn only inside their functions
# (light); dynamic and prediction (scikit-learn, seconds) load on first use of
# their names: ``brainpipe fmri-graph``, one job per subject, needs neither,
# and the eager import of every submodule cost each such job about 2 CPU s.
# (``connectivity`` is also a submodule's name, so it cannot be lazy: the
# submodule, once imported, would shadow the function.)
from .connectivity import (
    STAT_NAMES,
    connectivity,
    group_connectivity,
    read_relmat,
    relmat_name,
    subject_connectivity,
)
from .graph import graph_features, graph_metrics, threshold_matrix
from .timeseries import extract_timeseries, read_timeseries

_LAZY = {
    "dynamic_connectivity": "dynamic",
    "fc_states": "dynamic",
    "sliding_window_correlations": "dynamic",
    "state_metrics": "dynamic",
    "taper_weights": "dynamic",
    "ConfoundRegressor": "prediction",
    "evaluate": "prediction",
    "make_model": "prediction",
    "predict_demographics": "prediction",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "STAT_NAMES",
    "ConfoundRegressor",
    "connectivity",
    "dynamic_connectivity",
    "evaluate",
    "extract_timeseries",
    "fc_states",
    "graph_features",
    "graph_metrics",
    "group_connectivity",
    "make_model",
    "predict_demographics",
    "read_relmat",
    "read_timeseries",
    "relmat_name",
    "sliding_window_correlations",
    "state_metrics",
    "subject_connectivity",
    "taper_weights",
    "threshold_matrix",
]
