"""fMRI: regional time series, functional connectivity (static and dynamic),
graph features and prediction of demographics from connectivity.

Each public step is a function from files to files (see the CLI):

* :func:`extract_timeseries`: BOLD + atlas (+ confounds) -> ``*_timeseries.tsv``
* :func:`subject_connectivity`: time series -> ``*_stat-<stat>_relmat.tsv``
* :func:`group_connectivity`: all subjects' time series -> tangent relmats + mean
"""

from .connectivity import (
    STAT_NAMES,
    connectivity,
    group_connectivity,
    read_relmat,
    relmat_name,
    subject_connectivity,
)
from .timeseries import extract_timeseries, read_timeseries

__all__ = [
    "STAT_NAMES",
    "connectivity",
    "extract_timeseries",
    "group_connectivity",
    "read_relmat",
    "read_timeseries",
    "relmat_name",
    "subject_connectivity",
]
