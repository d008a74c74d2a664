"""Graph features of connectivity matrices, vectorised over stacks of matrices.

Every function takes ``(..., n_nodes, n_nodes)`` arrays, so one call handles
one subject, all subjects or all sliding windows; results match networkx
(tested) at a fraction of the time. The graph is undirected without
self-loops; negative correlations are dropped (or their absolute values
used with ``absolute=True``) before thresholding, as usual for FC graphs.

* :func:`threshold_matrix`: keep edges above a value, or the strongest
  ``density`` fraction (proportional thresholding, van den Heuvel et al. 2017).
* :func:`degree`, :func:`strength`
* :func:`triangles`: 3-cycles through each node (binary), ``diag(A^3) / 2``
* :func:`clustering`: binary (Watts-Strogatz) or weighted (Onnela et al.
  2005: geometric mean of max-normalised weights, as networkx)
* :func:`global_efficiency`: mean inverse shortest path length (binary)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._check import input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from .timeseries import SECTION, SECTION_ORDER


def _square(mats):
    mats = np.asarray(mats, dtype=float)
    if mats.ndim < 2 or mats.shape[-1] != mats.shape[-2]:
        raise ValueError(f"expected (..., n_nodes, n_nodes) matrices, got shape {mats.shape}")
    return mats


def threshold_matrix(fc, *, density=None, threshold=None, absolute=False):
    """Weighted adjacency matrices from connectivity matrices.

    Parameters
    ----------
    fc : ndarray, shape (..., n_nodes, n_nodes)
        Symmetric connectivity (e.g. correlation) matrices.
    density : float | None
        Keep the strongest ``density`` fraction of the ``n(n-1)/2`` edges.
    threshold : float | None
        Keep edges with weight ``> threshold``.
    absolute : bool
        Use ``|fc|`` (else negative weights are set to 0 first).

    Returns
    -------
    weights : ndarray, shape (..., n_nodes, n_nodes)
        Non-negative, symmetric, zero diagonal; 0 = no edge.
    """
    if (density is None) == (threshold is None):
        raise ValueError("Give exactly one of density= and threshold=.")
    w = _square(fc).copy()
    w = np.abs(w) if absolute else np.clip(w, 0, None)
    n = w.shape[-1]
    idx = np.arange(n)
    w[..., idx, idx] = 0.0
    if threshold is not None:
        return np.where(w > threshold, w, 0.0)
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    iu = np.triu_indices(n, 1)
    upper = w[..., iu[0], iu[1]]
    k = int(round(density * upper.shape[-1]))
    keep = np.zeros(upper.shape, dtype=bool)
    if k > 0:
        # stable order: among equal weights the earlier edges win
        order = np.argsort(-upper, axis=-1, kind="stable")[..., :k]
        np.put_along_axis(keep, order, True, axis=-1)
    upper = np.where(keep & (upper > 0), upper, 0.0)
    out = np.zeros_like(w)
    out[..., iu[0], iu[1]] = upper
    return out + np.swapaxes(out, -1, -2)


def degree(weights):
    """Number of edges of each node: (..., n, n) -> (..., n)."""
    return (_square(weights) != 0).sum(axis=-1).astype(float)


def strength(weights):
    """Sum of edge weights of each node: (..., n, n) -> (..., n)."""
    return _square(weights).sum(axis=-1)


def triangles(weights):
    """Number of 3-cycles (triangles) through each node: ``diag(A^3) / 2``."""
    # float32 counts are exact here (below 2**24) and twice as fast
    a = (_square(weights) != 0).astype(np.float32)
    return _closed_walks3(a).astype(float) / 2.0


def _closed_walks3(a):
    """``diag(A^3)`` of symmetric matrices with one BLAS product: sum_j (A^2)_ij A_ji."""
    return (np.matmul(a, a) * a).sum(axis=-1)


def clustering(weights, weighted=False):
    """Clustering coefficient of each node: (..., n, n) -> (..., n).

    Binary: ``2 T_i / (k_i (k_i - 1))``. Weighted (Onnela): the same with
    each triangle counted as the geometric mean of its weights divided by
    the largest weight of the graph (networkx's ``clustering(G, weight=)``).
    Nodes with fewer than two neighbours get 0.
    """
    w = _square(weights)
    k = degree(w)
    if weighted:
        top = w.max(axis=(-1, -2), keepdims=True)
        top[top == 0] = 1.0
        a = np.cbrt(w / top)
    else:
        a = (w != 0).astype(np.float32)
    cycles = _closed_walks3(a).astype(float)
    denom = k * (k - 1)
    return np.divide(cycles, denom, out=np.zeros_like(cycles), where=denom > 0)


def global_efficiency(weights):
    """Binary global efficiency: mean of ``1 / d(i, j)`` over node pairs.

    Shortest path lengths come from breadth-first expansion with matrix
    products (all matrices of the stack at once); unreachable pairs add 0.

    Returns
    -------
    efficiency : ndarray, shape (...)
    """
    a = (_square(weights) != 0).astype(np.float32)
    n = a.shape[-1]
    if n < 2:
        return np.zeros(a.shape[:-2])
    eye = np.eye(n, dtype=bool)
    reached = (a > 0) | eye
    inv_dist = np.where(a > 0, 1.0, 0.0)
    frontier = a > 0
    for step in range(2, n):
        new = (np.matmul(frontier.astype(np.float32), a) > 0) & ~reached
        if not new.any():
            break
        inv_dist[new] = 1.0 / step
        reached |= new
        frontier = new
    return inv_dist.sum(axis=(-1, -2)) / (n * (n - 1))


def graph_metrics(fc, *, density=None, threshold=None, absolute=False):
    """All graph features of (a stack of) connectivity matrices.

    Parameters
    ----------
    fc : ndarray, shape (..., n_nodes, n_nodes)
    density, threshold, absolute
        See :func:`threshold_matrix`.

    Returns
    -------
    nodes : dict of str -> ndarray, shape (..., n_nodes)
        ``degree``, ``strength``, ``clustering``, ``clustering_weighted``,
        ``triangles``.
    network : dict of str -> ndarray, shape (...)
        ``global_efficiency``, ``mean_clustering``, ``density``,
        ``mean_strength``.
    """
    w = threshold_matrix(fc, density=density, threshold=threshold, absolute=absolute)
    n = w.shape[-1]
    nodes = {
        "degree": degree(w),
        "strength": strength(w),
        "clustering": clustering(w),
        "clustering_weighted": clustering(w, weighted=True),
        "triangles": triangles(w),
    }
    network = {
        "global_efficiency": global_efficiency(w),
        "mean_clustering": nodes["clustering"].mean(axis=-1),
        "density": nodes["degree"].sum(axis=-1) / (n * (n - 1)),
        "mean_strength": nodes["strength"].mean(axis=-1),
    }
    return nodes, network


def graph_features(relmat_tsv, out_nodes_tsv, *, out_network_tsv=None, density=0.1,
                   threshold=None, absolute=False, atlas_labels=None, figure=None,
                   fragment=None):
    """Graph features of one subject's connectivity matrix.

    Parameters
    ----------
    relmat_tsv : path-like
        XCP-D-style relmat, shape (n_regions, n_regions).
    out_nodes_tsv : path-like
        One row per region: ``node``, ``network``, then the node features.
    out_network_tsv : path-like | None
        One row: the network-level features.
    density, threshold, absolute
        See :func:`threshold_matrix` (``threshold`` wins when given).
    atlas_labels : path-like | None
        Label table for the ``network`` column.
    figure : path-like | None
        PNG: degree and clustering per region, grouped by network.
    fragment : path-like | None

    Returns
    -------
    nodes : pandas.DataFrame, shape (n_regions, n_columns)
    network : dict of str -> float
    """
    from ._inputs import read_atlas_labels
    from .connectivity import read_relmat

    fc = read_relmat(relmat_tsv)
    values = fc.to_numpy()
    if not np.isfinite(values).all():
        raise input_error(relmat_tsv, "connectivity matrix has n/a values")
    if threshold is not None:
        density = None
    node_feats, net_feats = graph_metrics(values, density=density, threshold=threshold,
                                          absolute=absolute)
    names = list(fc.index.astype(str))
    networks = ["n/a"] * len(names)
    if atlas_labels is not None:
        table = read_atlas_labels(atlas_labels).set_index("name")
        networks = [table["network"].get(n, "n/a") for n in names]
    nodes = pd.DataFrame({"node": names, "network": networks, **node_feats})
    network = {k: float(v) for k, v in net_feats.items()}
    params = dict(Density=density, Threshold=threshold, AbsoluteWeights=bool(absolute))
    with all_or_nothing(out_nodes_tsv, out_network_tsv, figure, fragment):
        write_tsv(out_nodes_tsv, nodes)
        write_sidecar(out_nodes_tsv, [relmat_tsv], **params, **network)
        if out_network_tsv is not None:
            write_tsv(out_network_tsv, pd.DataFrame([network]))
            write_sidecar(out_network_tsv, [relmat_tsv], **params)
        if figure is not None:
            _plot_nodes(nodes, figure)
        if fragment is not None:
            html = "".join(f"<li>{k}: {v:.3g}</li>" for k, v in network.items())
            items = [fragment_item("html", "Graph features", html=f"<ul>{html}</ul>")]
            if figure is not None:
                items.append(fragment_item(
                    "image", "Node degree and clustering", path=figure,
                    caption="Degree (top) and clustering coefficient (bottom) of every region in the graph "
                            "that keeps " + (f"the strongest {density:.0%} of the Pearson FC edges"
                                             if density is not None else f"the Pearson FC edges above {threshold:g}")
                            + ", regions grouped "
                            "and coloured by network: hubs are the tall bars, a network of high clustering "
                            "is a tightly knit module."))
            write_fragment(fragment, SECTION, items, order=SECTION_ORDER + 4)
    return nodes, network


def _plot_nodes(nodes, path):
    import matplotlib

    from ..io.figures import new_subplots, save_figure
    from .figures import network_order

    order = network_order(nodes["network"].tolist())
    df = nodes.iloc[order].reset_index(drop=True)
    fig, axes = new_subplots(2, 1, figsize=(10, 5), sharex=True)
    codes, uniques = pd.factorize(df["network"])
    colours = matplotlib.colormaps["tab10"](codes % 10)
    for ax, col in zip(axes, ("degree", "clustering")):
        ax.bar(np.arange(len(df)), df[col], color=colours, width=1.0)
        ax.set_ylabel(col)
    bounds = [0] + [i for i in range(1, len(df)) if codes[i] != codes[i - 1]] + [len(df)]
    axes[1].set_xticks([(a + b - 1) / 2 for a, b in zip(bounds[:-1], bounds[1:])])
    axes[1].set_xticklabels([df["network"][a] for a in bounds[:-1]], rotation=45, fontsize=8)
    return save_figure(fig, path)
