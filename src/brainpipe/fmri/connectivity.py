"""Functional connectivity matrices from regional time series.

Per subject: Pearson and partial correlation (what nilearn's
:class:`~nilearn.connectome.ConnectivityMeasure` computes, in numpy:
:mod:`.subject_matrices`). Across subjects: the
tangent-space parametrisation (Varoquaux et al. 2010), fitted on all subjects
at once so that each subject's matrix is expressed at the group's geometric
mean. Matrices are written as XCP-D-style ``*_stat-<stat>_relmat.tsv``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, check_option, input_error
from ..io.atomic import all_or_nothing, sidecar_path, write_sidecar
from ..io.derivatives import STAT_LABELS
from ..io.fragments import fragment_item, write_fragment
from ._inputs import read_atlas_labels
from ._outputs import write_relmat
from .figures import plot_connectivity_matrices
from .subject_matrices import COV_ESTIMATORS, SUBJECT_KINDS, estimator_name, subject_matrix  # noqa: F401
from .timeseries import SECTION, SECTION_ORDER, read_timeseries

#: nilearn ``kind`` -> XCP-D / BIDS ``stat-`` entity of the relmat file.
STAT_NAMES = STAT_LABELS



def relmat_name(prefix, kind):
    """File name of a relmat: ``{prefix}_stat-{stat}_relmat.tsv``.

    >>> relmat_name("sub-01_task-rest_atlas-demo100", "partial correlation")
    'sub-01_task-rest_atlas-demo100_stat-partialcorrelation_relmat.tsv'
    """
    check_option("kind", kind, tuple(STAT_NAMES))
    return f"{prefix}_stat-{STAT_NAMES[kind]}_relmat.tsv"


def read_relmat(path):
    """Read an XCP-D-style relmat TSV.

    Returns
    -------
    matrix : pandas.DataFrame, shape (n_regions, n_regions)
        Index and columns are region names.
    """
    path = check_file(path, "connectivity matrix")
    df = pd.read_csv(path, sep="\t", index_col=0, na_values=["n/a"])
    if df.shape[0] != df.shape[1] or list(df.index.astype(str)) != list(df.columns):
        raise input_error(path, f"is not a square matrix with matching row and column names")
    return df


def _estimator(kind, cov_estimator):
    """The scikit-learn estimator for ``kind`` and its name (see
    :func:`.subject_matrices.estimator_name` for what ``"auto"`` picks)."""
    from sklearn.covariance import EmpiricalCovariance, LedoitWolf

    name = estimator_name(kind, cov_estimator)
    if name == "empirical":
        return EmpiricalCovariance(store_precision=False), name
    return LedoitWolf(store_precision=False), name


def connectivity(timeseries, kind="correlation", cov_estimator="auto"):
    """Connectivity matrices of time series.

    Parameters
    ----------
    timeseries : list of ndarray, each shape (n_times, n_regions)
    kind : str
        One of :data:`STAT_NAMES`.
    cov_estimator : {"auto", "empirical", "ledoit_wolf"}

    Returns
    -------
    matrices : ndarray, shape (n_subjects, n_regions, n_regions)
    measure : nilearn ConnectivityMeasure
        Fitted (``mean_`` is the group mean, the geometric mean for tangent).
    """
    from nilearn.connectome import ConnectivityMeasure

    check_option("kind", kind, tuple(STAT_NAMES))
    estimator, _ = _estimator(kind, cov_estimator)
    measure = ConnectivityMeasure(cov_estimator=estimator, kind=kind, standardize=False)
    mats = measure.fit_transform([np.asarray(t, dtype=float) for t in timeseries])
    if kind in ("correlation", "partial correlation"):
        # exact symmetry and unit diagonal (rounding leaves 1 +- 1e-16)
        mats = (mats + mats.transpose(0, 2, 1)) / 2
        for m in mats:
            np.fill_diagonal(m, 1.0)
    return mats, measure


def _region_info(timeseries_tsv, atlas_labels, names):
    """Networks of the regions: from the label table, else the TSV sidecar."""
    if atlas_labels is not None:
        table = read_atlas_labels(atlas_labels).set_index("name")
        missing = [n for n in names if n not in table.index]
        if missing:
            raise input_error(atlas_labels, f"has no row for regions {missing[:5]}")
        return table.loc[names, "network"].tolist()
    side = sidecar_path(timeseries_tsv)
    if side.exists():
        meta = json.loads(side.read_text())
        if meta.get("Regions") == list(names) and meta.get("Networks"):
            return meta["Networks"]
    return None


def _subject_label(path):
    name = Path(path).name
    return name.split("_")[0] if name.startswith("sub-") else name


def subject_connectivity(
    timeseries_tsv,
    outputs,
    *,
    cov_estimator="auto",
    atlas_labels=None,
    figure=None,
    fragment=None,
):
    """Connectivity matrices of one subject's regional time series.

    Parameters
    ----------
    timeseries_tsv : path-like
        From :func:`~brainpipe.fmri.extract_timeseries`, shape
        (n_volumes, n_regions).
    outputs : dict of str -> path-like
        ``kind`` -> relmat TSV, e.g. ``{"correlation": ..._stat-pearsoncorrelation_relmat.tsv,
        "partial correlation": ..._stat-partialcorrelation_relmat.tsv}``
        (see :func:`relmat_name`). Each file: shape (n_regions, n_regions),
        ``Node`` column then one column per region.
    cov_estimator : {"auto", "empirical", "ledoit_wolf"}
    atlas_labels : path-like | None
        Label table for the network order of the figure (else read from the
        time series sidecar).
    figure : path-like | None
        PNG with one panel per kind, regions grouped by network.
    fragment : path-like | None
        Report fragment (section "fMRI").

    Returns
    -------
    matrices : dict of str -> pandas.DataFrame
    """
    if not outputs:
        raise ValueError("outputs must map at least one connectivity kind to a file.")
    for kind in outputs:
        check_option("kind", kind, tuple(STAT_NAMES))
    table = read_timeseries(timeseries_tsv)
    names = list(table.columns)
    if len(table) <= 2:
        raise input_error(timeseries_tsv, "too few time points for connectivity")
    networks = _region_info(timeseries_tsv, atlas_labels, names)
    result = {}
    for kind in outputs:
        if kind in SUBJECT_KINDS:  # numpy, no nilearn import (same numbers: subject_matrices)
            mat = subject_matrix(table.to_numpy(), kind, cov_estimator)
        else:
            mat = connectivity([table.to_numpy()], kind, cov_estimator)[0][0]
        result[kind] = pd.DataFrame(mat, index=names, columns=names)

    with all_or_nothing(*outputs.values(), figure, fragment):
        for kind, path in outputs.items():
            write_relmat(path, result[kind].to_numpy(), names)
            write_sidecar(
                path, [timeseries_tsv], Kind=kind, Statistic=STAT_NAMES[kind],
                CovarianceEstimator=estimator_name(kind, cov_estimator),
                NumberOfTimePoints=int(len(table)),
            )
        if figure is not None:
            panels = {kind: result[kind].to_numpy() for kind in outputs}
            plot_connectivity_matrices(panels, figure, networks=networks, names=names,
                                       vmax=None)
        if fragment is not None:
            items = []
            if figure is not None:
                items.append(fragment_item(
                    "image", "Functional connectivity", path=figure,
                    caption=f"{', '.join(outputs)} between {len(names)} regions, grouped by "
                    "network (diagonal blanked).",
                ))
            corr = result.get("correlation")
            if corr is not None:
                off = corr.to_numpy()[np.triu_indices(len(names), 1)]
                items.append(fragment_item(
                    "html", "Connectivity summary",
                    html=f"<p>Mean Pearson r {off.mean():.3f} (SD {off.std():.3f}) over "
                    f"{off.size} region pairs, {len(table)} time points.</p>",
                ))
            write_fragment(fragment, SECTION, items, order=SECTION_ORDER + 1)
    return result


def group_connectivity(
    timeseries_tsvs,
    outputs,
    mean_output,
    *,
    kind="tangent",
    cov_estimator="auto",
    atlas_labels=None,
    figure=None,
    fragment=None,
):
    """Connectivity fitted across subjects (tangent space by default).

    Parameters
    ----------
    timeseries_tsvs : list of path-like, length n_subjects
        Regional time series; all with the same regions (columns).
    outputs : list of path-like, length n_subjects
        One relmat TSV per subject, shape (n_regions, n_regions)
        (``..._stat-tangent_relmat.tsv``).
    mean_output : path-like
        Group mean relmat: for ``kind="tangent"`` the geometric (Riemannian)
        mean covariance the tangent space is built at; otherwise the
        arithmetic mean of the subject matrices.
    kind : str
        ``"tangent"`` or another of :data:`STAT_NAMES`.
    cov_estimator : {"auto", "empirical", "ledoit_wolf"}
    atlas_labels : path-like | None
    figure : path-like | None
        PNG: group mean and the subjects' mean tangent deviation.
    fragment : path-like | None

    Returns
    -------
    matrices : ndarray, shape (n_subjects, n_regions, n_regions)
    mean : ndarray, shape (n_regions, n_regions)
    """
    check_option("kind", kind, tuple(STAT_NAMES))
    timeseries_tsvs = list(timeseries_tsvs)
    outputs = list(outputs)
    if len(timeseries_tsvs) != len(outputs):
        raise ValueError(
            f"Got {len(timeseries_tsvs)} time series but {len(outputs)} output paths."
        )
    if len(timeseries_tsvs) < 2:
        raise ValueError("Group connectivity needs at least 2 subjects.")
    tables = [read_timeseries(p) for p in timeseries_tsvs]
    names = list(tables[0].columns)
    for path, t in zip(timeseries_tsvs[1:], tables[1:]):
        if list(t.columns) != names:
            raise input_error(
                path, f"has regions that differ from {timeseries_tsvs[0]} (columns must match)"
            )
    mats, measure = connectivity([t.to_numpy() for t in tables], kind, cov_estimator)
    mean = np.asarray(measure.mean_)
    networks = _region_info(timeseries_tsvs[0], atlas_labels, names)

    with all_or_nothing(*outputs, mean_output, figure, fragment):
        estimator = estimator_name(kind, cov_estimator)
        for src, dst, mat in zip(timeseries_tsvs, outputs, mats):
            write_relmat(dst, mat, names)
            write_sidecar(dst, timeseries_tsvs, Kind=kind, Statistic=STAT_NAMES[kind],
                          CovarianceEstimator=estimator, Subject=str(src),
                          NumberOfSubjects=len(tables))
        write_relmat(mean_output, mean, names)
        write_sidecar(
            mean_output, timeseries_tsvs, Kind=kind, Statistic=STAT_NAMES[kind],
            Description=("geometric mean covariance (tangent-space reference point)"
                         if kind == "tangent" else "arithmetic mean of subject matrices"),
            CovarianceEstimator=estimator, NumberOfSubjects=len(tables),
        )
        if figure is not None:
            # (the subjects' tangent vectors average to ~0 by construction, so
            # show one subject and the spread instead of their mean)
            first = _subject_label(timeseries_tsvs[0])
            panels = {"group mean" if kind != "tangent" else "geometric mean covariance": mean,
                      f"{kind}: {first}": mats[0],
                      f"SD of {kind} over subjects": mats.std(axis=0)}
            plot_connectivity_matrices(panels, figure, networks=networks, names=names)
        if fragment is not None:
            items = []
            if figure is not None:
                items.append(fragment_item(
                    "image", f"Group connectivity ({kind})", path=figure,
                    caption=f"Tangent-space connectivity of {len(tables)} subjects over {len(names)} "
                            "regions grouped by network: the group's geometric-mean covariance, one "
                            "subject's deviation from it, and the SD of the deviations across subjects "
                            "(where subjects differ most).",
                ))
            items.append(fragment_item(
                "html", "Group connectivity",
                html=f"<p>{kind} connectivity of {len(tables)} subjects fitted jointly.</p>",
            ))
            write_fragment(fragment, "fMRI group", items, order=SECTION_ORDER + 2)
    return mats, mean
