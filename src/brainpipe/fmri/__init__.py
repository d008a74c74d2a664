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

from .connectivity import (
    STAT_NAMES,
    connectivity,
    group_connectivity,
    read_relmat,
    relmat_name,
    subject_connectivity,
)
from .dynamic import (
    dynamic_connectivity,
    fc_states,
    sliding_window_correlations,
    state_metrics,
    taper_weights,
)
from .graph import graph_features, graph_metrics, threshold_matrix
from .prediction import ConfoundRegressor, evaluate, make_model, predict_demographics
from .timeseries import extract_timeseries, read_timeseries

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
