"""Workflow steps of the TFM tokenizer: files in, model + tables + figures + fragment out.

:func:`train_group_tokenizer` is the group-level step: it reads every
preprocessed EEG run of the dataset, cuts the continuous signals into
non-overlapping windows, trains one :class:`~brainpipe.models.TFMTokenizer`
on all of them as single-channel rows (self-supervised: no labels are read
for training), and writes

* the tokenizer file (``torch.load(weights_only=True)``-readable) and its
  JSON sidecar (sources, settings, the diagnostics below),
* the per-epoch training TSV of the shared loop,
* four figures: training curves, token usage, an example spectrogram with
  its reconstruction, per-class token distributions,
* a group report fragment (section "TFM tokenizer").

:func:`tokenizer_diagnostics` gives the numbers that show the tokenizer
learns: codebook usage (perplexity, fraction of codes used), masked
spectrogram reconstruction error against a per-frequency-mean baseline, and
the mutual information between tokens and the class of the trial they come
from against a label-permutation null. The class labels (cue annotations)
are used for these diagnostics only.

The parts live beside this step: :mod:`~brainpipe.models.tfm_data` (runs,
windows, cue epochs), :mod:`~brainpipe.models.tfm_diagnostics` and
:mod:`~brainpipe.models.tfm_figures`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from .._check import check_positive_int
from .tfm_data import cue_epochs, cut_windows, load_continuous_runs
from .tfm_diagnostics import mutual_information, tokenizer_diagnostics
from .tfm_figures import plot_class_tokens, plot_reconstruction, plot_training, plot_usage

log = logging.getLogger(__name__)

__all__ = [
    "load_continuous_runs",
    "cut_windows",
    "cue_epochs",
    "mutual_information",
    "tokenizer_diagnostics",
    "train_group_tokenizer",
]


# ---------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------


def train_group_tokenizer(runs, out_model, out_tsv, *, figure_dir=None, fragment=None, model=None,
                          training=None, window=4.0, max_windows=None, seed=0, device="auto",
                          n_permutations=200, gpu=None):
    """Train the group TFM tokenizer on every preprocessed EEG run; write model, table, figures.

    Parameters
    ----------
    runs : list of path-like
        Preprocessed runs (FIF) of every subject.
    out_model : path-like
        Tokenizer file (``..._desc-tfm_tokenizer.pt``); JSON sidecar beside it.
    out_tsv : path-like
        Per-epoch training history (``..._desc-tfm_training.tsv``).
    figure_dir : path-like | None
        Folder of the figures (default: the fragment's folder, else beside
        ``out_model``); names are the model file's name less
        ``_tokenizer.pt`` + ``_training.png``, ``_usage.png``,
        ``_reconstruction.png``, ``_classtokens.png``.
    fragment : path-like | None
        Group report fragment (section "TFM tokenizer").
    model : dict | None
        :class:`~brainpipe.models.TFMTokenizer` arguments (sizes).
    training : dict | None
        :class:`~brainpipe.models.train.Trainer` arguments.
    window : float
        Training window length (s), non-overlapping, over the continuous runs.
    max_windows : int | None
        Keep at most this many single-channel windows (drawn from ``seed``).
    seed : int
        Drives the window subset, the split, batches and masks.
    device : str
        Training device (``"auto"``: CUDA when present).
    n_permutations : int
        Permutations of the MI null.
    gpu : int | None
        The rule's GPU resource (recorded in the sidecar only).

    Returns
    -------
    diag : dict
        :func:`tokenizer_diagnostics` of the trained tokenizer.
    """
    import torch

    from ..io.atomic import all_or_nothing, write_sidecar, write_tsv
    from ..io.figures import save_figure
    from .tfm_tokenizer import TFMTokenizer, save_tokenizer, tokenize_array, tokenizer_step
    from .train import Trainer

    out_model, out_tsv = Path(out_model), Path(out_tsv)
    if figure_dir is None:
        figure_dir = Path(fragment).parent if fragment is not None else out_model.parent
    figure_dir = Path(figure_dir)
    stem = out_model.name.removesuffix("_tokenizer.pt") if out_model.name.endswith("_tokenizer.pt") \
        else out_model.stem
    data = load_continuous_runs(runs)
    sfreq = data[0]["sfreq"]
    rows = cut_windows(data, float(window))
    rng = np.random.default_rng([int(seed), 11])
    if max_windows is not None and len(rows) > check_positive_int(max_windows, "max_windows"):
        rows = rows[np.sort(rng.choice(len(rows), int(max_windows), replace=False))]
    log.info("TFM tokenizer: %d single-channel windows of %.1f s from %d runs", len(rows), window, len(data))

    params = dict(model or {})
    params.update(sfreq=sfreq, n_times=rows.shape[1], n_chans=1)
    torch.manual_seed(int(seed))  # the initial weights come from the seed too
    tok = TFMTokenizer(**params).init_decoder_bias(rows[:, None, :])
    tp = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-5}
    tp.update(training or {})
    # a killed run resumes from its checkpoint; the name carries the settings,
    # so a changed config never resumes a foreign run
    key = json.dumps([params, tp, float(window), max_windows, int(seed), [str(p) for p in runs]],
                     sort_keys=True, default=str)
    ckpt = out_model.with_name(f".{out_model.name}.{hashlib.sha1(key.encode()).hexdigest()[:12]}.ckpt")
    tp.update(seed=int(seed), device=device, desc="TFM tokenizer", metrics_tsv=None, checkpoint=str(ckpt))
    t0 = time.perf_counter()
    result = Trainer(**tp).fit(tok, tokenizer_step, [rows[:, None, :]])
    train_s = time.perf_counter() - t0
    tok = tok.cpu().eval()
    history = result.to_frame()

    epochs, labels, ch_names = cue_epochs(data, float(window))
    diag = tokenizer_diagnostics(tok, rows, sfreq, epochs, labels, ch_names=ch_names, seed=seed,
                                 n_permutations=n_permutations)
    n_official = tok.n_parameters(codebook=True)
    paper = TFMTokenizer(sfreq=sfreq)
    info = {
        "parameters": int(n_official), "parameters_without_codebook": int(tok.n_parameters(False)),
        "paper_size_parameters": int(paper.n_parameters(True)), "official_parameters": 1.2e6,
        "train_seconds": float(train_s), "device": result.device, "n_windows": int(len(rows)),
        "window_s": float(window), "sfreq": float(sfreq), "best_epoch": int(result.best_epoch),
    }
    counts = diag.pop("token_counts")
    png = {k: figure_dir / f"{stem}_{k}.png" for k in ("training", "usage", "reconstruction", "classtokens")}
    with all_or_nothing(out_model, out_tsv, fragment, *png.values()):
        save_figure(plot_training(history), png["training"])
        save_figure(plot_usage(counts), png["usage"])
        save_figure(plot_reconstruction(tok, rows[0], sfreq, seed=seed), png["reconstruction"])
        toks = tokenize_array(tok, epochs, sfreq) if epochs is not None else None
        best = diag.get("mi_max_channel")
        best_i = ch_names.index(best) if best in ch_names else None
        save_figure(plot_class_tokens(toks, labels, tok.codebook_size, channel=best_i, channel_name=best),
                    png["classtokens"])
        write_tsv(out_tsv, history)
        save_tokenizer(tok, out_model, diagnostics=diag, info=info, token_counts=counts)
        write_sidecar(out_model, [str(p) for p in runs],
                      Description="TFM tokenizer (Pradeepkumar et al.) trained self-supervised on "
                                  "every preprocessed EEG run of the dataset (no labels; the cue "
                                  "labels are read for the diagnostics only)",
                      Model=tok.get_config(), Training={k: v for k, v in tp.items() if k != "checkpoint"},
                      Diagnostics=diag, Info=info, GPU=gpu)
        if fragment is not None:
            _write_fragment(fragment, diag, info, out_tsv, png)
    if ckpt.exists():
        ckpt.unlink()
    return diag


def _write_fragment(path, diag, info, table, png):
    from ..io.fragments import fragment_item, write_fragment

    rows = [
        ("codes used", f"{diag['codes_used']} of {diag['codebook_size']} ({diag['usage_fraction']:.0%})"),
        ("perplexity", f"{diag['perplexity']:.1f}"),
        ("masked reconstruction MSE", f"{diag['masked_mse']:.3f}"),
        ("per-frequency-mean baseline MSE", f"{diag['baseline_mse']:.3f} (ratio {diag['mse_ratio']:.2f})"),
    ]
    if "mi_bits" in diag:
        rows.append(("MI tokens-labels (bits, given channel)",
                     f"{diag['mi_bits']:.4f}; permutation null mean {diag['mi_null_mean']:.4f}, "
                     f"95% {diag['mi_null_p95']:.4f}, p = {diag['mi_p']:.3f}"))
        rows.append((f"MI on the most informative channel ({diag['mi_max_channel']})",
                     f"{diag['mi_max_bits']:.4f}; null of the channel maximum 95% "
                     f"{diag['mi_max_null_p95']:.4f}, p = {diag['mi_max_p']:.3f}"))
    rows.append(("parameters", f"{info['parameters']:,} (paper size {info['paper_size_parameters']:,}; "
                               f"official about 1.2 M)"))
    rows.append(("training", f"{info['n_windows']} windows of {info['window_s']:.1f} s, "
                             f"{info['train_seconds']:.0f} s on {info['device']}"))
    html = ("<p>Self-supervised on every preprocessed EEG run (all subjects, all runs, no labels): "
            "pipelines using this tokenizer have seen the test runs' EEG, never their labels. "
            "The <code>tokenizer: train</code> variant trains on each fold's training data only.</p>"
            "<table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>")
    items = [
        fragment_item("html", "Tokenizer diagnostics", html=html),
        fragment_item("image", "Training curves", path=png["training"],
                      caption="Left: training (and validation) loss per epoch, with its spectrogram MSE and "
                              "vector-quantisation terms; right: codebook perplexity (how many codes are in "
                              "use): the losses should fall and the perplexity stay well above 1."),
        fragment_item("image", "Token usage", path=png["usage"],
                      caption="Tokens per code over the diagnostic windows, sorted from the most used: a long "
                              "flat head means many codes share the work, a single spike a collapsed codebook."),
        fragment_item("image", "Spectrogram and reconstruction", path=png["reconstruction"],
                      caption="One window: STFT magnitude, the masked view, its reconstruction, "
                              "and the reconstruction of the unmasked input."),
    ]
    items.append(fragment_item("image", "Per-class token distributions", path=png["classtokens"],
                               caption="Share of each class's tokens (cue-locked trials of the "
                                       "window length) on the most used codes: all channels, and "
                                       "the channel whose tokens carry the most label information."))
    items.append(fragment_item("table", "Training history", path=table))
    write_fragment(path, "TFM tokenizer", items, order=60)
