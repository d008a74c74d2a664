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


#: The BCI evaluations, in MOABB's words (``WithinSessionEvaluation``,
#: ``CrossSessionEvaluation``): the values of ``bci.offline.evaluations`` and
#: ``bci.pseudo_online.evaluations`` and of the ``evaluation`` column of every
#: score table, figure legend and report table.
EVALUATIONS = ("within-session", "cross-session")

#: Earlier names of :data:`EVALUATIONS` (the offline step's), still accepted in
#: a config: :func:`evaluation_names` maps them, with a DeprecationWarning.
EVALUATION_ALIASES = {"within": "within-session", "cross": "cross-session"}


def evaluation_names(values, parameter="evaluations", notes=None):
    """The evaluations ``values`` names, in the words of :data:`EVALUATIONS`.

    The one place where the old names of :data:`EVALUATION_ALIASES`
    (``"within"``, ``"cross"``) become the new ones; old names give one
    DeprecationWarning (or one line in ``notes``) saying what to write instead.

    Parameters
    ----------
    values : str | sequence of str
        ``"within-session"`` and/or ``"cross-session"`` (or their old names).
    parameter : str
        The parameter's name in errors and warnings.
    notes : list | None
        Where to append the deprecation note instead of warning (the
        workflow prints it at start).

    Returns
    -------
    names : list of str
        The values in the words of :data:`EVALUATIONS`, each once, in order.
    """
    import warnings

    from .._check import check_option, validate_type

    if isinstance(values, str):
        values = [values]
    validate_type(values, (list, tuple), parameter)
    names, old = [], []
    for value in values:
        if isinstance(value, str) and value in EVALUATION_ALIASES:
            old.append(value)
            value = EVALUATION_ALIASES[value]
        value = check_option(parameter, value, EVALUATIONS)
        if value not in names:
            names.append(value)
    if old:
        new = [EVALUATION_ALIASES[v] for v in old]
        note = (f"{parameter}: {old} are the old names of {new}; write {new} (MOABB's "
                "WithinSession/CrossSession evaluations), the old names will stop working")
        if notes is not None:
            notes.append(note)
        else:
            warnings.warn(note, DeprecationWarning, stacklevel=2)
    return names


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
