"""DemoVAE workflow steps: files in, files out (what the ``demovae_*`` rules call).

- :func:`fit_step`: train on every subject's FC and demographics; the model
  file, the per-epoch TSV, latents, training curves and the latent-demographic
  correlation heatmap.
- :func:`generate_step`: synthetic FC for each subject's demographics (the
  subject report's "real versus synthetic" figure) and the faithful-synthesis
  table (real -> synthetic and synthetic -> real predictors against chance).
- :func:`harmonize_step`: every subject re-decoded with a reference site;
  harmonized relmats (for ``fmri_predict``) and the harmonization table (site
  and age predictability before and after, ComBat beside it when installed).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
from ..io.figures import save_figure
from ..fmri.dynamic import from_upper_triangle
from ..io.fragments import fragment_item, write_fragment
from .demovae_figures import correlation_figure as plot_correlations
from .demovae_figures import fc_pair_figure, harmonization_figure
from .figures import training_curves_figure

log = logging.getLogger(__name__)

__all__ = ["load_fc", "fit_step", "generate_step", "harmonize_step"]


def _subject(path):
    from ..fmri.prediction import _subject_of

    sub = _subject_of(Path(path))
    if sub is None:
        raise input_error(path, "file name has no sub-<label> entity")
    return sub


def load_fc(relmat_tsvs, participants_tsv, columns):
    """FC upper triangles and the demographics of the same subjects.

    Parameters
    ----------
    relmat_tsvs : sequence of path-like
        One XCP-D-style relmat per subject (``sub-XX`` in the name).
    participants_tsv : path-like
        BIDS participants table with ``participant_id`` and ``columns``.
    columns : sequence of str
        Demographic columns the model uses.

    Returns
    -------
    X : ndarray, shape (n_subjects, n_regions * (n_regions - 1) / 2)
    demographics : pandas.DataFrame, n_subjects rows, ``columns``
    names : list of str
        Region names (the relmats' order).
    subjects : list of str
    """
    from ..fmri.connectivity import read_relmat
    from ..fmri.dynamic import upper_triangles

    participants_tsv = check_file(participants_tsv, "participants table")
    table = pd.read_csv(participants_tsv, sep="\t", na_values=["n/a"], dtype={"participant_id": str})
    if "participant_id" not in table.columns:
        raise input_error(participants_tsv, "has no participant_id column")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise input_error(participants_tsv, f"has no demographic column(s) {missing} (models.demovae.demographics)")
    table = table.set_index("participant_id")
    mats, names, subjects = [], None, []
    for p in relmat_tsvs:
        sub = _subject(p)
        if sub not in table.index:
            raise input_error(participants_tsv, f"has no row for {sub} (from {p})")
        df = read_relmat(p)
        if names is None:
            names = [str(n) for n in df.index]
        elif [str(n) for n in df.index] != names:
            raise input_error(p, f"has regions that differ from {relmat_tsvs[0]}")
        m = df.to_numpy(dtype=float)
        if not np.isfinite(m).all():
            raise input_error(p, "has n/a or infinite connectivity values")
        mats.append(m)
        subjects.append(sub)
    demo = table.loc[subjects, list(columns)].reset_index(drop=True)
    for c in columns:
        if demo[c].isna().any():
            bad = [s for s, v in zip(subjects, demo[c].isna()) if v]
            raise input_error(participants_tsv, f"demographic column {c!r} is missing for {bad[:5]}")
    return upper_triangles(np.stack(mats)).astype(np.float32), demo, names, subjects


def _checkpoint_path(checkpoint_dir, relmats, participants, params):
    """A checkpoint name that changes with the inputs' content and the parameters.

    A stale checkpoint (other data, other settings) is never resumed.
    """
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for p in [*relmats, participants]:
        h.update(Path(p).read_bytes())
    return Path(checkpoint_dir) / f"demovae-{h.hexdigest()[:16]}.pt"


def fit_step(
    relmat_tsvs,
    participants_tsv,
    model_out,
    training_tsv,
    latents_tsv,
    *,
    demographics=("age", "sex", "site"),
    categorical=("site",),
    seed=0,
    device="auto",
    checkpoint_dir=None,
    curves_figure=None,
    correlation_figure=None,
    fragment=None,
    progress=True,
    **params,
):
    """Train DemoVAE on all subjects' FC; write the model and its diagnostics.

    Parameters
    ----------
    relmat_tsvs : list of path-like
        Pearson FC relmats, one per subject.
    participants_tsv : path-like
    model_out : path-like
        Fitted model (``torch.load(weights_only=True)``-safe).
    training_tsv : path-like
        Per-epoch metrics (``*_desc-demovae_training.tsv``).
    latents_tsv : path-like
        ``participant_id`` + one column per latent.
    demographics : sequence of str
        participants.tsv columns the decoder is conditioned on.
    categorical : sequence of str
        Of those, the ones that are categorical whatever their dtype.
    seed, device : see :class:`~brainpipe.models.DemoVAE`.
    checkpoint_dir : path-like or None
        Folder for the resumable training checkpoint (removed after success).
    curves_figure, correlation_figure, fragment : path-like or None
    **params
        :class:`~brainpipe.models.DemoVAE` parameters (sizes, epochs, weights).
    """
    from .demovae import DemoVAE
    from .demovae_eval import encoded_demographics, latent_correlations, null_max_abs_r

    demographics = list(demographics)
    relmat_tsvs = list(relmat_tsvs)
    X, demo, names, subjects = load_fc(relmat_tsvs, participants_tsv, demographics)
    cat = [c for c in (categorical or []) if c in demographics]
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = _checkpoint_path(checkpoint_dir, relmat_tsvs, participants_tsv,
                                {**params, "seed": seed, "demographics": demographics, "categorical": cat})
        if ckpt.exists():
            log.info("resuming DemoVAE training from %s", ckpt)
    log.info("DemoVAE: %d subjects x %d FC edges, demographics %s", *X.shape, demographics)
    with all_or_nothing(model_out, training_tsv, latents_tsv, curves_figure, correlation_figure, fragment):
        model = DemoVAE(categorical=cat, seed=seed, device=device, checkpoint=ckpt,
                        metrics_tsv=training_tsv, progress=progress, **params)
        model.fit(X, demo)
        model.save(model_out)
        Z = model.transform(X)
        D, dnames = encoded_demographics(model.coder_, demo)
        r = latent_correlations(Z, D)
        lat = pd.DataFrame(Z, columns=[f"z{i:02d}" for i in range(Z.shape[1])])
        lat.insert(0, "participant_id", subjects)
        write_tsv(latents_tsv, lat)
        meta = dict(Model="DemoVAE", Demographics=demographics, Categorical=cat, Seed=seed,
                    Device=model.device_, BestEpoch=int(model.best_epoch_), Epochs=len(model.history_),
                    Parameters={k: v for k, v in params.items()})
        write_sidecar(training_tsv, relmat_tsvs + [participants_tsv], **meta)
        write_sidecar(latents_tsv, relmat_tsvs + [participants_tsv], **meta)
        null = null_max_abs_r(len(X), r.shape)
        items = []
        if curves_figure is not None:
            save_figure(training_curves_figure(model.history_, "DemoVAE", monitor=model.monitor,
                                              best_epoch=model.best_epoch_), curves_figure)
            items.append(fragment_item(
                "image", "DemoVAE training", path=curves_figure,
                caption=f"Loss per epoch on the training and validation subjects (early stopping kept "
                        f"epoch {model.best_epoch_}, dashed); middle: the loss terms; right: the validation value "
                        f"early stopping followed ({model.monitor}; rec_decor = {model.rec_weight:g} x reconstruction "
                        f"RMSE + {model.decor_weight:g} x latent-demographic |r|)."))
        if correlation_figure is not None:
            save_figure(plot_correlations(r, dnames), correlation_figure)
            items.append(fragment_item(
                "image", "Latent-demographic correlations", path=correlation_figure,
                caption=f"Pearson r between each latent and each demographic over the {len(X)} subjects "
                        f"(max |r| = {np.abs(r).max():.2f}; independent latents reach {null:.2f} by chance "
                        "with this many subjects)."))
        if fragment is not None:
            # the decorrelation table: what the figure shows, one row per demographic column
            rows = "".join(
                f"<tr><td>{html.escape(str(name))}</td><td>{np.abs(r[:, j]).max():.3f}</td>"
                f"<td>{np.abs(r[:, j]).mean():.3f}</td></tr>" for j, name in enumerate(dnames))
            items.append(fragment_item(
                "html", "Decorrelation of latents and demographics",
                html="<p>Largest and mean |Pearson r| between the latents and each demographic column over "
                     f"the {len(X)} subjects; independent latents reach a largest |r| of {null:.2f} by chance "
                     "with this many subjects, so values near or below it mean no demographic is left in the "
                     "latents.</p><table class='table table-sm'><thead><tr><th>demographic</th>"
                     f"<th>max |r|</th><th>mean |r|</th></tr></thead><tbody>{rows}</tbody></table>"))
            write_fragment(fragment, "DemoVAE", items, order=60)
    return model


def generate_step(
    model_path,
    relmat_tsvs,
    participants_tsv,
    synthesis_tsv,
    *,
    figure=None,
    fragment=None,
    subject_figures=(),
    subject_fragments=(),
    seed=0,
    n_samples=50,
):
    """Synthetic FC: per-subject figures and the faithful-synthesis table.

    Parameters
    ----------
    model_path : path-like
        A model written by :func:`fit_step`.
    relmat_tsvs : list of path-like
        The real FC (same subjects the model was fitted on, or others).
    participants_tsv : path-like
    synthesis_tsv : path-like
        ``direction, target, metric, score, null`` (see
        :func:`~brainpipe.models.demovae_eval.synthesis_fidelity`).
    figure, fragment : path-like or None
        Group figure (mean real vs mean synthetic FC) and group fragment.
    subject_figures, subject_fragments : sequences of path-like
        One per relmat (same order), or empty.
    seed : int
    n_samples : int
        Synthetic draws averaged in the per-subject figure.
    """
    from .demovae import DemoVAE
    from .demovae_eval import synthesis_fidelity

    relmat_tsvs = list(relmat_tsvs)
    model = DemoVAE.load(check_file(model_path, "DemoVAE model"))
    columns = list(model.coder_.columns)
    X, demo, names, subjects = load_fc(relmat_tsvs, participants_tsv, columns)
    n = len(names)
    subject_figures, subject_fragments = list(subject_figures), list(subject_fragments)
    if subject_figures and len(subject_figures) != len(relmat_tsvs):
        raise ValueError("generate_step: one subject figure per relmat is needed")
    outputs = [synthesis_tsv, figure, fragment, *subject_figures, *subject_fragments]
    with all_or_nothing(*outputs):
        table = synthesis_fidelity(model, X, demo, seed=seed, n_synthetic=max(len(X), 200))
        write_tsv(synthesis_tsv, table)
        write_sidecar(synthesis_tsv, [model_path, *relmat_tsvs, participants_tsv], Seed=seed,
                      Description="Predictors trained on real FC scored on synthetic FC, and the reverse")
        X_syn, _ = model.generate(demo, seed=seed)
        if figure is not None:
            fig = fc_pair_figure(from_upper_triangle(X.mean(0), n), from_upper_triangle(X_syn.mean(0), n),
                                  ("mean real FC", "mean synthetic FC (same demographics)"))
            save_figure(fig, figure)
        if fragment is not None:
            html = table.to_html(index=False, float_format=lambda v: f"{v:.3f}", escape=True)
            items = [fragment_item("html", "Faithful synthesis", html=html,
                                   caption="Predictors trained on real FC applied to synthetic FC generated "
                                           "for the same demographics, and the reverse; null = chance.")]
            if figure is not None:
                items.insert(0, fragment_item("image", "Real and synthetic FC", path=figure,
                                              caption="Group mean of the real FC and of synthetic FC decoded "
                                                      "from z ~ N(0, I) with each subject's demographics."))
            write_fragment(fragment, "DemoVAE", items, order=61)
        for i, (fig_path, frag_path) in enumerate(zip(subject_figures, subject_fragments)):
            row = demo.iloc[[i]]
            reps = pd.concat([row] * int(n_samples), ignore_index=True)
            Xs, _ = model.generate(reps, seed=seed + 1 + i)
            desc = ", ".join(f"{c} {row.iloc[0][c]}" for c in columns)
            fig = fc_pair_figure(from_upper_triangle(X[i], n), from_upper_triangle(Xs.mean(0), n),
                                  ("this subject's FC", f"synthetic FC, mean of {n_samples} draws"))
            save_figure(fig, fig_path)
            write_fragment(frag_path, "DemoVAE", [fragment_item(
                "image", "Real versus synthetic FC", path=fig_path,
                caption=f"Left: the subject's Pearson FC. Right: DemoVAE's synthetic FC for the same "
                        f"demographics ({desc}), averaged over {n_samples} latent draws.")], order=60)
    return table


def harmonize_step(
    model_path,
    relmat_tsvs,
    participants_tsv,
    out_relmats,
    scores_tsv,
    *,
    site_column="site",
    reference=None,
    keep=("age",),
    combat=True,
    seed=0,
    figure=None,
    fragment=None,
):
    """Re-decode every subject with a reference site; score the harmonization.

    Parameters
    ----------
    model_path : path-like
    relmat_tsvs : list of path-like
    participants_tsv : path-like
    out_relmats : list of path-like
        Harmonized relmats, one per input (same order).
    scores_tsv : path-like
        ``method, target, metric, score, chance``: site and ``keep``
        predictability for the original FC, DemoVAE-harmonized FC and (when
        ``combat`` and neuroCombat is installed) ComBat.
    site_column : str
        The model's site demographic.
    reference : dict or None
        Demographics to decode with; default the site with most subjects
        (first in sorted order on ties).
    keep : sequence of str
        Demographics whose prediction must survive.
    combat : bool
        Add a ComBat row (neuroCombat; skipped with a log line when missing).
    seed : int
    figure, fragment : path-like or None
    """
    from ..fmri._outputs import write_relmat
    from .demovae import DemoVAE
    from .demovae_eval import combat_harmonize, harmonization_scores

    relmat_tsvs, out_relmats = list(relmat_tsvs), list(out_relmats)
    if len(out_relmats) != len(relmat_tsvs):
        raise ValueError("harmonize_step: one output relmat per input relmat is needed")
    model = DemoVAE.load(check_file(model_path, "DemoVAE model"))
    columns = list(model.coder_.columns)
    if site_column not in columns:
        raise ValueError(f"harmonize: site column {site_column!r} is not a demographic of the model ({columns}); "
                         "add it to models.demovae.demographics.")
    X, demo, names, subjects = load_fc(relmat_tsvs, participants_tsv, columns)
    if reference is None:
        counts = demo[site_column].astype(str).value_counts()
        top = sorted(counts[counts == counts.max()].index)[0]
        reference = {site_column: top}
    X_h = np.clip(model.harmonize(X, demo, reference), -1.0, 1.0)
    features = {"original": X, "DemoVAE": X_h}
    if combat:
        try:
            features["ComBat"] = combat_harmonize(X, demo, site=site_column,
                                                  covariates=[c for c in columns if c != site_column])
        except ImportError as err:
            log.info("no ComBat row: %s", err)
    keep = [k for k in keep if k in demo.columns]
    with all_or_nothing(*out_relmats, scores_tsv, figure, fragment):
        for vec, path in zip(X_h, out_relmats):
            write_relmat(path, from_upper_triangle(vec, len(names)), names)
        table = harmonization_scores(features, demo, site=site_column, keep=keep, seed=seed)
        write_tsv(scores_tsv, table)
        write_sidecar(scores_tsv, [model_path, *relmat_tsvs, participants_tsv], Reference=reference, Seed=seed,
                      CrossValidation="5-fold (stratified for categories)")
        if figure is not None:
            save_figure(harmonization_figure(table, site_column), figure)
        if fragment is not None:
            html = table.to_html(index=False, float_format=lambda v: f"{v:.3f}", escape=True)
            ref = ", ".join(f"{k} = {v}" for k, v in reference.items())
            # the decoder is handed these back, so DemoVAE's scores for them
            # are high by construction (a reader would take them for kept signal)
            given = [k for k in keep if k in columns and k not in reference]
            given_note = (f" DemoVAE's decoder is given each subject's own {', '.join(given)}, so its scores "
                          "for them are high by construction, not evidence of kept signal." if given else "")
            items = [fragment_item("html", "Harmonization", html=html,
                                   caption=f"DemoVAE re-decodes every subject with {ref}. Site: balanced "
                                           "accuracy of a 5-fold logistic regression (chance = 1 / sites); "
                                           "kept demographics: 5-fold ridge r or balanced accuracy."
                                           + given_note)]
            if figure is not None:
                items.insert(0, fragment_item("image", "Site and demographics before/after", path=figure,
                                              caption="How well site (left) and each kept demographic are "
                                                      "predicted from the original FC, from DemoVAE's "
                                                      "harmonized FC and from ComBat; dashed lines are chance. "
                                                      "Good harmonization: site falls to chance, the kept "
                                                      "demographics stay." + given_note))
            write_fragment(fragment, "DemoVAE", items, order=62)
    return table

