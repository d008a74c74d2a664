"""BrainMAE's per-subject report figures: one masked segment and its reconstruction.

:func:`brainmae_subject_figures` draws every subject's figure in one process
(the ``brainmae_subject`` rule is one job, like ``demovae_generate``): the
model and torch are loaded once instead of once per subject, which cost each
of the demo's 40 per-subject jobs about 3.4 CPU s of imports for 0.4 s of
drawing. Its outputs stay per subject (figure and fragment).
"""

from __future__ import annotations

import numpy as np

from .._check import check_file, input_error
from ..io.atomic import all_or_nothing
from ..io.figures import save_figure
from ..io.fragments import fragment_item, write_fragment
from .brainmae import BrainMAE, baseline_predictions
from .brainmae_inputs import common_tr, read_timeseries

__all__ = ["brainmae_subject_figure", "brainmae_subject_figures"]

SECTION = "BrainMAE"


def brainmae_subject_figures(model, timeseries_tsvs, bolds, figures, fragments=None, *, seed=0):
    """Every subject's masked-segment figure, the model loaded once.

    Parameters
    ----------
    model : path-like
        Written by :func:`~brainpipe.models.brainmae_steps.pretrain_brainmae`.
    timeseries_tsvs, bolds, figures : list of path-like
        Per subject, same order: the ROI time series, the BOLD (its sidecar
        gives the TR) and the PNG to write.
    fragments : list of path-like | None
        Per subject: the report fragment (same order).
    seed : int
        Seed of the masks.

    Returns
    -------
    figures : list of path-like
    """
    n = len(timeseries_tsvs)
    lengths = {"bolds": len(bolds), "figures": len(figures)}
    if fragments is not None:
        lengths["fragments"] = len(fragments)
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ValueError(f"brainmae_subject_figures: {n} time series but "
                         + ", ".join(f"{v} {k}" for k, v in bad.items()) + "; give one of each per subject")
    est = BrainMAE.load(check_file(model, "BrainMAE model"))
    for i in range(n):
        brainmae_subject_figure(est, timeseries_tsvs[i], bolds[i], figures[i],
                                None if fragments is None else fragments[i], seed=seed)
    return list(figures)


def brainmae_subject_figure(model, timeseries_tsv, bold, figure, fragment=None, *, seed=0):
    """One masked segment of a subject and its BrainMAE reconstruction.

    Parameters
    ----------
    model : path-like | BrainMAE
        Written by :func:`~brainpipe.models.brainmae_steps.pretrain_brainmae`,
        or the fitted model loaded from it.
    timeseries_tsv : path-like
        The subject's ROI time series.
    bold : path-like
        The subject's BOLD (its sidecar gives the TR for the time axis).
    figure : path-like
        PNG: original, masked input and reconstruction of the middle segment
        of the middle window (ROIs x TRs), and three masked ROIs over the window.
    fragment : path-like | None
    seed : int
        Seed of the mask.
    """
    from matplotlib.figure import Figure

    est = model if isinstance(model, BrainMAE) else BrainMAE.load(check_file(model, "BrainMAE model"))
    series, subjects, rois = read_timeseries([timeseries_tsv])
    if len(rois) != est.n_rois_:
        raise input_error(timeseries_tsv, f"has {len(rois)} ROIs; the model was trained on {est.n_rois_}")
    tr = common_tr([bold])
    wins = est.windows(series, step=est.segment_len_ * est.n_segments)[0]
    w = len(wins) // 2
    recon, mask = est.reconstruct(wins[w:w + 1], seed=seed)
    x, r, m = wins[w], recon[0], mask[0]
    s = x.shape[0] // 2
    mse = float(((r - x) ** 2).mean(-1)[m].mean())
    base = baseline_predictions(wins[w:w + 1], mask)["roi_mean"][0]
    mse_mean = float(((base - x) ** 2).mean(-1)[m].mean())
    meta = getattr(est, "metadata_", {}) or {}
    held = subjects[0] in meta.get("HeldOutSubjects", [])

    fig = Figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.2, 1.0], hspace=0.4)
    lim = float(np.percentile(np.abs(x[s]), 99)) or 1.0
    masked_in = np.where(m[s][:, None], np.nan, x[s])
    extent = [0, x.shape[2] * tr, x.shape[1], 0]
    for j, (title, img) in enumerate((("original", x[s]), ("masked input", masked_in),
                                      ("reconstruction", np.where(m[s][:, None], r[s], x[s])))):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(img, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                  extent=extent)
        ax.set_title(f"segment {s + 1}: {title}", fontsize=10)
        ax.set_xlabel("time in segment (s)")
        if j == 0:
            ax.set_ylabel("ROI")
    ax = fig.add_subplot(grid[1, :])
    t = np.arange(x.shape[0] * x.shape[2]) * tr
    picks = np.flatnonzero(m[s])[:3]
    for k, roi in enumerate(picks):
        off = -4.0 * k
        seq = x[:, roi, :].reshape(-1)
        rec = r[:, roi, :].reshape(-1)
        ax.plot(t, seq + off, color="k", lw=1, label="original" if k == 0 else None)
        masked_t = np.repeat(m[:, roi], x.shape[2])
        ax.plot(t, np.where(masked_t, rec, np.nan) + off, color="tab:red", lw=1.5,
                label="reconstruction (masked segments)" if k == 0 else None)
        ax.text(t[0], off + 1.5, rois[roi], fontsize=8)
    ax.axvspan(s * x.shape[2] * tr, (s + 1) * x.shape[2] * tr, color="0.9")
    ax.set_xlabel("time in window (s)")
    ax.set_yticks([])
    ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"sub-{subjects[0]}: BrainMAE masked reconstruction ({'held-out' if held else 'training'} "
                 f"subject); masked MSE {mse:.3f} vs ROI-mean {mse_mean:.3f}", fontsize=11)
    with all_or_nothing(figure, fragment):
        save_figure(fig, figure)
        if fragment is not None:
            write_fragment(fragment, SECTION, [fragment_item(
                "image", "Masked segment and its reconstruction", path=figure,
                caption=f"{int(m[s].sum())} of {len(rois)} ROIs masked in each segment "
                        f"({est.segment_len_} TRs = {est.segment_len_ * tr:g} s); the grey band is the segment "
                        "shown above. BrainMAE sees only the visible ROIs of a segment.")], order=60)
    return figure
