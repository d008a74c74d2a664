"""Atlases from nilearn's fetchers, written as a labels image + label table.

Every atlas ends up in the one format the time-series step reads (a 3D
integer labels NIfTI and a ``dseg.tsv`` with ``index``, ``name``,
``network``), so the rest of the workflow does not care where it came from.
Coordinate atlases (Power-264) become labels images of non-overlapping
spheres, which is what nilearn's ``NiftiSpheresMasker`` averages over.

Schaefer-2018 and Harvard-Oxford are downloaded by nilearn (internet needed);
the Power-264 coordinates ship with nilearn and work offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_option
from ..io.atomic import atomic_path, write_tsv
from ..io.offline import no_internet_guard

ATLASES = ("schaefer", "harvard_oxford", "power264")


def spheres_to_labels(coords, radius, template):
    """Draw non-overlapping spheres around MNI coordinates into a labels image.

    Parameters
    ----------
    coords : ndarray, shape (n_regions, 3)
        Sphere centres in mm (world coordinates of ``template``).
    radius : float
        Sphere radius in mm.
    template : nibabel image
        3D image giving the grid (shape and affine).

    Returns
    -------
    labels : nibabel.Nifti1Image
        int16 labels 1..n_regions, 0 elsewhere; a voxel within ``radius`` of
        several centres goes to the nearest one, so regions do not overlap.
    """
    import nibabel as nib

    coords = np.asarray(coords, dtype=float)
    shape = template.shape[:3]
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = nib.affines.apply_affine(template.affine, ijk)
    labels = np.zeros(len(xyz), dtype=np.int16)
    best = np.full(len(xyz), np.inf)
    for k, centre in enumerate(coords, start=1):
        d = np.linalg.norm(xyz - centre, axis=1)
        take = (d <= radius) & (d < best)
        labels[take] = k
        best[take] = d[take]
    return nib.Nifti1Image(labels.reshape(shape), template.affine)


def fetch_atlas(name, out_maps, out_labels, *, n_rois=100, yeo_networks=7, resolution_mm=2,
                radius=5.0, data_dir=None):
    """Fetch an atlas with nilearn and write it as labels image + label table.

    Parameters
    ----------
    name : {"schaefer", "harvard_oxford", "power264"}
        Schaefer 2018 (``n_rois``, ``yeo_networks``), Harvard-Oxford cortical
        max-probability (25 % threshold) or Power 2011 coordinates as spheres.
    out_maps : path-like
        3D labels NIfTI to write (``atlas-<name>_dseg.nii.gz``).
    out_labels : path-like
        Label table TSV (``index``, ``name``, ``network``).
    n_rois, yeo_networks, resolution_mm : int
        Schaefer parameters (``resolution_mm`` also sets the Power grid).
    radius : float
        Power sphere radius in mm.
    data_dir : path-like | None
        nilearn's download folder.

    Returns
    -------
    labels : pandas.DataFrame
    """
    import nibabel as nib

    check_option("name", name, ATLASES)
    # without internet: one line at once instead of nilearn's retries and traceback
    guard = no_internet_guard(f"nilearn atlas {name}", "fetch it where there is internet and pass that "
                              "folder as data_dir (or set NILEARN_DATA), or give your own atlas files as "
                              "fmri.atlas.maps / fmri.atlas.labels")
    with guard:
        img, table = _fetch(name, n_rois, yeo_networks, resolution_mm, radius, data_dir)
    img = nib.Nifti1Image(np.asarray(img.dataobj).astype(np.int16), img.affine)
    with atomic_path(out_maps) as tmp:
        img.to_filename(tmp)
    write_tsv(out_labels, table)
    return table


def _fetch(name, n_rois, yeo_networks, resolution_mm, radius, data_dir):
    """(labels image, label table) of one atlas, through nilearn's fetchers."""
    from nilearn import datasets, image

    if name == "schaefer":
        atlas = datasets.fetch_atlas_schaefer_2018(
            n_rois=n_rois, yeo_networks=yeo_networks, resolution_mm=resolution_mm, data_dir=data_dir
        )
        img = image.load_img(atlas.maps)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in atlas.labels]
        names = [n for n in names if n != "Background"]
        # Schaefer names are "<N>Networks_<hemi>_<network>_<k>"
        networks = [n.split("_")[2] if n.count("_") >= 2 else "n/a" for n in names]
        table = pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": names, "network": networks})
    elif name == "harvard_oxford":
        atlas = datasets.fetch_atlas_harvard_oxford("cort-maxprob-thr25-2mm", data_dir=data_dir)
        img = image.load_img(atlas.maps)
        names = [str(n) for n in atlas.labels[1:]]
        table = pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": names, "network": "n/a"})
    else:
        rois = datasets.fetch_coords_power_2011()["rois"]
        template = datasets.load_mni152_template(resolution=resolution_mm)
        img = spheres_to_labels(rois[["x", "y", "z"]].to_numpy(), radius, template)
        table = pd.DataFrame(
            {"index": np.arange(1, len(rois) + 1), "name": [f"power{int(r):03d}" for r in rois["roi"]], "network": "n/a"}
        )
    return img, table
