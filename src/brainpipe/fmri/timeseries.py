"""Regional time series of one BOLD run: atlas means, denoised and filtered.

Worker: nilearn's :class:`~nilearn.maskers.NiftiLabelsMasker` averages the
BOLD voxels of each atlas region; :func:`nilearn.signal.clean` then detrends,
regresses the confounds, band-pass filters (Butterworth) and z-scores the
region signals, censoring volumes when a scrubbing strategy asks for it (the
same two steps the masker chains when given ``confounds=``; doing them apart
lets us check the raw signals and plot them).

Output: ``*_timeseries.tsv`` with one column per region (named as in the
atlas label table) and one row per kept volume, XCP-D's layout.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from ._inputs import atlas_on_bold_grid, load_bold, load_confounds_table, read_atlas_labels, read_tr
from .figures import plot_carpet_figure

logger = logging.getLogger(__name__)

#: Report section and its place among the sections.
SECTION = "fMRI"
SECTION_ORDER = 30


def extract_timeseries(
    bold,
    atlas,
    atlas_labels,
    out_tsv,
    *,
    confounds=None,
    confound_columns=None,
    confound_strategy=None,
    confound_options=None,
    tr=None,
    detrend=True,
    low_pass=0.1,
    high_pass=0.01,
    standardize="zscore_sample",
    figure=None,
    fragment=None,
):
    """Extract denoised regional time series from a BOLD run.

    Parameters
    ----------
    bold : path-like
        4D BOLD NIfTI, shape (x, y, z, n_volumes), in the atlas space.
    atlas : path-like
        3D label image; resampled to the BOLD grid (nearest neighbour) if needed.
    atlas_labels : path-like
        Label table (``index``, ``name``, optional ``network``).
    out_tsv : path-like
        Output TSV, shape (n_kept_volumes, n_regions), header = region names.
    confounds : path-like | None
        fMRIPrep-style confounds TSV, one row per volume.
    confound_columns : list of str | None
        Columns (or patterns) to regress; default: 6 motion + WM + CSF.
    confound_strategy : str | list of str | None
        nilearn ``load_confounds_strategy`` name (``"simple"``, ``"scrubbing"``,
        ``"compcor"``, ``"ica_aroma"``) or ``load_confounds`` components.
    confound_options : dict | None
        Extra keyword arguments of the nilearn confound loader.
    tr : float | None
        Repetition time (s); read from the BOLD JSON sidecar when None.
    detrend : bool
    low_pass, high_pass : float | None
        Butterworth band edges in Hz (None to skip).
    standardize : str | bool
        nilearn's ``standardize`` (``"zscore_sample"``, ``"psc"``, False).
    figure : path-like | None
        Carpet plot PNG.
    fragment : path-like | None
        Report fragment JSON (section "fMRI").

    Returns
    -------
    timeseries : pandas.DataFrame, shape (n_kept_volumes, n_regions)
    """
    from nilearn.maskers import NiftiLabelsMasker
    from nilearn.signal import clean

    bold_img = load_bold(bold)
    n_volumes = bold_img.shape[3]
    tr = read_tr(bold, tr)
    labels = read_atlas_labels(atlas_labels)
    atlas_img, resampled = atlas_on_bold_grid(atlas, bold_img, labels)
    conf_table, sample_mask, conf_desc = load_confounds_table(
        confounds, n_volumes, columns=confound_columns, strategy=confound_strategy,
        strategy_kwargs=confound_options, bold=bold,
    )
    nyquist = 0.5 / tr
    for name, freq in (("low_pass", low_pass), ("high_pass", high_pass)):
        if freq is not None and not 0 < freq < nyquist:
            raise ValueError(f"{name}={freq} Hz must lie in (0, {nyquist:g}) Hz for TR={tr} s")
    if low_pass is not None and high_pass is not None and high_pass >= low_pass:
        raise ValueError(f"high_pass={high_pass} must be below low_pass={low_pass}")

    # Load once as float32 (what nilearn would do) to check for NaN/inf: the
    # masker silently replaces them with zeros.
    import nibabel as nib

    data = bold_img.get_fdata(dtype=np.float32)
    in_atlas = atlas_img.get_fdata() > 0
    if not np.isfinite(data[in_atlas]).all():
        bad_vols = np.flatnonzero(~np.isfinite(data[in_atlas]).all(axis=0))
        raise input_error(bold, f"BOLD has NaN or infinite values (volumes {bad_vols[:5].tolist()})")
    bold_img = nib.Nifti1Image(data, bold_img.affine, bold_img.header)
    del data

    masker = NiftiLabelsMasker(
        labels_img=atlas_img, resampling_target=None, strategy="mean", standardize=None
    )
    raw = masker.fit_transform(bold_img).astype(np.float64)
    if raw.shape != (n_volumes, len(labels)):
        raise input_error(bold, f"expected {len(labels)} region signals, got {raw.shape[1]}")
    flat = raw.std(axis=0) == 0
    if flat.any():
        cols = labels["name"][flat].tolist()
        raise input_error(bold, f"BOLD signal is constant in regions {cols[:5]} (outside the data?)")

    cleaned = clean(
        raw,
        detrend=detrend,
        standardize=standardize,
        confounds=None if conf_table is None else conf_table.to_numpy(dtype=float),
        standardize_confounds=True,
        filter="butterworth",
        low_pass=low_pass,
        high_pass=high_pass,
        t_r=tr,
        sample_mask=sample_mask,
    )
    table = pd.DataFrame(cleaned, columns=labels["name"].tolist())

    fd = None
    if confounds is not None:
        raw_conf = pd.read_csv(check_file(confounds), sep="\t", na_values=["n/a"])
        if "framewise_displacement" in raw_conf.columns and len(raw_conf) == n_volumes:
            fd = raw_conf["framewise_displacement"].fillna(0.0).to_numpy()

    with all_or_nothing(out_tsv, figure, fragment):
        if figure is not None:
            plot_carpet_figure(bold_img, atlas_img, tr, figure, fd=fd, roi_series=cleaned)
        write_tsv(out_tsv, table)
        sources = [bold, atlas, atlas_labels] + ([confounds] if confounds is not None else [])
        write_sidecar(
            out_tsv,
            sources,
            RepetitionTime=tr,
            NumberOfVolumes=n_volumes,
            NumberOfKeptVolumes=int(len(table)),
            Detrend=bool(detrend),
            LowPass=low_pass,
            HighPass=high_pass,
            Standardize=standardize,
            AtlasResampledToBold=bool(resampled),
            Regions=labels["name"].tolist(),
            Networks=labels["network"].tolist(),
            **conf_desc,
        )
        if fragment is not None:
            _write_fragment(fragment, figure, n_volumes, len(table), tr, labels, conf_desc)
    return table


def _write_fragment(fragment, figure, n_volumes, n_kept, tr, labels, conf_desc):
    cols = conf_desc.get("ConfoundColumns") or []
    how = conf_desc.get("ConfoundStrategy")
    how = f"nilearn strategy {how!r}" if how else "columns"
    html = (
        f"<p>{n_volumes} volumes (TR {tr:g} s), {n_kept} kept after censoring; "
        f"{len(labels)} atlas regions in {labels['network'].nunique()} networks; "
        f"{len(cols)} confound regressors ({how}): {', '.join(map(str, cols[:12]))}"
        f"{' ...' if len(cols) > 12 else ''}.</p>"
    )
    items = [fragment_item("html", "Time series extraction", html=html)]
    if figure is not None:
        items.append(
            fragment_item(
                "image", "BOLD carpet plot", path=figure,
                caption="Framewise displacement, BOLD voxels grouped by atlas region, "
                "and the cleaned regional time series.",
            )
        )
    write_fragment(fragment, SECTION, items, order=SECTION_ORDER)


def read_timeseries(path):
    """Read a regional time series TSV written by :func:`extract_timeseries`.

    Returns
    -------
    timeseries : pandas.DataFrame, shape (n_volumes, n_regions)
        Columns are region names.
    """
    path = check_file(path, "time series table")
    table = pd.read_csv(path, sep="\t", na_values=["n/a"])
    if table.shape[1] < 2:
        raise input_error(path, f"needs at least 2 region columns, got {table.shape[1]}")
    if len(table) < 3:
        raise input_error(path, f"needs at least 3 time points, got {len(table)}")
    values = table.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = table.columns[~np.isfinite(values).all(axis=0)].tolist()
        raise input_error(path, f"has n/a or NaN values in columns {bad[:5]}")
    return table
