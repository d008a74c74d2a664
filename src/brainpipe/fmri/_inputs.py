"""Reading and checking fMRI inputs: BOLD, TR, atlas, labels, confounds.

Every check raises :class:`~brainpipe._check.BrainpipeInputError` naming the
file and what is wrong, before any output is written.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, input_error

#: Columns regressed out when a confounds TSV is given without a column list
#: or a strategy: the six rigid-body motion parameters plus the mean signals
#: of white matter and CSF (nilearn's "simple" strategy without derivatives).
DEFAULT_CONFOUND_COLUMNS = (
    "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
    "white_matter", "csf",
)

#: Denoising strategies of ``nilearn.interfaces.fmriprep.load_confounds_strategy``.
NILEARN_STRATEGIES = ("simple", "scrubbing", "compcor", "ica_aroma")


def load_bold(path):
    """Load a 4D BOLD image or raise naming the file.

    Parameters
    ----------
    path : path-like
        NIfTI file, shape (x, y, z, n_volumes).

    Returns
    -------
    img : nibabel.Nifti1Image
    """
    import nibabel as nib

    path = check_file(path, "BOLD image")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises several types for bad files
        raise input_error(path, f"cannot be read as NIfTI ({exc})") from exc
    if img.ndim != 4:
        raise input_error(
            path, f"BOLD image must be 4D (x, y, z, time), got {img.ndim}D with shape {img.shape}"
        )
    if img.shape[3] < 3:
        raise input_error(path, f"BOLD image has only {img.shape[3]} volume(s)")
    return img


def bold_sidecar(path):
    """Path of the BIDS JSON sidecar of a BOLD file (``.nii.gz`` -> ``.json``)."""
    path = Path(path)
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def read_tr(bold_path, tr=None):
    """Return the repetition time in seconds.

    ``tr`` wins when given; otherwise ``RepetitionTime`` is read from the
    BOLD file's JSON metadata, the BIDS way: the sidecar beside it or one
    higher up that applies to it (e.g. a top-level ``task-rest_bold.json``;
    :func:`brainpipe.io.layout.sidecar_metadata`). The NIfTI header is not
    trusted because converters often leave it at 1 or 0.
    """
    if tr is not None:
        tr = float(tr)
        if not tr > 0:
            raise ValueError(f"tr must be > 0 seconds, got {tr!r}")
        return tr
    from ..io.layout import sidecar_metadata

    sidecar = bold_sidecar(bold_path)
    meta = sidecar_metadata(bold_path)
    value = meta.get("RepetitionTime")
    if value is None:
        where = sidecar.name if sidecar.exists() else f"{sidecar.name} (absent) or a sidecar above it"
        raise input_error(bold_path, f"no RepetitionTime in {where} (pass tr= to override)")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise input_error(sidecar, f"RepetitionTime must be a number, got {value!r}") from None
    if not value > 0:
        raise input_error(sidecar, f"RepetitionTime must be > 0, got {value}")
    return value


def read_atlas_labels(path):
    """Read an atlas label table (BIDS ``dseg.tsv``).

    Parameters
    ----------
    path : path-like
        TSV with an ``index`` column and a ``name`` (or XCP-D's ``label``)
        column; a ``network`` column is optional.

    Returns
    -------
    labels : pandas.DataFrame
        Columns ``index`` (int), ``name`` (str), ``network`` (str), one row
        per region, sorted by ``index``, background (0) removed.
    """
    path = check_file(path, "atlas label table")
    table = pd.read_csv(path, sep="\t")
    if "name" not in table.columns and "label" in table.columns:
        table = table.rename(columns={"label": "name"})
    missing = {"index", "name"} - set(table.columns)
    if missing:
        raise input_error(
            path, f"atlas label table needs columns 'index' and 'name', missing {sorted(missing)}"
        )
    table = table[table["index"] != 0].copy()
    if table.empty:
        raise input_error(path, "atlas label table lists no region")
    table["index"] = table["index"].astype(int)
    table["name"] = table["name"].astype(str)
    if table["index"].duplicated().any() or table["name"].duplicated().any():
        raise input_error(path, "atlas label table has duplicated indices or names")
    if "network" not in table.columns:
        table["network"] = "n/a"
    # an all-empty column reads as float64: fill as objects (pandas 3 refuses
    # a string fill value on a float column)
    table["network"] = table["network"].astype(object).fillna("n/a").astype(str)
    return table.sort_values("index").reset_index(drop=True)[["index", "name", "network"]]


def atlas_on_bold_grid(atlas_path, bold_img, labels):
    """Load a label atlas and resample it (nearest neighbour) onto the BOLD grid.

    Parameters
    ----------
    atlas_path : path-like
        3D integer label image.
    bold_img : nibabel.Nifti1Image
        4D BOLD image, shape (x, y, z, n_volumes).
    labels : pandas.DataFrame
        From :func:`read_atlas_labels`.

    Returns
    -------
    atlas : nibabel.Nifti1Image
        Label image of shape (x, y, z) on the BOLD grid.
    resampled : bool
        Whether resampling was needed.
    """
    import nibabel as nib
    from nilearn.image import resample_to_img

    atlas_path = check_file(atlas_path, "atlas")
    atlas = nib.load(atlas_path)
    if atlas.ndim == 4 and atlas.shape[3] == 1:
        atlas = nib.Nifti1Image(np.asanyarray(atlas.dataobj)[..., 0], atlas.affine, atlas.header)
    if atlas.ndim != 3:
        raise input_error(atlas_path, f"atlas must be a 3D label image, got shape {atlas.shape}")
    data = np.asanyarray(atlas.dataobj)
    if not np.allclose(data, np.round(data)):
        raise input_error(atlas_path, "atlas must hold integer labels, found non-integer values")
    present = set(np.unique(data).astype(int)) - {0}
    unknown = present - set(labels["index"])
    if unknown:
        raise input_error(
            atlas_path, f"atlas has labels {sorted(unknown)[:10]} missing from the label table"
        )
    absent = set(labels["index"]) - present
    if absent:
        raise input_error(
            atlas_path, f"label table regions {sorted(absent)[:10]} do not occur in the atlas"
        )
    target_shape = bold_img.shape[:3]
    resampled = not (
        atlas.shape == target_shape and np.allclose(atlas.affine, bold_img.affine, atol=1e-3)
    )
    if resampled:
        ref = nib.Nifti1Image(np.zeros(target_shape, dtype=np.int8), bold_img.affine)
        atlas = resample_to_img(
            atlas, ref, interpolation="nearest", force_resample=True, copy_header=True
        )
    atlas = nib.Nifti1Image(np.round(atlas.get_fdata()).astype(np.int32), atlas.affine)
    lost = set(labels["index"]) - set(np.unique(atlas.get_fdata()).astype(int))
    if lost:
        names = labels.set_index("index").loc[sorted(lost), "name"].tolist()
        raise input_error(
            atlas_path,
            f"{len(lost)} region(s) vanish on the BOLD grid {target_shape} "
            f"(e.g. {names[:5]}): the atlas and BOLD do not overlap or the regions "
            "are smaller than a BOLD voxel",
        )
    return atlas, resampled


def load_confounds_table(
    confounds, n_volumes, *, columns=None, strategy=None, strategy_kwargs=None, bold=None
):
    """Select the nuisance regressors of one run.

    Two conventions are accepted:

    * ``columns``: names (or shell-style patterns, e.g. ``"a_comp_cor_0[0-4]"``)
      of columns of a confounds TSV; derivative columns may start with
      ``n/a`` rows (fMRIPrep writes one), those are filled with the column
      mean. With neither ``columns`` nor ``strategy``,
      :data:`DEFAULT_CONFOUND_COLUMNS` are used.
    * ``strategy``: nilearn's fMRIPrep loaders: a name from
      :data:`NILEARN_STRATEGIES` for ``load_confounds_strategy`` or a list of
      components (``["motion", "wm_csf", "scrub"]``) for ``load_confounds``,
      with ``strategy_kwargs`` passed on. These need fMRIPrep's file names;
      when ``confounds`` is given they are presented to nilearn as such in a
      temporary folder, otherwise the file is found beside ``bold``.

    Parameters
    ----------
    confounds : path-like | None
        fMRIPrep-style ``*_desc-confounds_timeseries.tsv``.
    n_volumes : int
        Number of BOLD volumes; the table must have as many rows.
    columns : list of str | None
    strategy : str | list of str | None
    strategy_kwargs : dict | None
    bold : path-like | None
        The BOLD file (needed for a strategy when ``confounds`` is None).

    Returns
    -------
    table : pandas.DataFrame | None
        Regressors, shape (n_volumes, n_regressors); None when there are none.
    sample_mask : ndarray of int, shape (n_kept,) | None
        Volumes to keep (scrubbing, non-steady-state); None keeps all.
    description : dict
        What was used, for the sidecar.
    """
    if columns is not None and strategy is not None:
        raise ValueError("Give either confound_columns or confound_strategy, not both.")
    if strategy is not None:
        return _strategy_confounds(confounds, n_volumes, strategy, strategy_kwargs or {}, bold)
    if confounds is None or (columns is not None and len(columns) == 0):
        # columns [] is the config's "no confound regression", as confounds: null
        if columns and confounds is None:
            raise ValueError("confound_columns were given but no confounds file.")
        return None, None, {"Confounds": None}
    path = check_file(confounds, "confounds table")
    raw = pd.read_csv(path, sep="\t", na_values=["n/a"])
    _check_rows(path, len(raw), n_volumes)
    if columns is None:
        columns = list(DEFAULT_CONFOUND_COLUMNS)
    if isinstance(columns, str):
        columns = [columns]
    selected = []
    for pattern in columns:
        matches = [c for c in raw.columns if fnmatch.fnmatchcase(c, pattern)]
        if not matches:
            raise input_error(
                path, f"has no confound column matching {pattern!r} (columns: {list(raw.columns)[:12]}...)"
            )
        selected += [m for m in matches if m not in selected]
    table = raw[selected].astype(float)
    for col in selected:
        values = table[col].to_numpy()
        bad = ~np.isfinite(values)
        if bad.all():
            raise input_error(path, f"confound column {col!r} has no finite value")
        if bad.any():
            # fMRIPrep leaves the first row(s) of derivative and FD columns
            # empty; anything else is a broken file.
            first_good = int(np.argmax(~bad))
            if bad[first_good:].any():
                raise input_error(path, f"confound column {col!r} has n/a or NaN values")
            table.loc[: first_good - 1, col] = values[~bad].mean()
    return table, None, {"Confounds": str(path), "ConfoundColumns": selected}


def _check_rows(path, n_rows, n_volumes):
    if n_rows != n_volumes:
        raise input_error(
            path, f"confounds table has {n_rows} rows but the BOLD image has {n_volumes} volumes"
        )


def _strategy_confounds(confounds, n_volumes, strategy, kwargs, bold):
    from nilearn.interfaces.fmriprep import load_confounds, load_confounds_strategy

    if isinstance(strategy, str):
        if strategy not in NILEARN_STRATEGIES:
            raise ValueError(
                f"Invalid value for the 'confound_strategy' parameter. Allowed values are "
                f"{NILEARN_STRATEGIES} or a list of load_confounds components, got {strategy!r}."
            )

        def loader(img):
            return load_confounds_strategy(img, denoise_strategy=strategy, **kwargs)
    else:

        def loader(img):
            return load_confounds(img, strategy=tuple(strategy), **kwargs)

    where = confounds if confounds is not None else bold
    with _fmriprep_layout(confounds, bold) as img_file:
        try:
            table, sample_mask = loader(img_file)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            raise input_error(where, f"nilearn could not load confounds ({exc})") from exc
    if table is not None:
        _check_rows(where, len(table), n_volumes)
        if not np.isfinite(table.to_numpy(dtype=float)).all():
            raise input_error(where, "selected confounds contain NaN values")
        if table.shape[1] == 0:
            table = None
    desc = {
        "Confounds": str(confounds) if confounds is not None else "found beside the BOLD file",
        "ConfoundStrategy": strategy if isinstance(strategy, str) else list(strategy),
        "ConfoundStrategyOptions": kwargs,
        "ConfoundColumns": [] if table is None else list(table.columns),
    }
    if sample_mask is not None:
        sample_mask = np.asarray(sample_mask, dtype=int)
        desc["CensoredVolumes"] = sorted(set(range(n_volumes)) - set(sample_mask.tolist()))
    return table, sample_mask, desc


@contextlib.contextmanager
def _fmriprep_layout(confounds, bold):
    """Yield a BOLD path whose confounds nilearn can find by fMRIPrep's names.

    nilearn locates the confounds from the image file name. When the caller
    gives the confounds file explicitly (our demo keeps it elsewhere), both
    files are linked into a temporary folder under fMRIPrep names.
    """
    if confounds is None:
        if bold is None:
            raise ValueError("A confound strategy needs the confounds file or the BOLD file.")
        yield str(bold)
        return
    confounds = check_file(confounds, "confounds table")
    with tempfile.TemporaryDirectory(prefix="brainpipe-confounds-") as tmp:
        tmp = Path(tmp)
        img = tmp / "sub-x_task-x_desc-preproc_bold.nii.gz"
        tsv = tmp / "sub-x_task-x_desc-confounds_timeseries.tsv"
        # nilearn reads the file name only, not the image.
        img.touch()
        os.symlink(confounds.resolve(), tsv)
        meta = confounds.with_name(confounds.name[: -len(".tsv")] + ".json")
        if meta.exists():
            os.symlink(meta.resolve(), tsv.with_suffix(".json"))
        yield str(img)
