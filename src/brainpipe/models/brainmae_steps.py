"""BrainMAE workflow steps: files in, files out (what ``brainpipe brainmae-*`` runs).

- :func:`pretrain_brainmae` (group): pretrain on every subject's ROI time
  series, hold out subjects for validation, and write the model, the
  per-epoch training table, the held-out masked-reconstruction error against
  baselines, the ROI-embedding similarity against group FC (Mantel
  permutation test), figures and the group fragment.
- :func:`probe_brainmae` (group): linear heads on frozen representations,
  subject-disjoint 5-fold CV, for pretrained BrainMAE, the same network at its
  random initialisation, and FC upper triangle + ridge; one scores
  table in the style of ``*_desc-prediction_scores.tsv``.
- :func:`brainmae_subject_figures` (group job, per-subject outputs; in
  :mod:`.brainmae_subject`): one masked segment of each subject and its
  reconstruction, and the subject fragments.

The segment length comes from the TR in the BOLD's JSON sidecar
(``RepetitionTime``); the BOLD paths are passed so the sidecars are found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import all_or_nothing, write_npz, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from .brainmae import BrainMAE, baseline_predictions, masked_mse, probe_cv, similarity_vs_fc
from .brainmae_figures import plot_probe, plot_similarity, plot_training
from .brainmae_inputs import (checkpoint_path, common_tr, fc_features, group_fc, network_order,
                              read_timeseries, subject_label)

__all__ = ["pretrain_brainmae", "probe_brainmae", "brainmae_subject_figure", "brainmae_subject_figures",
           "read_timeseries",
           "common_tr", "group_fc", "reconstruction_scores"]

SECTION = "BrainMAE"


# -- pretraining ------------------------------------------------------------------


def pretrain_brainmae(timeseries_tsvs, bold_files, out_model, *, out_training_tsv, out_reconstruction_tsv,
                      out_similarity_tsv, out_embeddings_npz=None, atlas_labels=None, figure_training=None,
                      figure_similarity=None, fragment=None, checkpoint_dir=None, n_permutations=1000,
                      eval_seed=0, progress=True, **params):
    """Pretrain BrainMAE on every subject's ROI time series and evaluate it.

    Parameters
    ----------
    timeseries_tsvs : list of path-like
        One ROI time series per subject, shape (n_times, n_rois).
    bold_files : list of path-like
        The BOLD runs they come from: ``RepetitionTime`` of their JSON
        sidecars sets the segment length (one TR for all).
    out_model : path-like
        Weights and configuration (``.pt``, read with
        :meth:`BrainMAE.load`); the subjects, their train / held-out split
        and the TR are stored with it.
    out_training_tsv : path-like
        Per-epoch history (train/val loss, masked and visible MSE, lr, seconds).
    out_reconstruction_tsv : path-like
        Masked-reconstruction MSE on the held-out subjects (the training
        subjects when ``val_fraction=0``): one row per method (``brainmae``
        and the baselines of :func:`baseline_predictions`), with its ratio to
        the ROI-mean baseline.
    out_similarity_tsv : path-like
        Correlation of the ROI-embedding cosine similarity (and of the
        symmetrised encoder attention) with the group FC of the training
        subjects, with its ROI-permutation p-value.
    out_embeddings_npz : path-like | None
        ``embedding`` (n_rois, embed_dim), ``similarity``, ``attention``,
        ``fc`` (n_rois, n_rois) and ``rois``.
    atlas_labels : path-like | None
        Label table; its ``network`` column orders the ROIs in the figure.
    figure_training, figure_similarity, fragment : path-like | None
    checkpoint_dir : path-like | None
        Folder of the resumable training checkpoint (default: beside the
        model); a killed run started again resumes from it, and it is removed
        when the run finishes.
    n_permutations : int
        Permutations of the similarity test.
    eval_seed : int
        Seed of the evaluation masks.
    progress : bool
    **params
        :class:`BrainMAE` parameters (``seed``, ``device``, sizes, training).

    Returns
    -------
    model : BrainMAE
    """
    series, subjects, rois = read_timeseries(timeseries_tsvs)
    if len(bold_files) != len(series):
        raise ValueError(f"{len(bold_files)} BOLD files were given for {len(series)} time series.")
    for b, s in zip(bold_files, subjects):
        if subject_label(b) != s:
            raise input_error(b, f"is not the BOLD of sub-{s} (the time series are in the same order)")
    tr = common_tr(bold_files)
    if len(series) < 2:
        raise ValueError("BrainMAE pretraining needs at least 2 subjects (one is held out).")

    ckpt = checkpoint_path(checkpoint_dir, out_model, {"params": params, "subjects": subjects, "tr": tr,
                                                        "shape": [x.shape for x in series]})
    est = BrainMAE(tr=tr, progress=progress, checkpoint=ckpt, metrics_tsv=out_training_tsv, **params)
    with all_or_nothing(out_model, out_training_tsv, out_reconstruction_tsv, out_similarity_tsv,
                        out_embeddings_npz, figure_training, figure_similarity, fragment):
        est.fit(series)
        train_idx, val_idx = est.train_subjects_, est.val_subjects_
        meta = {"Subjects": subjects, "TrainSubjects": [subjects[i] for i in train_idx],
                "HeldOutSubjects": [subjects[i] for i in val_idx], "RepetitionTime": tr,
                "SegmentLength": int(est.segment_len_), "Rois": rois}
        est.save(out_model, metadata=meta)
        sources = list(timeseries_tsvs) + list(bold_files)
        write_sidecar(out_model, sources, Device=est.result_.device, BestEpoch=est.result_.best_epoch,
                      **{k: v for k, v in meta.items() if k != "Rois"})
        write_sidecar(out_training_tsv, sources, Description="BrainMAE pretraining history, one row per epoch")

        train_series = [series[i] for i in train_idx]
        fc, cov = group_fc(train_series)
        eval_idx = val_idx if len(val_idx) else train_idx
        recon_table, example = reconstruction_scores(est, [series[i] for i in eval_idx], fc, cov,
                                                     seed=eval_seed)
        recon_table.insert(0, "subjects", "held-out" if len(val_idx) else "training")
        recon_table["n_subjects"] = len(eval_idx)
        write_tsv(out_reconstruction_tsv, recon_table)
        write_sidecar(out_reconstruction_tsv, sources, EvaluatedSubjects=[subjects[i] for i in eval_idx],
                      MaskRatio=est.mask_ratio, MaskSeed=eval_seed,
                      Baselines="roi_mean: ROI mean of the visible segments of its window; interpolation: "
                                "linear in time between visible samples of the ROI; fc_weighted: visible "
                                "ROIs weighted by positive group FC; fc_regression: Gaussian conditional "
                                "mean from the group covariance (training subjects)")

        sim = est.roi_similarity()
        att = np.mean([est.attention(b) for b in range(len(est.module_.encoder_blocks))], axis=0) \
            if est.encoder == "sg" else None
        rows = []
        r, p, _ = similarity_vs_fc(sim, fc, n_permutations, seed=int(params.get("seed", 0)))
        rows.append({"matrix": "embedding_cosine", "pearson_r": r, "p_value": p})
        if att is not None:
            r, p, _ = similarity_vs_fc(att + att.T, fc, n_permutations, seed=int(params.get("seed", 0)))
            rows.append({"matrix": "encoder_attention", "pearson_r": r, "p_value": p})
        sim_table = pd.DataFrame(rows)
        sim_table["reference"] = "group_fc_training_subjects"
        sim_table["n_permutations"] = int(n_permutations)
        sim_table["null"] = "ROI permutation (Mantel), one-sided"
        write_tsv(out_similarity_tsv, sim_table)
        write_sidecar(out_similarity_tsv, sources)
        if out_embeddings_npz is not None:
            write_npz(out_embeddings_npz, embedding=est.module_.roi_embedding.detach().numpy(),
                      similarity=sim, attention=att if att is not None else np.full_like(sim, np.nan),
                      fc=fc, rois=np.asarray(rois))
        if figure_training is not None:
            plot_training(est.history_, figure_training)
        if figure_similarity is not None:
            order, bounds = network_order(rois, atlas_labels)
            plot_similarity(fc, sim, att, sim_table, order, bounds, figure_similarity)
        if fragment is not None:
            fmt = lambda v: f"{v:.4g}"  # noqa: E731
            items = []
            if figure_training is not None:
                items.append(fragment_item(
                    "image", "BrainMAE pretraining", path=figure_training,
                    caption=f"Masked autoencoding of {len(train_idx)} subjects' ROI time series "
                            f"({est.segment_len_}-TR segments, TR {tr:g} s, mask ratio {est.mask_ratio}); "
                            f"validation on {len(val_idx)} held-out subjects."))
            items.append(fragment_item(
                "html", "Masked reconstruction error", html=recon_table.to_html(index=False, float_format=fmt)))
            if figure_similarity is not None:
                items.append(fragment_item(
                    "image", "ROI-embedding similarity next to FC", path=figure_similarity,
                    caption="Group FC of the training subjects, cosine similarity of the learned ROI "
                            "embeddings and the encoder's attention (self-loops removed); "
                            f"p-values from {n_permutations} ROI permutations."))
            items.append(fragment_item("html", "Embedding similarity vs FC",
                                       html=sim_table.to_html(index=False, float_format=fmt)))
            write_fragment(fragment, SECTION, items, order=60)
    if ckpt.exists():
        ckpt.unlink()  # the run finished: a checkpoint is only for resuming a killed run
    return est


def reconstruction_scores(est, series, fc, cov, seed=0):
    """Masked-reconstruction MSE of BrainMAE and of the baselines on the same masks.

    Parameters
    ----------
    est : BrainMAE
        Fitted.
    series : list of ndarray, shape (n_times, n_rois) each
        Subjects to evaluate (non-overlapping windows).
    fc, cov : ndarray, shape (n_rois, n_rois)
        Group FC and covariance of the training subjects.
    seed : int
        Seed of the masks.

    Returns
    -------
    table : pandas.DataFrame
        ``method, masked_mse, ratio_to_roi_mean, n_windows``.
    example : tuple
        ``(windows, mask, recon)`` of the evaluation.
    """
    wins = np.concatenate(est.windows(series, step=est.segment_len_ * est.n_segments))
    recon, mask = est.reconstruct(wins, seed=seed)
    preds = {"brainmae": recon, **baseline_predictions(wins, mask, fc=fc, cov=cov)}
    scores = {k: masked_mse(v, wins, mask) for k, v in preds.items()}
    table = pd.DataFrame({"method": list(scores), "masked_mse": list(scores.values())})
    table["ratio_to_roi_mean"] = table["masked_mse"] / scores["roi_mean"]
    table["n_windows"] = len(wins)
    return table, (wins, mask, recon)


# -- probe ------------------------------------------------------------------------


def probe_brainmae(model, timeseries_tsvs, participants_tsv, out_tsv, *, out_predictions_tsv=None,
                   figure=None, fragment=None, targets=("age", "sex"), n_splits=5, n_permutations=100,
                   seed=0):
    """Linear probes of BrainMAE representations against random init and FC + ridge.

    Parameters
    ----------
    model : path-like
        Written by :func:`pretrain_brainmae`.
    timeseries_tsvs : list of path-like
        One ROI time series per subject.
    participants_tsv : path-like
        ``participant_id`` and the targets.
    out_tsv : path-like
        One row per (method, target): ``method`` (``brainmae``,
        ``random_init``, ``fc_ridge``), ``target, model, task, scoring, score,
        score_sd, p_value, n_permutations, n_subjects, n_features, cv`` and
        ``mae, pearson_r`` or ``accuracy`` (the columns of the FC prediction
        table, plus ``method``).
    out_predictions_tsv : path-like | None
        Out-of-fold predictions: participant_id, method, target, true, predicted.
    figure, fragment : path-like | None
    targets : sequence of str
        Numeric columns are regressed (ridge head), others classified
        (ridge classifier head).
    n_splits : int
        Subject-disjoint folds (capped so every test fold has 2 subjects for
        regression, and every class is in every fold for classification).
    n_permutations : int
    seed : int

    Returns
    -------
    results : pandas.DataFrame

    Notes
    -----
    Pretraining used every subject's time series but no label, so the
    folds are subject-disjoint for the heads; the encoder itself saw the
    test subjects' unlabelled data (as a pretrained model applied to a new
    cohort does after self-supervised adaptation).
    """
    est = BrainMAE.load(check_file(model, "BrainMAE model"))
    series, subjects, rois = read_timeseries(timeseries_tsvs)
    if len(rois) != est.n_rois_:
        raise input_error(timeseries_tsvs[0], f"has {len(rois)} ROIs; the model was trained on {est.n_rois_}")
    participants_tsv = check_file(participants_tsv, "participants table")
    table = pd.read_csv(participants_tsv, sep="\t", na_values=["n/a"]).set_index("participant_id")
    ids = [f"sub-{s}" for s in subjects]
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise input_error(participants_tsv, f"has no row for {missing[:5]}")
    table = table.loc[ids]

    rnd = BrainMAE(**est.get_params())
    rnd.n_rois_, rnd.segment_len_ = est.n_rois_, est.segment_len_
    rnd.module_ = rnd.build_module(est.n_rois_, est.segment_len_).eval()
    features = {"brainmae": est.transform(series), "random_init": rnd.transform(series),
                "fc_ridge": fc_features(series)}

    rows, preds = [], []
    for target in targets:
        if target not in table.columns:
            raise input_error(participants_tsv, f"has no target column {target!r}")
        if table[target].isna().any():
            raise input_error(participants_tsv, f"target {target!r} is missing for "
                                                f"{table.index[table[target].isna()].tolist()[:5]}")
        numeric = pd.api.types.is_numeric_dtype(table[target])
        task = "regression" if numeric else "classification"
        y = table[target].to_numpy(dtype=float) if numeric else table[target].astype(str).to_numpy()
        # at least 2 test subjects per fold (R^2 needs them), at least one per class
        k = len(y) // 2 if numeric else int(pd.Series(y).value_counts().min())
        k = min(int(n_splits), k)
        if k < 2:
            raise input_error(participants_tsv, f"target {target!r}: too few subjects per class for CV")
        for method, X in features.items():
            res = probe_cv(X, y, task, n_splits=k, seed=seed, n_permutations=n_permutations)
            row = {"method": method, "target": target, "model": res["model"], "task": task,
                   "scoring": res["scoring"], "score": res["score"], "score_sd": res["score_sd"],
                   "p_value": res["p_value"], "n_permutations": int(n_permutations), "n_subjects": len(y),
                   "n_features": X.shape[1],
                   "cv": f"{'kfold' if numeric else 'stratifiedkfold'}{k} (subject-disjoint)"}
            row.update({m: res[m] for m in ("mae", "pearson_r", "accuracy") if m in res})
            rows.append(row)
            preds.append(pd.DataFrame({"participant_id": ids, "method": method, "target": target,
                                       "true": y, "predicted": res["y_pred"]}))
    results = pd.DataFrame(rows)
    with all_or_nothing(out_tsv, out_predictions_tsv, figure, fragment):
        sources = [model, participants_tsv] + list(timeseries_tsvs)
        meta = dict(Seed=seed, Heads="StandardScaler + RidgeCV (regression) / RidgeClassifierCV "
                                     "(classification), penalty by leave-one-out in the training folds",
                    Features="brainmae / random_init: segment tokens averaged over segments and windows; "
                             "fc_ridge: Fisher-z upper triangle of Pearson FC",
                    Pretraining="self-supervised on all subjects, no labels")
        write_tsv(out_tsv, results)
        write_sidecar(out_tsv, sources, **meta)
        if out_predictions_tsv is not None:
            write_tsv(out_predictions_tsv, pd.concat(preds, ignore_index=True))
            write_sidecar(out_predictions_tsv, sources, **meta)
        if figure is not None:
            plot_probe(results, figure)
        if fragment is not None:
            html = results[["target", "method", "model", "scoring", "score", "score_sd", "p_value"]].to_html(
                index=False, float_format=lambda v: f"{v:.3g}")
            items = [fragment_item("html", "Downstream probes (BrainMAE, random init, FC)", html=html)]
            if figure is not None:
                items.insert(0, fragment_item(
                    "image", "Downstream probes", path=figure,
                    caption=f"Linear heads, subject-disjoint {n_splits}-fold CV; bars: mean over folds, "
                            f"whiskers: SD over folds; p from {n_permutations} label permutations."))
            write_fragment(fragment, SECTION, items, order=61)
    return results


# The per-subject figures live in brainmae_subject.py (one job draws them all).
from .brainmae_subject import brainmae_subject_figure, brainmae_subject_figures  # noqa: E402,F401
