"""Does the TFM tokenizer learn? The README numbers, from preprocessed demo runs.

Trains a tokenizer (the demo size of config/config.yaml unless told
otherwise) on the preprocessed EEG runs of every subject but the last, and
scores it on the last subject's runs, which it never saw:

* codebook usage: perplexity and fraction of codes used (no collapse);
* masked spectrogram reconstruction error against the per-frequency mean
  spectrum of the same windows (the baseline a model with no tokens reaches);
* mutual information between tokens and the trial classes (given the
  channel), against a label-permutation null;
* throughput: windows tokenized per second (CPU, and CUDA when present).

Run (after the workflow preprocessed the demo, or on any folder of
``*_desc-preproc_eeg.fif`` runs)::

    python benchmarks/eval_tfm.py --runs 'results/sub-*/eeg/*_desc-preproc_eeg.fif'

``--tokenizer FILE`` scores an already trained tokenizer (e.g. the
workflow's ``results/group/eeg/task-imagery_desc-tfm_tokenizer.pt``, trained
on every subject) on the last subject instead of training one. The last lines
are ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _subject(path):
    m = re.search(r"sub-([A-Za-z0-9]+)", Path(path).name)
    return m.group(1) if m else "?"


def throughput(model, sfreq, n_times, device, n_windows=512, batch=256):
    """Single-channel windows tokenized per second (best of 3)."""
    x = torch.randn(batch, 1, n_times, device=device)
    model = model.to(device).eval()
    best = np.inf
    with torch.no_grad():
        model(x, sfreq=sfreq)  # warm-up
        for _ in range(3):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(max(1, n_windows // batch)):
                model(x, sfreq=sfreq)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return max(1, n_windows // batch) * batch / best


def main(argv=None):
    from brainpipe.models.tfm_steps import cue_epochs, cut_windows, load_continuous_runs, tokenizer_diagnostics
    from brainpipe.models.tfm_tokenizer import TFMTokenizer, load_tokenizer, tokenizer_step
    from brainpipe.models.train import Trainer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="results/sub-*/eeg/*_desc-preproc_eeg.fif", help="glob of preprocessed runs")
    p.add_argument("--tokenizer", default=None, help="score this trained tokenizer instead of training one")
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"), help="models.tfm sizes and training")
    p.add_argument("--max-epochs", type=int, default=None, help="override models.tfm.training.max_epochs")
    p.add_argument("--permutations", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    files = sorted(glob.glob(args.runs))
    if not files:
        sys.exit(f"no runs match {args.runs!r}")
    subjects = sorted({_subject(f) for f in files})
    if len(subjects) < 2 and args.tokenizer is None:
        sys.exit("need runs of at least two subjects (train on all but the last, score on the last)")
    test_sub = subjects[-1]
    train_files = [f for f in files if _subject(f) != test_sub]
    test_files = [f for f in files if _subject(f) == test_sub]
    cfg = yaml.safe_load(Path(args.config).read_text())["models"]["tfm"]
    window = float(cfg.get("window", 4.0))
    test = load_continuous_runs(test_files)
    sfreq = test[0]["sfreq"]
    out = {"test_subject": test_sub, "n_train_runs": len(train_files), "n_test_runs": len(test_files)}

    if args.tokenizer:
        model = load_tokenizer(args.tokenizer)
        out["tokenizer"] = str(args.tokenizer)
        out["note"] = "scored on a subject the given tokenizer may have seen (the group tokenizer sees all)"
    else:
        rows = cut_windows(load_continuous_runs(train_files), window)
        rng = np.random.default_rng([args.seed, 11])
        if cfg.get("max_windows") and len(rows) > cfg["max_windows"]:
            rows = rows[np.sort(rng.choice(len(rows), int(cfg["max_windows"]), replace=False))]
        params = dict(cfg.get("model") or {})
        params.update(sfreq=sfreq, n_times=rows.shape[1], n_chans=1)
        torch.manual_seed(args.seed)
        model = TFMTokenizer(**params).init_decoder_bias(rows[:, None, :])
        tp = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-5}
        tp.update(cfg.get("training") or {})
        if args.max_epochs:
            tp["max_epochs"] = args.max_epochs
        tp.update(seed=args.seed, device=os.environ.get("BRAINPIPE_DEVICE", "auto"), progress=False)
        t0 = time.perf_counter()
        result = Trainer(**tp).fit(model, tokenizer_step, [rows[:, None, :]])
        out.update(train_seconds=time.perf_counter() - t0, train_windows=int(len(rows)),
                   epochs=len(result.history), train_device=result.device)
        model = model.cpu().eval()

    test_rows = cut_windows(test, window)
    epochs, labels, ch_names = cue_epochs(test, window)
    diag = tokenizer_diagnostics(model, test_rows, sfreq, epochs, labels, ch_names=ch_names, seed=args.seed,
                                 n_permutations=args.permutations)
    diag.pop("token_counts")
    out.update(diag)
    out["parameters"] = model.n_parameters(codebook=True)
    out["paper_size_parameters"] = TFMTokenizer(sfreq=sfreq).n_parameters(codebook=True)
    n_times = test_rows.shape[1]
    out["windows_per_s_cpu"] = throughput(model, sfreq, n_times, torch.device("cpu"))
    out["cpu_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        out["windows_per_s_cuda"] = throughput(model, sfreq, n_times, torch.device("cuda"), n_windows=8192,
                                               batch=1024)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    for key in ("usage_fraction", "perplexity", "masked_mse", "baseline_mse", "mse_ratio", "mi_bits",
                "mi_null_p95", "mi_p", "mi_max_bits", "mi_max_null_p95", "mi_max_p", "windows_per_s_cpu",
                "windows_per_s_cuda"):
        if key in out:
            print(f"{key}={out[key]:.6g}")


if __name__ == "__main__":
    main()
