"""Graph features against networkx, thresholding rules, the file step, and speed."""

import time

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from brainpipe.fmri.connectivity import relmat_name
from brainpipe.fmri._outputs import write_relmat
from brainpipe.fmri.graph import (
    clustering,
    degree,
    global_efficiency,
    graph_features,
    graph_metrics,
    strength,
    threshold_matrix,
    triangles,
)


def _random_fc(rng, n=30, t=80):
    x = rng.standard_normal((t, n)) + rng.standard_normal((t, 1)) * 0.5
    x[:, : n // 3] += rng.standard_normal((t, 1))
    return np.corrcoef(x.T)


@pytest.mark.parametrize("density", [0.05, 0.2, 0.5])
def test_node_features_match_networkx(density):
    rng = np.random.default_rng(int(density * 100))
    fc = _random_fc(rng)
    w = threshold_matrix(fc, density=density)
    g = nx.from_numpy_array(w)
    n = len(w)
    np.testing.assert_array_equal(degree(w), [g.degree(i) for i in range(n)])
    np.testing.assert_allclose(strength(w), [g.degree(i, weight="weight") for i in range(n)])
    tri = nx.triangles(g)
    np.testing.assert_allclose(triangles(w), [tri[i] for i in range(n)])
    cb = nx.clustering(g)
    np.testing.assert_allclose(clustering(w), [cb[i] for i in range(n)], atol=1e-12)
    cw = nx.clustering(g, weight="weight")
    np.testing.assert_allclose(clustering(w, weighted=True), [cw[i] for i in range(n)], atol=1e-12)
    assert global_efficiency(w) == pytest.approx(nx.global_efficiency(g), abs=1e-12)


def test_efficiency_of_known_graphs():
    path = nx.to_numpy_array(nx.path_graph(5))
    assert global_efficiency(path) == pytest.approx(nx.global_efficiency(nx.path_graph(5)))
    # two disconnected edges: pairs across components add 0
    a = np.zeros((4, 4))
    a[0, 1] = a[1, 0] = a[2, 3] = a[3, 2] = 1
    assert global_efficiency(a) == pytest.approx(4 / 12)
    assert global_efficiency(np.ones((6, 6)) - np.eye(6)) == pytest.approx(1.0)


def test_thresholding_rules():
    rng = np.random.default_rng(1)
    fc = _random_fc(rng, n=20)
    n_pairs = 20 * 19 / 2
    for d in (0.1, 0.3):
        w = threshold_matrix(fc, density=d)
        assert (w != 0).sum() / 2 == round(d * n_pairs)
        np.testing.assert_array_equal(w, w.T)
        assert np.all(np.diag(w) == 0) and w.min() >= 0
        # the kept edges are the strongest ones
        kept = fc[np.triu_indices(20, 1)][w[np.triu_indices(20, 1)] > 0]
        dropped = fc[np.triu_indices(20, 1)][w[np.triu_indices(20, 1)] == 0]
        assert kept.min() >= dropped.max()
    w = threshold_matrix(fc, threshold=0.3)
    assert np.all((w == 0) | (w > 0.3))
    neg = -np.abs(fc)
    np.fill_diagonal(neg, 1)
    assert threshold_matrix(neg, threshold=0.1).sum() == 0
    assert threshold_matrix(neg, threshold=0.1, absolute=True).sum() > 0
    with pytest.raises(ValueError, match="exactly one"):
        threshold_matrix(fc)


def test_stacks_equal_one_by_one():
    rng = np.random.default_rng(2)
    stack = np.stack([_random_fc(rng, n=15) for _ in range(4)])
    nodes, net = graph_metrics(stack, density=0.2)
    for i in range(4):
        n1, g1 = graph_metrics(stack[i], density=0.2)
        for k in n1:
            np.testing.assert_allclose(nodes[k][i], n1[k])
        for k in g1:
            np.testing.assert_allclose(net[k][i], g1[k])


def test_graph_features_file(tmp_path):
    rng = np.random.default_rng(3)
    fc = _random_fc(rng, n=12)
    names = [f"R{i}" for i in range(12)]
    rel = tmp_path / relmat_name("sub-01_task-rest_atlas-t", "correlation")
    write_relmat(rel, fc, names)
    labels = tmp_path / "dseg.tsv"
    pd.DataFrame({"index": range(1, 13), "name": names,
                  "network": ["A"] * 4 + ["B"] * 8}).to_csv(labels, sep="\t", index=False)
    out, out_net, fig = tmp_path / "nodes.tsv", tmp_path / "net.tsv", tmp_path / "g.png"
    nodes, net = graph_features(rel, out, out_network_tsv=out_net, density=0.3,
                                atlas_labels=labels, figure=fig)
    back = pd.read_csv(out, sep="\t")
    assert list(back["node"]) == names and back["network"].iloc[0] == "A"
    np.testing.assert_allclose(back["degree"], nodes["degree"])
    assert pd.read_csv(out_net, sep="\t")["density"].iloc[0] == pytest.approx(0.3, abs=0.01)
    assert fig.exists()


def test_speed_400_rois():
    """Graph features of 20 sliding windows of a 400-region FC in seconds (shared CI cores)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((120, 400))
    fc = np.corrcoef(x.T)
    stack = np.repeat(fc[None], 20, axis=0) + 0.01 * rng.standard_normal((20, 400, 400))
    stack = (stack + np.swapaxes(stack, 1, 2)) / 2
    t0 = time.perf_counter()
    nodes, net = graph_metrics(stack, density=0.1)
    elapsed = time.perf_counter() - t0
    assert nodes["degree"].shape == (20, 400)
    print(f"graph metrics of 20 x 400-node graphs: {elapsed:.2f} s")
    assert elapsed < 60


def _fc_inputs(tmp_path):
    rng = np.random.default_rng(5)
    names = [f"R{i}" for i in range(12)]
    rel = tmp_path / relmat_name("sub-01_task-rest_atlas-t", "correlation")
    write_relmat(rel, _random_fc(rng, n=12), names)
    labels = tmp_path / "dseg.tsv"
    pd.DataFrame({"index": range(1, 13), "name": names}).to_csv(labels, sep="\t", index=False)
    return rel, labels


def test_steps_runs_several_commands_in_one_process(tmp_path):
    """``brainpipe steps A ++ B``: each step as its own command would write it."""
    import subprocess
    import sys

    rel, labels = _fc_inputs(tmp_path)

    def graph(tag, density):
        return ["fmri-graph", "--relmat", str(rel), "--labels", str(labels), "--nodes", str(tmp_path / f"{tag}.tsv"),
                "--opts", f'{{"density": {density}}}']

    run = lambda *args: subprocess.run([sys.executable, "-m", "brainpipe.cli", *args],  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    proc = run("steps", *graph("a", 0.2), "++", *graph("b", 0.4))
    assert proc.returncode == 0, proc.stderr
    assert "step 2/2: fmri-graph" in proc.stderr
    alone = run(*graph("c", 0.4))
    assert alone.returncode == 0, alone.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.tsv", sep="\t"), pd.read_csv(tmp_path / "c.tsv", sep="\t"))
    assert pd.read_csv(tmp_path / "a.tsv", sep="\t")["degree"].sum() < pd.read_csv(tmp_path / "b.tsv", sep="\t")[
        "degree"].sum()
    # a bad step's arguments stop the run before any step works
    bad = run("steps", *graph("d", 0.2), "++", "fmri-graph", "--nodes", str(tmp_path / "e.tsv"))
    assert bad.returncode != 0 and "--relmat" in bad.stderr
    assert not (tmp_path / "d.tsv").exists()
    # an input error names the step it came from
    missing = run("steps", *graph("f", 0.2), "++", "fmri-graph", "--relmat", str(tmp_path / "none.tsv"),
                  "--labels", str(labels), "--nodes", str(tmp_path / "g.tsv"))
    assert missing.returncode == 2 and "fmri-graph:" in missing.stderr and "none.tsv" in missing.stderr
    for args in (["steps", "++"], ["steps", *graph("h", 0.2), "++"], ["steps", "steps", "fmri-graph"]):
        assert run(*args).returncode != 0


def test_split_steps():
    from brainpipe.cli import split_steps

    assert split_steps(["a", "-x", "1", "++", "b"]) == [["a", "-x", "1"], ["b"]]
    with pytest.raises(SystemExit, match="empty step"):
        split_steps(["a", "++", "++", "b"])
