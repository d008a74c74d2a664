"""BIDS-derivatives conventions for outputs: names and dataset_description."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from .atomic import write_json

#: Entities in the order BIDS writes them (the subset we use).
ENTITY_ORDER = ("sub", "ses", "task", "acq", "run", "space", "res", "atlas", "seg", "stat", "desc")

#: nilearn connectivity ``kind`` -> XCP-D / BIDS ``stat-`` entity of its relmat file
#: (the one table: the workflow's file names and :mod:`brainpipe.fmri.connectivity` read it).
STAT_LABELS = {
    "correlation": "pearsoncorrelation",
    "partial correlation": "partialcorrelation",
    "tangent": "tangent",
    "covariance": "covariance",
    "precision": "precision",
}

#: ``desc-`` label of every report fragment a stage writes, subject and group
#: (``*_desc-<label>_fragment.json``): rules name their outputs and the report
#: lists its inputs through :func:`fragment_name`, so the two cannot disagree.
FRAGMENTS = {
    "subject": ("eeg", "eegcov", "offline", "pseudoonline", "fmri", "fc", "graph", "mri",
                "demovae", "brainmae"),
    "group": ("tangent", "dynamic", "prediction", "pseudoonline", "demovae", "demovaesynth",
              "demovaeharmonize", "predictionharmonized", "brainmae", "brainmaeprobe", "tfm"),
}


def stat_label(kind):
    """XCP-D's ``stat-`` entity of a nilearn connectivity ``kind``."""
    from .._check import check_option

    return STAT_LABELS[check_option("kind", kind, tuple(STAT_LABELS))]


def fragment_name(level, desc, prefix=None):
    """File name of a report fragment: ``[<prefix>_]desc-<desc>_fragment.json``.

    Parameters
    ----------
    level : {"subject", "group"}
    desc : str
        One of :data:`FRAGMENTS` ``[level]``.
    prefix : str | None
        Entities before ``desc`` (a run or session key, e.g. ``"ses-1_task-imagery_run-1"``).
    """
    from .._check import check_option

    check_option("desc", desc, FRAGMENTS[check_option("level", level, tuple(FRAGMENTS))])
    name = f"desc-{desc}_fragment.json"
    return f"{prefix}_{name}" if prefix else name


def bids_name(suffix, extension, **entities):
    """Build a BIDS-style file name with entities in BIDS order.

    Parameters
    ----------
    suffix : str
        The BIDS suffix (``"eeg"``, ``"relmat"``, ``"timeseries"``...).
    extension : str
        The extension with its dot (``".tsv"``, ``".nii.gz"``).
    **entities : str | int | None
        Entity values by key (``sub="01", ses="1", atlas="demo100"``);
        ``None`` values are left out.

    Returns
    -------
    name : str

    Examples
    --------
    >>> bids_name("relmat", ".tsv", sub="01", task="rest", atlas="demo100",
    ...           stat="pearsoncorrelation")
    'sub-01_task-rest_atlas-demo100_stat-pearsoncorrelation_relmat.tsv'
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"Unknown BIDS entities {sorted(unknown)}; allowed are {ENTITY_ORDER}")
    parts = [f"{key}-{entities[key]}" for key in ENTITY_ORDER if entities.get(key) is not None]
    return "_".join(parts + [suffix]) + extension


def write_dataset_description(results_dir, sources=(), name="brainpipe derivatives"):
    """Write ``dataset_description.json`` of the derivatives folder.

    Parameters
    ----------
    results_dir : path-like
        The derivatives root (``results/``).
    sources : sequence of str
        BIDS roots or URIs the derivatives were computed from.
    name : str
        Dataset name.
    """
    desc = {
        "Name": name,
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "brainpipe",
                "Version": __version__,
                "Description": "Snakemake workflow: preprocessing, features, BCI evaluation, reports",
            }
        ],
        "SourceDatasets": [{"URL": str(s)} for s in sources],
    }
    return write_json(Path(results_dir) / "dataset_description.json", desc)
