"""brainpipe's DemoVAE against the reference ``demovae`` 0.0.6 package, same data and seed.

Both at their default settings. The reference: 3000 epochs, Adam lr 1e-4,
batch 1000, float32. Ours: the same network, losses, weights, optimiser and
learning rate, with early stopping on 20 % of the training subjects (the
validation value of ``100 x reconstruction RMSE + 10 x summed RMS
latent-demographic Pearson r``, the loss's own weights; patience 100,
min_delta 1e-4; best weights kept) and torch's fused Adam; run in float32
(``amp=True``: mixed precision on CUDA only, our default) and with
``amp="all"`` (bfloat16 autocast also on a CPU with native bfloat16, e.g.
AVX512-BF16). A third run, not counted for the speedup, stops on the
validation reconstruction alone (``monitor="rec"``, the earlier default), to
show what following the decorrelation costs and buys. The time saved is
fewer epochs (early stopping) and faster epochs (fused Adam, bfloat16
matmuls).

On held-out subjects we measure the reconstruction RMSE and the largest
|Pearson r| between a latent and an encoded demographic column (age, sex
one-hot, site one-hot). ``demovae_fit_speedup`` (printed last) is the
reference's fit time over that of our fastest run that reached equal or
better held-out RMSE *and* max |r|; when neither did, it is the float32 run's
ratio and the line before says so.

Data: a simulated cohort (``brainpipe.io.simulate.cohort``: the demo's
network model with age, sex and site effects, 100 ROIs, Pearson FC, 4,950
edges), split into training and held-out subjects.

Usage::

    .venv/bin/python benchmarks/bench_demovae.py              # both, CPU
    .venv/bin/python benchmarks/bench_demovae.py --device cuda  # ours on the GPU (reference with use_cuda)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np


def cohort(n, seed, n_volumes, n_rois=100):
    from brainpipe.fmri.dynamic import upper_triangles
    from brainpipe.io.simulate.atlas import load_atlas
    from brainpipe.io.simulate.cohort import simulate_cohort

    networks = load_atlas().network_index[:n_rois]
    ts, table = simulate_cohort(n, seed=seed, n_volumes=n_volumes, parcel_networks=networks)
    z = (ts - ts.mean(1, keepdims=True)) / ts.std(1, keepdims=True)
    fc = np.einsum("ntp,ntq->npq", z, z) / ts.shape[1]
    return upper_triangles(fc).astype(np.float32), table[["age", "sex", "site"]].reset_index(drop=True)


def held_out_quality(latents, recon, X, demo):
    from brainpipe.models.demographics import DemographicCoder
    from brainpipe.models.demovae_eval import latent_correlations

    D = DemographicCoder(["age", "sex", "site"]).fit(demo).transform(demo)
    rmse = float(np.sqrt(np.mean((recon - X) ** 2)))
    return rmse, float(np.abs(latent_correlations(latents, D)).max())


def run_reference(X, demo, Xt, demot, seed, use_cuda, epochs):
    import torch
    from demovae import DemoVAE as RefDemoVAE

    torch.manual_seed(seed)
    np.random.seed(seed)
    import random

    random.seed(seed)
    types = ["continuous", "categorical", "categorical"]
    cols = lambda d: [d["age"].to_numpy(dtype=float), d["sex"].to_numpy(), d["site"].to_numpy()]  # noqa: E731
    ref = RefDemoVAE(use_cuda=use_cuda, pperiod=10**9, nepochs=epochs)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ref.fit(X, cols(demo), types)
        if use_cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        recon = ref.transform(Xt, cols(demot), types)
        lat = ref.get_latents(Xt)
    return seconds, held_out_quality(lat, recon, Xt, demot)


#: Our runs: label -> (DemoVAE arguments beyond seed/device/categorical,
#: whether the run counts for ``demovae_fit_speedup``). Only default stopping
#: rules count; no setting here was chosen on this benchmark's held-out data.
OURS = {
    "float32": ({"amp": True}, True),
    "amp='all'": ({"amp": "all"}, True),
    "rec only": ({"amp": "all", "monitor": "rec", "patience": 20}, False),
}


def run_ours(X, demo, Xt, demot, seed, device, **params):
    import torch

    from brainpipe.models import DemoVAE

    model = DemoVAE(seed=seed, device=device, categorical=["site"], **params)
    t0 = time.perf_counter()
    model.fit(X, demo)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    quality = held_out_quality(model.transform(Xt), model.reconstruct(Xt, demot), Xt, demot)
    return seconds, quality, len(model.history_), model.best_epoch_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--n-volumes", type=int, default=150)
    parser.add_argument("--n-rois", type=int, default=100, help="first N parcels of the demo atlas")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (ours; the reference then uses use_cuda)")
    parser.add_argument("--ref-epochs", type=int, default=3000, help="the reference's nepochs (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    X, demo = cohort(args.n_train + args.n_test, args.seed, args.n_volumes, args.n_rois)
    tr, te = slice(0, args.n_train), slice(args.n_train, None)
    Xtr, Xte = X[tr], X[te]
    dtr, dte = demo.iloc[tr].reset_index(drop=True), demo.iloc[te].reset_index(drop=True)
    mean_rmse = float(np.sqrt(np.mean((Xte - Xtr.mean(0)) ** 2)))
    print(f"data: {args.n_train} training + {args.n_test} held-out subjects x {X.shape[1]} FC edges; "
          f"torch threads {torch.get_num_threads()}; device {args.device}")
    print(f"held-out RMSE of the training mean (baseline): {mean_rmse:.5f}")

    ours = {}
    for label, (params, _) in OURS.items():
        secs, (rmse, r), n_ep, best = run_ours(Xtr, dtr, Xte, dte, args.seed, args.device, **params)
        ours[label] = (secs, rmse, r)
        print(f"brainpipe DemoVAE {label:12s}: fit {secs:8.1f} s ({n_ep} epochs, best {best}), "
              f"held-out RMSE {rmse:.5f}, max |r| {r:.3f}", flush=True)
    if args.skip_reference:
        return
    ref_s, (ref_rmse, ref_r) = run_reference(Xtr, dtr, Xte, dte, args.seed, args.device.startswith("cuda"),
                                             args.ref_epochs)
    print(f"reference demovae          : fit {ref_s:8.1f} s ({args.ref_epochs} epochs), held-out RMSE {ref_rmse:.5f}, "
          f"max |r| {ref_r:.3f}")
    good = {k: v for k, v in ours.items() if v[1] <= ref_rmse and v[2] <= ref_r and OURS[k][1]}
    for label, (secs, rmse, r) in ours.items():
        print(f"{label}: {ref_s / secs:.2f}x less fit time; equal or better held-out reconstruction and "
              f"decorrelation: {label in good} (RMSE {rmse:.5f} vs {ref_rmse:.5f}, max |r| {r:.3f} vs {ref_r:.3f})")
    if good:
        label = min(good, key=lambda k: good[k][0])
    else:
        label = "float32"
        print("none of our default runs reached equal or better held-out quality: the ratio below is the float32 run's")
    print(f"speedup of: {label}")
    print(f"demovae_fit_speedup={ref_s / ours[label][0]:.2f}")

if __name__ == "__main__":
    main()
