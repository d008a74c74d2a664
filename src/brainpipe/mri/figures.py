"""Mosaics of the T1w QC: the image with its brain mask, and the background."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_subplots, save_figure


def _strip(volume, axis, idx, gap=2, fill=np.nan):
    """Slices ``idx`` of ``volume`` along ``axis`` side by side in one 2D image.

    Each slice is transposed (rows = the second in-plane axis, for
    ``origin="lower"``) and followed by ``gap`` columns of ``fill``, so that one
    ``imshow`` (and one ``contour``) draws a whole row of the mosaic: a figure
    of 16 small axes took most of the QC figure's time.
    """
    tiles = []
    for i in idx:
        tile = np.take(volume, i, axis=axis).T.astype(float)
        tiles += [tile, np.full((tile.shape[0], gap), fill)]
    return np.concatenate(tiles[:-1], axis=1)


def plot_mask_mosaic(t1_img, mask_img, path, *, n_slices=8, title=None):
    """Axial and coronal mosaic of the T1 with the brain mask contour.

    Slices are drawn with matplotlib on the canonical (RAS) voxel grid,
    spread over the mask's extent, at the voxel aspect ratio: one strip of
    slices per row (one ``imshow`` each). (nilearn's ``plot_anat`` draws the
    same view but importing ``nilearn.plotting`` costs each QC job about 2
    CPU seconds, more than the QC itself.)

    Parameters
    ----------
    t1_img, mask_img : nibabel.Nifti1Image
        Shape (nx, ny, nz), same grid.
    path : path-like
        PNG to write.
    n_slices : int
        Slices per row; two rows (axial and coronal).
    title : str | None
    """
    import nibabel as nib

    t1 = nib.as_closest_canonical(t1_img)
    data = np.asarray(t1.get_fdata(), dtype=float)
    mask = np.asarray(nib.as_closest_canonical(mask_img).get_fdata()) > 0.5
    zooms = t1.header.get_zooms()[:3]
    inside = data[mask] if mask.any() else data.ravel()
    vmin, vmax = (float(v) for v in np.percentile(inside, [1, 99.5]))
    vmax = vmax if vmax > vmin else vmin + 1.0
    # row heights in mm, so both strips keep the voxel aspect at one width
    heights = [data.shape[1] * zooms[1], data.shape[2] * zooms[2]]
    fig, axes = new_subplots(2, 1, figsize=(14, 5.5), squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, axis in zip(axes[:, 0], (2, 1)):  # axial (z), coronal (y)
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        lo, hi = (present[0], present[-1]) if present.size else (0, data.shape[axis] - 1)
        idx = np.linspace(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo), n_slices).round().astype(int)
        # in-plane axes: x then the remaining one; aspect = its voxel size over x's
        other = 1 if axis == 2 else 2
        ax.imshow(_strip(data, axis, idx), origin="lower", cmap="gray", vmin=vmin, vmax=vmax,
                  interpolation="nearest", aspect=zooms[other] / zooms[0])
        m = _strip(mask, axis, idx, fill=0.0)
        if m.any() and not m.all():
            ax.contour(m, levels=[0.5], colors="r", linewidths=0.8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, color="white")
    fig.patch.set_facecolor("black")
    return save_figure(fig, path)


def plot_background_mosaic(data, path, *, n_slices=8, axis=2, title=None):
    """Noise-level view: contrast stretched to the background (MRIQC style).

    Ghosts, ringing and other motion artefacts hide in the background at
    normal contrast; clipping at a low percentile shows them.

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    path : path-like
    n_slices : int
    axis : int
        Slicing axis (2: axial).
    title : str | None
    """
    from .segment import otsu_threshold

    data = np.asarray(data, dtype=float)
    # scale to the dark class (background) so that noise fills the range
    dark = data[data <= otsu_threshold(data)]
    vmax = float(np.percentile(dark, 99.5)) if dark.size else 1.0
    vmax = vmax or 1.0
    n = data.shape[axis]
    idx = np.linspace(0.1 * n, 0.9 * n, n_slices).astype(int)
    fig, ax = new_subplots(1, 1, figsize=(2 * n_slices, 2.6))
    ax.imshow(_strip(data, axis, idx, fill=0.0), origin="lower", cmap="gray", vmin=0, vmax=vmax,
              interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title or "background (contrast stretched to the noise level)")
    return save_figure(fig, path)
