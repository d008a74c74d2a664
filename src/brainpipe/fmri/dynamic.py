"""Dynamic functional connectivity: sliding-window correlations and FC states.

Windowed covariances come from :func:`brainpipe.kernels.window_covariances`
(numpy / Numba / torch backends) and are normalised to correlations. A
tapered window (Allen et al. 2014, Cereb. Cortex 24:663: a rectangle
convolved with a Gaussian; or Hann/Hamming) weights the samples of each
window, so those are computed with weighted moments here.

States: k-means on the windows' upper triangles pooled over subjects (one
set of states for the group, as in Allen et al.), then per subject the
fractional occupancy, mean dwell time and the state transition matrix.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .._check import check_option, check_positive_int, input_error
from ..io.atomic import all_or_nothing, sidecar_path, write_npz, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from ..io.figures import new_figure, save_figure
from .figures import draw_matrix
from .timeseries import SECTION_ORDER, read_timeseries

TAPERS = (None, "gaussian", "hann", "hamming")


def taper_weights(window, taper=None, sigma=3.0):
    """Sample weights of one window.

    Parameters
    ----------
    window : int
        Window length in samples.
    taper : {None, "gaussian", "hann", "hamming"}
        None is rectangular; "gaussian" is a rectangle of ``window`` samples
        convolved with a Gaussian of SD ``sigma`` samples, cut to ``window``
        samples (Allen et al. 2014).
    sigma : float
        Gaussian SD in samples.

    Returns
    -------
    w : ndarray, shape (window,)
        Non-negative weights, max 1.
    """
    window = check_positive_int(window, "window", minimum=3)
    check_option("taper", taper, TAPERS)
    if taper is None:
        return np.ones(window)
    if taper in ("hann", "hamming"):
        from scipy.signal import get_window

        w = get_window(taper, window, fftbins=False)
    else:
        t = np.arange(window) - (window - 1) / 2
        half = window / 2
        # rectangle (-half, half) convolved with N(0, sigma^2), in closed form
        from scipy.special import erf

        w = 0.5 * (erf((t + half) / (np.sqrt(2) * sigma)) - erf((t - half) / (np.sqrt(2) * sigma)))
    return w / w.max()


def _cov_to_corr(covs):
    d = np.sqrt(np.einsum("...ii->...i", covs))
    d[d == 0] = np.inf  # a flat region in a window: correlation 0, not NaN
    corr = covs / d[..., :, None] / d[..., None, :]
    idx = np.arange(covs.shape[-1])
    corr[..., idx, idx] = 1.0
    return corr


def sliding_window_correlations(timeseries, window, step=1, *, taper=None, sigma=3.0,
                                backend="auto"):
    """Correlation matrix of every sliding window.

    Parameters
    ----------
    timeseries : ndarray, shape (n_times, n_regions)
    window : int
        Window length in samples (volumes).
    step : int
        Samples between window starts.
    taper : {None, "gaussian", "hann", "hamming"}
        Window shape; None uses the covariance kernels (any backend).
    sigma : float
        Gaussian taper SD in samples.
    backend : {"auto", "numpy", "numba", "torch"}
        Kernel backend for rectangular windows.

    Returns
    -------
    corrs : ndarray, shape (n_windows, n_regions, n_regions)
        ``n_windows = (n_times - window) // step + 1``; window ``k`` starts
        at sample ``k * step``.
    """
    from ..kernels import sliding_windows, window_covariances

    x = np.asarray(timeseries, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"timeseries must be 2D (n_times, n_regions), got shape {x.shape}")
    w = taper_weights(window, taper, sigma)
    if taper is None:
        covs = window_covariances(x.T, window, step, estimator="scm", backend=backend)
        return _cov_to_corr(np.asarray(covs))
    wins = sliding_windows(np.ascontiguousarray(x.T), window, step)  # (n_win, C, W) view
    wn = w / w.sum()
    out = np.empty((wins.shape[0], x.shape[1], x.shape[1]))
    for start in range(0, wins.shape[0], 64):  # bounded temporaries
        chunk = wins[start:start + 64]
        centred = chunk - np.einsum("kct,t->kc", chunk, wn)[..., None]
        out[start:start + 64] = np.einsum("kct,kdt->kcd", centred * wn, centred)
    return _cov_to_corr(out)


def upper_triangles(mats):
    """Upper triangles (k=1) of square matrices: (..., C, C) -> (..., C*(C-1)/2)."""
    c = mats.shape[-1]
    iu = np.triu_indices(c, 1)
    return mats[..., iu[0], iu[1]]


def from_upper_triangle(vec, n, diagonal=1.0):
    """Symmetric matrix from an upper triangle: (C*(C-1)/2,) -> (C, C)."""
    mat = np.zeros((n, n))
    iu = np.triu_indices(n, 1)
    mat[iu] = vec
    mat = mat + mat.T
    np.fill_diagonal(mat, diagonal)
    return mat


def fc_states(windowed, n_states, *, seed=0, n_init=10):
    """k-means states of windowed FC pooled across subjects.

    Parameters
    ----------
    windowed : list of ndarray, each shape (n_windows_s, n_regions, n_regions)
    n_states : int
    seed : int
    n_init : int

    Returns
    -------
    labels : list of ndarray of int, each shape (n_windows_s,)
        State of every window, per subject. States are numbered by
        decreasing overall occupancy (state 0 is the most frequent).
    centroids : ndarray, shape (n_states, n_regions, n_regions)
    """
    from sklearn.cluster import KMeans

    n_states = check_positive_int(n_states, "n_states", minimum=2)
    feats = [upper_triangles(w) for w in windowed]
    pooled = np.concatenate(feats)
    if len(pooled) < n_states:
        raise ValueError(f"{len(pooled)} windows in all cannot make {n_states} states")
    km = KMeans(n_clusters=n_states, n_init=n_init, random_state=seed).fit(pooled)
    order = np.argsort(-np.bincount(km.labels_, minlength=n_states), kind="stable")
    rank = np.empty(n_states, dtype=int)
    rank[order] = np.arange(n_states)
    n = windowed[0].shape[-1]
    centroids = np.stack([from_upper_triangle(km.cluster_centers_[k], n) for k in order])
    bounds = np.cumsum([0] + [len(f) for f in feats])
    labels = [rank[km.labels_[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]
    return labels, centroids


def state_metrics(labels, n_states):
    """Occupancy, dwell times and transitions of one state sequence.

    Parameters
    ----------
    labels : ndarray of int, shape (n_windows,)
    n_states : int

    Returns
    -------
    occupancy : ndarray, shape (n_states,)
        Fraction of windows in each state.
    dwell : ndarray, shape (n_states,)
        Mean length (in windows) of the runs of each state; 0 if never visited.
    transitions : ndarray, shape (n_states, n_states)
        ``P[i, j]``: probability that a window in state ``i`` is followed by
        one in state ``j`` (rows of unvisited states are 0).
    n_transitions : int
        Number of state changes.
    """
    labels = np.asarray(labels, dtype=int)
    occupancy = np.bincount(labels, minlength=n_states) / len(labels)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, change]
    lengths = np.diff(np.r_[starts, len(labels)])
    run_state = labels[starts]
    dwell = np.zeros(n_states)
    for k in range(n_states):
        if (run_state == k).any():
            dwell[k] = lengths[run_state == k].mean()
    counts = np.zeros((n_states, n_states))
    np.add.at(counts, (labels[:-1], labels[1:]), 1)
    rows = counts.sum(axis=1, keepdims=True)
    trans = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    return occupancy, dwell, trans, int(len(change))


def _tr_of(tsv, tr):
    if tr is not None:
        return float(tr)
    side = sidecar_path(tsv)
    if side.exists():
        value = json.loads(side.read_text()).get("RepetitionTime")
        if value:
            return float(value)
    raise input_error(tsv, "no RepetitionTime in its sidecar (pass tr=)")


def _subject(path):
    from pathlib import Path

    name = Path(path).name
    return name.split("_")[0] if name.startswith("sub-") else name.split(".")[0]


def dynamic_connectivity(
    timeseries_tsvs,
    out_states,
    out_metrics_tsv,
    *,
    out_labels_tsv=None,
    window_s=60.0,
    step_s=None,
    n_states=4,
    taper="gaussian",
    sigma_s=6.0,
    tr=None,
    seed=0,
    backend="auto",
    figure=None,
    fragment=None,
):
    """Sliding-window FC of every subject, group k-means states, state metrics.

    Parameters
    ----------
    timeseries_tsvs : list of path-like
        Regional time series (same regions), shape (n_volumes, n_regions) each.
    out_states : path-like
        ``.npz`` with ``centroids`` (n_states, n_regions, n_regions),
        ``regions`` (n_regions,), ``occupancy`` (n_states,) over the group.
    out_metrics_tsv : path-like
        One row per subject: ``occupancy_k``, ``dwell_s_k`` (mean dwell time
        in seconds), ``n_transitions``, ``p_i_j`` (transition probabilities).
    out_labels_tsv : path-like | None
        Long table: subject, window, onset (s), state.
    window_s, step_s : float
        Window length and step in seconds (step defaults to one TR).
    n_states : int
    taper : {None, "gaussian", "hann", "hamming"}
    sigma_s : float
        Gaussian taper SD in seconds.
    tr : float | None
        Repetition time; read from the time series sidecars when None.
    seed : int
    backend : str
        Kernel backend for rectangular windows.
    figure : path-like | None
        PNG: state centroids and each subject's state sequence.
    fragment : path-like | None

    Returns
    -------
    metrics : pandas.DataFrame, shape (n_subjects, n_columns)
    """
    timeseries_tsvs = list(timeseries_tsvs)
    if len(timeseries_tsvs) < 1:
        raise ValueError("dynamic_connectivity needs at least one time series.")
    tables = [read_timeseries(p) for p in timeseries_tsvs]
    names = list(tables[0].columns)
    for p, t in zip(timeseries_tsvs, tables):
        if list(t.columns) != names:
            raise input_error(p, f"has regions that differ from {timeseries_tsvs[0]}")
    trs = {_tr_of(p, tr) for p in timeseries_tsvs}
    if len(trs) != 1:
        raise ValueError(f"time series have different TRs {sorted(trs)}; pass tr= or resample")
    tr_value = trs.pop()
    window = int(round(window_s / tr_value))
    step = max(1, int(round((step_s if step_s is not None else tr_value) / tr_value)))
    for p, t in zip(timeseries_tsvs, tables):
        if len(t) < window:
            raise input_error(p, f"has {len(t)} volumes, fewer than the {window}-volume window")
    windowed = [
        sliding_window_correlations(t.to_numpy(), window, step, taper=taper,
                                    sigma=sigma_s / tr_value, backend=backend)
        for t in tables
    ]
    labels, centroids = fc_states(windowed, n_states, seed=seed)
    subjects = [_subject(p) for p in timeseries_tsvs]
    rows, long = [], []
    for sub, lab in zip(subjects, labels):
        occ, dwell, trans, n_tr = state_metrics(lab, n_states)
        row = {"participant_id": sub, "n_windows": len(lab), "n_transitions": n_tr}
        row.update({f"occupancy_{k}": occ[k] for k in range(n_states)})
        row.update({f"dwell_s_{k}": dwell[k] * step * tr_value for k in range(n_states)})
        row.update({f"p_{i}_{j}": trans[i, j] for i in range(n_states) for j in range(n_states)})
        rows.append(row)
        long += [{"participant_id": sub, "window": i, "onset": i * step * tr_value, "state": int(s)}
                 for i, s in enumerate(lab)]
    metrics = pd.DataFrame(rows)
    group_occ = np.bincount(np.concatenate(labels), minlength=n_states) / sum(map(len, labels))

    params = dict(WindowSeconds=window * tr_value, WindowVolumes=window, StepVolumes=step,
                  Taper=taper, TaperSigmaSeconds=sigma_s if taper == "gaussian" else None,
                  NumberOfStates=n_states, RepetitionTime=tr_value, Seed=seed,
                  Method="k-means (scikit-learn) on pooled window correlations (upper triangles)")
    with all_or_nothing(out_states, out_metrics_tsv, out_labels_tsv, figure, fragment):
        write_npz(out_states, centroids=centroids, regions=np.array(names), occupancy=group_occ)
        write_sidecar(out_states, timeseries_tsvs, **params)
        write_tsv(out_metrics_tsv, metrics)
        write_sidecar(out_metrics_tsv, timeseries_tsvs, **params)
        if out_labels_tsv is not None:
            write_tsv(out_labels_tsv, pd.DataFrame(long))
            write_sidecar(out_labels_tsv, timeseries_tsvs, **params)
        if figure is not None:
            _plot_states(centroids, group_occ, labels, subjects, step * tr_value, figure,
                         networks=_networks(timeseries_tsvs[0], names))
        if fragment is not None:
            items = [fragment_item(
                "html", "Dynamic connectivity",
                html=f"<p>{len(subjects)} subjects, windows of {window * tr_value:g} s "
                f"({taper or 'rectangular'} taper) every {step * tr_value:g} s, "
                f"{n_states} k-means states; group occupancy "
                f"{', '.join(f'{o:.2f}' for o in group_occ)}.</p>",
            )]
            if figure is not None:
                items.insert(0, fragment_item("image", "FC states", path=figure,
                                              caption="Top: the recurring FC states (k-means centroids of "
                                              "the sliding-window correlation matrices, share of windows in "
                                              "the title); bottom: which state each subject's windows are in "
                                              "over time (one row per subject)."))
            items.append(fragment_item("table", "State metrics per subject",
                                       path=out_metrics_tsv))
            write_fragment(fragment, "fMRI group", items, order=SECTION_ORDER + 3)
    return metrics


def _networks(tsv, names):
    side = sidecar_path(tsv)
    if side.exists():
        meta = json.loads(side.read_text())
        if meta.get("Regions") == names:
            return meta.get("Networks")
    return None


def _plot_states(centroids, occupancy, labels, subjects, step_s, path, networks=None):
    import matplotlib

    k = len(centroids)
    fig = new_figure(5.0 * k, 4.2 + 0.18 * len(subjects) + 1)
    gs = fig.add_gridspec(2, k, height_ratios=[4, 0.6 + 0.18 * len(subjects)], hspace=0.35,
                          wspace=0.55)
    vmax = float(np.abs(upper_triangles(centroids)).max()) or 1.0
    for i in range(k):
        ax = fig.add_subplot(gs[0, i])
        draw_matrix(ax, fig, centroids[i], networks=networks, vmax=vmax,
                    title=f"state {i} ({occupancy[i]:.0%})")
    ax = fig.add_subplot(gs[1, :])
    n_win = max(len(lab) for lab in labels)
    seq = np.full((len(labels), n_win), np.nan)
    for r, lab in enumerate(labels):
        seq[r, :len(lab)] = lab
    im = ax.imshow(seq, aspect="auto", interpolation="nearest", cmap=matplotlib.colormaps["tab10"].resampled(k),
                   vmin=-0.5, vmax=k - 0.5, extent=(0, n_win * step_s, len(labels) - 0.5, -0.5))
    fig.colorbar(im, ax=ax, ticks=range(k), label="state", pad=0.01)
    ax.set_yticks(range(len(subjects)))
    ax.set_yticklabels(subjects, fontsize=7)
    ax.set_xlabel("window onset (s)")
    ax.set_title("state sequence per subject")
    return save_figure(fig, path)
