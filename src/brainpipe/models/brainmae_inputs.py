"""BrainMAE's inputs: ROI time series tables, their TR, group FC, checkpoint names."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, input_error

__all__ = ["checkpoint_path", "common_tr", "fc_features", "group_fc", "network_order",
           "read_timeseries", "subject_label"]


def subject_label(path):
    """The ``sub-<label>`` of a file name."""
    m = re.search(r"sub-([A-Za-z0-9]+)", Path(path).name)
    if m is None:
        raise input_error(path, "file name has no sub-<label> entity")
    return m.group(1)


def read_timeseries(paths):
    """Read ROI time series TSVs (rows = TRs, columns = ROIs).

    Parameters
    ----------
    paths : list of path-like
        One TSV per subject (``sub-<label>`` in the name), same columns in all.

    Returns
    -------
    series : list of ndarray, shape (n_times, n_rois) each
    subjects : list of str
        Labels without ``sub-``.
    rois : list of str
    """
    series, subjects, rois = [], [], None
    for p in paths:
        p = check_file(p, "ROI time series")
        df = pd.read_csv(p, sep="\t", na_values=["n/a"])
        if rois is None:
            rois = list(df.columns)
        elif list(df.columns) != rois:
            raise input_error(p, f"has ROI columns that differ from {paths[0]}")
        x = df.to_numpy(dtype=float)
        if not np.isfinite(x).all():
            raise input_error(p, "has missing or infinite values")
        series.append(x)
        subjects.append(subject_label(p))
    if not series:
        raise ValueError("No ROI time series were given.")
    return series, subjects, rois


def common_tr(bold_files):
    """The repetition time shared by every BOLD run (from the JSON sidecars).

    Raises naming the first file whose TR differs.
    """
    from ..fmri._inputs import read_tr

    trs = [read_tr(b) for b in bold_files]
    if not trs:
        raise ValueError("No BOLD files were given to read the TR from.")
    for b, tr in zip(bold_files, trs):
        if abs(tr - trs[0]) > 1e-6 * trs[0]:
            raise input_error(b, f"RepetitionTime {tr} s differs from {trs[0]} s of {bold_files[0]}; "
                                 "BrainMAE segments need one TR")
    return trs[0]


def group_fc(series):
    """Group FC and covariance of training subjects.

    Parameters
    ----------
    series : list of ndarray, shape (n_times, n_rois) each

    Returns
    -------
    fc : ndarray, shape (n_rois, n_rois)
        Mean Pearson correlation over subjects.
    cov : ndarray, shape (n_rois, n_rois)
        Ledoit-Wolf covariance of the pooled z-scored series (shrunk, so the
        conditional-mean baseline stays stable with few TRs).
    """
    from sklearn.covariance import LedoitWolf

    z = [(x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0) for x in series]
    fc = np.mean([np.corrcoef(s.T) for s in z], axis=0)
    cov = LedoitWolf(assume_centered=True).fit(np.concatenate(z)).covariance_
    return fc, cov


def fc_features(series):
    """Fisher-z upper triangles of each subject's Pearson FC, shape (n_subjects, n_edges)."""
    n = series[0].shape[1]
    iu = np.triu_indices(n, 1)
    return np.stack([np.arctanh(np.clip(np.corrcoef(x.T)[iu], -0.999999, 0.999999)) for x in series])


def network_order(rois, atlas_labels):
    """ROI order grouping networks (when the label table has them) and the boundaries."""
    if atlas_labels is None:
        return np.arange(len(rois)), []
    from ..fmri._inputs import read_atlas_labels

    labels = read_atlas_labels(atlas_labels)
    net = dict(zip(labels["name"].astype(str), labels["network"].astype(str)))
    nets = [net.get(r, "") for r in rois]
    if not any(nets):
        return np.arange(len(rois)), []
    order = np.array(sorted(range(len(rois)), key=lambda i: (nets[i], i)))
    sorted_nets = [nets[i] for i in order]
    bounds = [i for i in range(1, len(order)) if sorted_nets[i] != sorted_nets[i - 1]]
    return order, bounds


def checkpoint_path(checkpoint_dir, out_model, params):
    """Resumable checkpoint named after a hash of the run's settings and inputs,
    so a changed configuration never resumes from a stale one."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    out_model = Path(out_model)
    folder = out_model.parent if checkpoint_dir is None else Path(checkpoint_dir)
    return folder / f".{out_model.name}.{key}.ckpt"
