"""Masks of a T1w image computed from the image itself.

No template and no registration: these work on real T1s in any space as well
as on the MNI-space demo. The steps are the classic morphological ones:

* head: Otsu threshold of the (lightly smoothed) log image, largest connected
  component, closing, hole filling;
* brain: voxels brighter than CSF inside the head, eroded by a few mm to
  cut the thin bridges between brain and scalp through the dark skull, the
  largest component grown back inside the bright voxels, then closed and
  filled (ventricles, sulci);
* tissues: three-class k-means (CSF < GM < WM) of the brain intensities,
  fitted on the intensity histogram so it is fast and deterministic;
* air: everything outside the dilated head, without exact zeros (padding or
  a background zeroed by the provider).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Tissue labels of the segmentation (as FSL FAST and MRIQC number them).
LABELS = {"background": 0, "csf": 1, "gm": 2, "wm": 3}


def otsu_threshold(values, nbins=256):
    """Otsu's threshold: maximises the between-class variance of two classes.

    Parameters
    ----------
    values : ndarray, any shape
    nbins : int

    Returns
    -------
    threshold : float
        Values ``> threshold`` form the upper class.
    """
    values = np.asarray(values, dtype=float).ravel()
    hist, edges = np.histogram(values, bins=nbins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1].astype(float)
    w1 = hist.sum() - w0
    s0 = np.cumsum(hist * centres)[:-1]
    m0 = s0 / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:-1][np.argmax(between)])


def largest_component(mask):
    """Largest 26-connected component of a boolean mask."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return mask.copy()
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == sizes.argmax()


def _ball_erode(mask, radius_mm, zooms):
    return ndimage.distance_transform_edt(mask, sampling=zooms) > radius_mm


def _ball_dilate(mask, radius_mm, zooms):
    return ndimage.distance_transform_edt(~mask, sampling=zooms) <= radius_mm


def head_mask(data, zooms=(1.0, 1.0, 1.0)):
    """Head (or whole foreground) mask.

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    zooms : tuple of float
        Voxel size in mm.

    Returns
    -------
    head : ndarray of bool, shape (nx, ny, nz)
    """
    smooth = ndimage.gaussian_filter(np.asarray(data, dtype=float), sigma=1.0)
    # Otsu on log intensities: on a linear scale it may split WM from the
    # rest of a head with skull; the log compresses the tissue classes and
    # leaves the noise-to-tissue gap as the widest one.
    logged = np.log1p(np.clip(smooth, 0, None))
    head = largest_component(logged > otsu_threshold(logged))
    head = _ball_dilate(head, 2.0 * max(zooms), zooms)
    head = _ball_erode(head, 2.0 * max(zooms), zooms)
    return _fill_holes(head)


def _fill_holes(mask):
    """3D hole filling plus slice-wise filling (holes open on one slice edge)."""
    mask = ndimage.binary_fill_holes(mask)
    for axis in range(3):
        mask = np.stack(
            [ndimage.binary_fill_holes(s) for s in np.moveaxis(mask, axis, 0)], axis=0
        )
        mask = np.moveaxis(mask, 0, axis)
    return mask


def kmeans_1d(values, n_classes=3, nbins=512, n_iter=100):
    """k-means of scalar values on their histogram (deterministic).

    Parameters
    ----------
    values : ndarray, shape (n,)
    n_classes : int
    nbins : int
    n_iter : int

    Returns
    -------
    centres : ndarray, shape (n_classes,)
        Sorted increasing.
    thresholds : ndarray, shape (n_classes - 1,)
        Midpoints between consecutive centres (class boundaries).
    """
    values = np.asarray(values, dtype=float).ravel()
    hist, edges = np.histogram(values, bins=nbins)
    x = (edges[:-1] + edges[1:]) / 2
    w = hist.astype(float)
    # start at quantiles, then Lloyd iterations on the weighted bin centres
    centres = np.quantile(values, (np.arange(n_classes) + 0.5) / n_classes)
    for _ in range(n_iter):
        assign = np.abs(x[:, None] - centres[None, :]).argmin(axis=1)
        new = np.array([
            np.average(x[assign == k], weights=w[assign == k]) if w[assign == k].sum() else centres[k]
            for k in range(n_classes)
        ])
        if np.allclose(new, centres):
            break
        centres = new
    centres = np.sort(centres)
    return centres, (centres[:-1] + centres[1:]) / 2


def brain_mask(data, head=None, zooms=(1.0, 1.0, 1.0), erode_mm=6.0):
    """Brain mask of a T1w image (with or without skull).

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    head : ndarray of bool | None
        Head mask (computed when None).
    zooms : tuple of float
        Voxel size in mm.
    erode_mm : float
        Erosion radius that separates brain from scalp.

    Returns
    -------
    brain : ndarray of bool, shape (nx, ny, nz)
    """
    data = np.asarray(data, dtype=float)
    if head is None:
        head = head_mask(data, zooms)
    smooth = ndimage.gaussian_filter(data, sigma=0.5)
    _, thr = kmeans_1d(smooth[head], 3)
    bright = head & (smooth > thr[0])  # GM and WM (and scalp fat, muscle)
    core = largest_component(_ball_erode(bright, erode_mm, zooms))
    # grow back inside the bright voxels only (a geodesic dilation)
    brain = _ball_dilate(core, erode_mm + max(zooms), zooms) & bright
    brain = largest_component(brain)
    brain = _ball_erode(_ball_dilate(brain, 3.0 * max(zooms), zooms), 3.0 * max(zooms), zooms)
    return _fill_holes(brain & head)


def segment_tissues(data, brain):
    """CSF / GM / WM labels inside the brain mask by 3-class k-means.

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    brain : ndarray of bool, shape (nx, ny, nz)

    Returns
    -------
    seg : ndarray of uint8, shape (nx, ny, nz)
        0 outside the brain, then :data:`LABELS` (1 CSF, 2 GM, 3 WM).
    centres : ndarray, shape (3,)
        Class mean intensities (CSF, GM, WM).
    """
    values = np.asarray(data, dtype=float)[brain]
    centres, thr = kmeans_1d(values, 3)
    seg = np.zeros(brain.shape, dtype=np.uint8)
    seg[brain] = 1 + np.searchsorted(thr, values).astype(np.uint8)
    return seg, centres


def air_mask(data, head, zooms=(1.0, 1.0, 1.0), margin_mm=6.0):
    """Air background: outside the head dilated by ``margin_mm``, no exact zeros.

    Exact zeros are padding (reorientation, a zeroed background): they are
    not noise and would fake a perfect background.
    """
    far = ~_ball_dilate(head, margin_mm, zooms)
    return far & (np.asarray(data) != 0)
