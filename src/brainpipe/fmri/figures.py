"""Figures of the fMRI stages, drawn with matplotlib on pyplot-free figures."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_subplots, save_figure


def plot_carpet_figure(bold_img, atlas_img, tr, path, *, fd=None, roi_series=None, title=None):
    """Carpet plot of the BOLD voxels inside the atlas, with FD above.

    Parameters
    ----------
    bold_img : nibabel.Nifti1Image
        Shape (x, y, z, n_volumes).
    atlas_img : nibabel.Nifti1Image
        Label image on the BOLD grid, shape (x, y, z); voxels are grouped by
        label in the carpet.
    tr : float
        Repetition time in seconds.
    path : path-like
        PNG to write.
    fd : ndarray, shape (n_volumes,) | None
        Framewise displacement in mm, drawn above the carpet.
    roi_series : ndarray, shape (n_kept, n_regions) | None
        Cleaned ROI time series, drawn below the carpet as an image.
    title : str | None
    """
    rows = [1.0, 4.0] + ([2.0] if roi_series is not None else [])
    fig, axes = new_subplots(
        len(rows), 1, figsize=(10, 2.2 * sum(rows) / 2),
        gridspec_kw={"height_ratios": rows, "hspace": 0.6},
    )
    n_vol = bold_img.shape[3]
    t = np.arange(n_vol) * tr
    if fd is not None:
        axes[0].plot(t, fd, color="tab:red", lw=1)
        axes[0].set_ylabel("FD (mm)")
        axes[0].set_xlim(0, t[-1])
        axes[0].set_xlabel("time (s)")
    else:
        axes[0].text(0.5, 0.5, "no framewise displacement column", ha="center", va="center")
        axes[0].set_axis_off()
    axes[0].set_title(title or "BOLD carpet (voxels in atlas regions, grouped by region)")
    _carpet(axes[1], bold_img, atlas_img, tr)
    if roi_series is not None:
        ax = axes[2]
        lim = np.percentile(np.abs(roi_series), 99) or 1.0
        ax.imshow(roi_series.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                  interpolation="nearest")
        ax.set_ylabel("region")
        ax.set_xlabel("kept volume")
        ax.set_title("cleaned regional time series (z-scored)")
    return save_figure(fig, path)


def _carpet(ax, bold_img, atlas_img, tr, max_voxels=4000):
    """The voxel carpet on ``ax``: every in-atlas voxel's z-scored signal (rows,
    grouped by label, at most ``max_voxels`` evenly picked), a label strip on the left.

    Drawn here rather than with nilearn's ``plot_carpet``, whose label strip
    goes through pyplot's current figure and leaves a pyplot-free figure blank.
    """
    labels = np.asarray(atlas_img.get_fdata())
    inside = labels > 0
    order = np.argsort(labels[inside], kind="stable")
    order = order[np.linspace(0, len(order) - 1, min(max_voxels, len(order))).astype(int)] if len(order) else order
    series = np.asarray(bold_img.dataobj)[inside][order].astype(float)
    series -= series.mean(axis=1, keepdims=True)
    sd = series.std(axis=1, keepdims=True)
    series /= np.where(sd > 0, sd, 1.0)
    n_vol = series.shape[1] if series.size else bold_img.shape[3]
    ax.imshow(series, aspect="auto", cmap="gray", vmin=-2, vmax=2, interpolation="nearest",
              extent=(0, n_vol * tr, len(order), 0))
    strip = ax.inset_axes([-0.025, 0, 0.015, 1])
    strip.imshow(labels[inside][order][:, None], aspect="auto", cmap="tab20", interpolation="nearest")
    strip.set_axis_off()
    ax.set_yticks([])
    ax.set_ylabel("voxels (by region)", labelpad=14)
    ax.set_xlabel("time (s)")


def network_order(networks):
    """Order of regions grouped by network, networks in order of appearance.

    Parameters
    ----------
    networks : sequence of str, length n_regions

    Returns
    -------
    order : ndarray of int, shape (n_regions,)
    """
    networks = list(networks)
    first = {}
    for i, net in enumerate(networks):
        first.setdefault(net, i)
    return np.array(sorted(range(len(networks)), key=lambda i: (first[networks[i]], i)))


def plot_connectivity_matrices(matrices, path, *, networks=None, names=None, vmax=None):
    """Plot connectivity matrices side by side, ordered by network.

    Parameters
    ----------
    matrices : dict of str -> ndarray, shape (n_regions, n_regions)
        Panel title -> matrix.
    path : path-like
        PNG to write.
    networks : sequence of str | None
        Network of each region; regions are grouped by it and the networks
        named on the axes (region names are unreadable beyond ~30 regions).
    names : sequence of str | None
        Region names, used as tick labels when there are at most 30 regions.
    vmax : float | None
        Colour limit (symmetric); by default each panel's largest
        off-diagonal absolute value.
    """
    fig, axes = new_subplots(1, len(matrices), figsize=(6.5 * len(matrices), 5.5), squeeze=False)
    for ax, (title, mat) in zip(axes[0], matrices.items()):
        draw_matrix(ax, fig, mat, networks=networks, names=names, title=title, vmax=vmax)
    return save_figure(fig, path)


def draw_matrix(ax, fig, matrix, *, networks=None, names=None, title="", vmax=None):
    """Draw one matrix (diagonal blanked) on ``ax``; see :func:`plot_connectivity_matrices`."""
    n = matrix.shape[0]
    order = network_order(networks) if networks is not None else np.arange(n)
    mat = np.array(matrix, dtype=float)[np.ix_(order, order)]
    np.fill_diagonal(mat, 0.0)  # a unit diagonal would saturate the colour scale
    if vmax is None:
        vmax = float(np.nanmax(np.abs(mat))) if n > 1 else 1.0
    vmax = vmax or 1.0
    labels = [str(names[i]) for i in order] if names is not None and n <= 30 else None
    # drawn with matplotlib, as nilearn's plot_matrix does (importing
    # nilearn.plotting costs each job about a CPU second)
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    if labels is not None:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if networks is not None and labels is None:
        nets = np.asarray(networks)[order]
        bounds = [0] + [i for i in range(1, n) if nets[i] != nets[i - 1]] + [n]
        for b in bounds[1:-1]:
            ax.axhline(b - 0.5, color="k", lw=0.6)
            ax.axvline(b - 0.5, color="k", lw=0.6)
        centres = [(a + b - 1) / 2 for a, b in zip(bounds[:-1], bounds[1:])]
        ax.set_xticks(centres)
        ax.set_yticks(centres)
        ax.set_xticklabels([nets[a] for a in bounds[:-1]], rotation=90, fontsize=8)
        ax.set_yticklabels([nets[a] for a in bounds[:-1]], fontsize=8)
    return ax
