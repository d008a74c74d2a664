"""Mosaics of the T1w QC: the image with its brain mask, and the background."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_subplots, save_figure


def plot_mask_mosaic(t1_img, mask_img, path, *, n_slices=8, title=None):
    """Axial mosaic of the T1 with the brain mask contour (nilearn ``plot_anat``).

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
    from nilearn.plotting import plot_anat

    fig, axes = new_subplots(2, 1, figsize=(14, 5.5))
    for ax, mode in zip(axes, ("z", "y")):
        display = plot_anat(t1_img, display_mode=mode, cut_coords=n_slices, axes=ax,
                            annotate=False, draw_cross=False, dim=-0.5, black_bg=True,
                            title=title if mode == "z" else None)
        display.add_contours(mask_img, levels=[0.5], colors="r", linewidths=0.8)
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
    fig, axes = new_subplots(1, n_slices, figsize=(2 * n_slices, 2.6))
    for ax, i in zip(axes, idx):
        sl = np.take(data, i, axis=axis)
        ax.imshow(sl.T, origin="lower", cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_axis_off()
    fig.suptitle(title or "background (contrast stretched to the noise level)")
    return save_figure(fig, path)
