"""The offline BCI report fragment: a score summary table (HTML) and the figures."""

from __future__ import annotations

import numpy as np

from ..io.fragments import fragment_item, write_fragment

__all__ = ["write_offline_fragment"]


def write_offline_fragment(path, results, table, scores_png, cov_png, acm, score_name,
                           chance, seconds):
    """Write the "Offline BCI" fragment: the mean score per evaluation and pipeline, the figures, the table."""
    summary = (
        results.groupby(["evaluation", "pipeline"], sort=False)["score"]
        .agg(["mean", "std", "count"]).reset_index()
    )
    rows = "".join(
        f"<tr><td>{r.evaluation}</td><td>{r.pipeline}</td><td>{r.mean:.3f}</td>"
        f"<td>{0 if np.isnan(r.std) else r.std:.3f}</td><td>{r.count}</td></tr>"
        for r in summary.itertuples()
    )
    html = (
        f"<p>MOABB evaluations, score = {score_name}"
        + (f" (chance {chance:.2f})" if chance is not None else "")
        + f"; one decision per {seconds:.2f} s epoch.</p>"
        "<table><tr><th>evaluation</th><th>pipeline</th><th>mean</th><th>sd</th>"
        f"<th>sessions</th></tr>{rows}</table>"
    )
    if acm:
        html += "<p>ACM embedding: " + "; ".join(
            f"{name}: order {p['order']}, lag {p['lag']}" for name, p in acm.items()) + "</p>"
    items = [
        fragment_item("html", "Scores per pipeline", html=html),
        fragment_item("image", "Offline scores", path=scores_png,
                      caption="Within-session (k-fold) and cross-session scores, "
                              "one dot per session."),
        fragment_item("image", "Class-mean covariance matrices", path=cov_png,
                      caption="Riemannian mean per class of the epochs' covariance matrices: the class "
                              "difference the Riemannian pipelines (MDM, tangent space) decode."),
        fragment_item("table", "Offline scores table", path=table),
    ]
    write_fragment(path, "Offline BCI", items, order=40)
