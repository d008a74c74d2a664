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
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from .._check import check_positive_int, input_error

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
# data
# ---------------------------------------------------------------------------


def load_continuous_runs(paths):
    """Read preprocessed EEG runs (FIF): data, rate, channel names and cues.

    Parameters
    ----------
    paths : list of path-like

    Returns
    -------
    runs : list of dict
        ``data`` (n_chans, n_times) float64 in volts (good EEG channels),
        ``sfreq``, ``ch_names``, ``cues`` (list of ``(onset_s, description)``
        of the non-``BAD``/``EDGE`` annotations), ``path``.
    """
    import mne

    runs = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise input_error(p, "preprocessed EEG run does not exist")
        raw = mne.io.read_raw_fif(p, preload=True, verbose="error")
        picks = mne.pick_types(raw.info, eeg=True, exclude="bads")
        if len(picks) == 0:
            raise input_error(p, "has no good EEG channels")
        data = raw.get_data(picks=picks)
        if not np.isfinite(data).all():
            raise input_error(p, "contains NaN or infinite samples")
        ann = raw.annotations
        onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time) / raw.info["sfreq"] \
            if len(ann) else np.zeros(0)
        cues = [(float(o), str(d)) for o, d in zip(onsets, ann.description)
                if not str(d).upper().startswith(("BAD", "EDGE"))]
        runs.append({"data": data, "sfreq": float(raw.info["sfreq"]),
                     "ch_names": [raw.ch_names[i] for i in picks], "cues": cues, "path": str(p)})
    if not runs:
        raise ValueError("No EEG runs given to the TFM tokenizer step.")
    for r in runs[1:]:
        if not np.isclose(r["sfreq"], runs[0]["sfreq"]):
            raise input_error(r["path"], f"sfreq {r['sfreq']} Hz differs from {runs[0]['sfreq']} Hz "
                                         f"({runs[0]['path']}); resample all runs to one rate")
    return runs


def cut_windows(runs, window_s):
    """Non-overlapping windows of every channel of every run, as single-channel rows.

    Returns
    -------
    rows : ndarray, shape (n_rows, n_window) float32
    """
    out = []
    for r in runs:
        w = int(round(window_s * r["sfreq"]))
        n = r["data"].shape[1] // w
        if n == 0:
            continue
        x = r["data"][:, : n * w].reshape(r["data"].shape[0], n, w).transpose(1, 0, 2)
        out.append(x.reshape(-1, w))
    if not out:
        raise ValueError(f"Every run is shorter than one window of {window_s} s.")
    return np.concatenate(out).astype(np.float32)


def cue_epochs(runs, window_s, classes=None):
    """Cue-locked epochs ``[cue, cue + window_s)`` of runs that share one montage.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_chans, n_window) float32
    y : ndarray of str, shape (n_epochs,)
    ch_names : list of str
    """
    ch_names = runs[0]["ch_names"]
    X, y = [], []
    for r in runs:
        if r["ch_names"] != ch_names:
            continue  # per-class figures need one montage; other runs are skipped
        w = int(round(window_s * r["sfreq"]))
        for onset, desc in r["cues"]:
            if classes is not None and desc not in classes:
                continue
            s = int(round(onset * r["sfreq"]))
            if s >= 0 and s + w <= r["data"].shape[1]:
                X.append(r["data"][:, s : s + w])
                y.append(desc)
    if not X:
        return None, np.zeros(0, dtype=str), ch_names
    return np.stack(X).astype(np.float32), np.asarray(y), ch_names


# ---------------------------------------------------------------------------
# diagnostics
# ---------------------------------------------------------------------------


def mutual_information(tokens, labels, codebook_size, per_channel=False):
    """Plug-in mutual information (bits) between tokens and epoch labels, given the channel.

    ``I(token; label | channel) = sum_c p(c) I(token; label | channel = c)``
    over every token of every epoch, each token paired with its epoch's label.

    Parameters
    ----------
    tokens : ndarray of int, shape (n_epochs, n_chans, n_frames)
    labels : ndarray, shape (n_epochs,)
    codebook_size : int
    per_channel : bool
        Return ``I(token; label | channel = c)`` for every channel instead.

    Returns
    -------
    mi : float | ndarray, shape (n_chans,)
    """
    tokens = np.asarray(tokens)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    n_classes = int(y.max()) + 1
    n_epochs, n_chans, n_frames = tokens.shape
    mi = np.zeros(n_chans)
    for c in range(n_chans):
        t = tokens[:, c, :].ravel()
        lab = np.repeat(y, n_frames)
        joint = np.zeros((codebook_size, n_classes))
        np.add.at(joint, (t, lab), 1.0)
        joint /= joint.sum()
        pt, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
        nz = joint > 0
        mi[c] = float((joint[nz] * np.log2(joint[nz] / (pt @ py)[nz])).sum())
    return mi if per_channel else float(mi.mean())


def tokenizer_diagnostics(model, rows, sfreq, epochs=None, labels=None, *, ch_names=None, seed=0,
                          n_permutations=200, max_rows=2000, batch_size=256):
    """Numbers that show whether a trained tokenizer learned.

    Parameters
    ----------
    model : TFMTokenizer
    rows : ndarray, shape (n_rows, n_times)
        Single-channel windows (at most ``max_rows``, drawn from ``seed``, are used).
    sfreq : float
    epochs : ndarray, shape (n_epochs, n_chans, n_times) | None
        Cue-locked trials for the token-label mutual information.
    labels : ndarray, shape (n_epochs,) | None
    ch_names : list of str | None
        Channel names of ``epochs`` (to name the most informative channel).
    seed : int
        Row subset, masks and permutations.
    n_permutations : int
        Label permutations of the null.

    Returns
    -------
    diag : dict
        ``codes_used`` (count), ``usage_fraction``, ``perplexity``,
        ``masked_mse`` (reconstruction error on the masked cells of the
        first view), ``baseline_mse`` (the per-frequency mean of the
        spectrograms at the same cells), ``mse_ratio`` (``masked_mse /
        baseline_mse``), ``full_mse`` and ``full_baseline_mse`` (unmasked
        input, every cell), and with epochs ``mi_bits``, ``mi_null_mean``,
        ``mi_null_p95``, ``mi_p`` (share of permutations with an MI at least
        as large, with the +1 correction), ``n_epochs``; the same for the
        most informative channel against the null of the maximum over
        channels (family-wise): ``mi_max_bits``, ``mi_max_channel``,
        ``mi_max_null_p95``, ``mi_max_p``; ``token_counts`` (list, per code).
    """
    import torch

    from .tfm_tokenizer import perplexity, tokenize_array

    rng = np.random.default_rng([int(seed), 7])
    rows = np.asarray(rows, dtype=np.float32)
    if len(rows) > max_rows:
        rows = rows[np.sort(rng.choice(len(rows), max_rows, replace=False))]
    model.eval()
    K = model.codebook_size
    device = next(model.parameters()).device
    counts = np.zeros(K, dtype=np.int64)
    specs, recons, recons_full, keeps = [], [], [], []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(seed))
        for b0 in range(0, len(rows), batch_size):
            xb = torch.from_numpy(rows[b0 : b0 + batch_size, None, :]).to(device)
            wave, spec = model.prepare(xb, sfreq)
            keep, _ = model.masks(spec.shape[0], spec.shape[2], spec.device)
            q_st, idx, _ = model.quantize(model.encode(spec * keep, wave))
            recon = model.decode(q_st)
            q_full, idx_full, _ = model.quantize(model.encode(spec, wave))
            recons_full.append(model.decode(q_full).cpu().numpy())
            counts += np.bincount(idx_full.reshape(-1).cpu().numpy(), minlength=K)
            specs.append(spec.cpu().numpy())
            recons.append(recon.cpu().numpy())
            keeps.append(keep.cpu().numpy())
    spec, recon, recon_full, keep = (np.concatenate(a) for a in (specs, recons, recons_full, keeps))
    freq_mean = spec.mean(axis=(0, 2))[None, :, None]
    masked = ~keep
    diag = {
        "n_rows": int(len(rows)),
        "codes_used": int((counts > 0).sum()),
        "codebook_size": int(K),
        "usage_fraction": float((counts > 0).mean()),
        "perplexity": perplexity(torch.from_numpy(counts)),
        "masked_mse": float(((recon - spec) ** 2)[masked].mean()),
        "baseline_mse": float(((np.broadcast_to(freq_mean, spec.shape) - spec) ** 2)[masked].mean()),
        "full_mse": float(((recon_full - spec) ** 2).mean()),
        "full_baseline_mse": float(((freq_mean - spec) ** 2).mean()),
        "token_counts": counts.tolist(),
    }
    diag["mse_ratio"] = diag["masked_mse"] / diag["baseline_mse"]
    if epochs is not None and labels is not None and len(labels) >= 4 and len(np.unique(labels)) > 1:
        tokens = tokenize_array(model, epochs, sfreq, batch_size=batch_size)
        mi_ch = mutual_information(tokens, labels, K, per_channel=True)
        null_ch = np.array([mutual_information(tokens, rng.permutation(labels), K, per_channel=True)
                            for _ in range(int(n_permutations))]).reshape(-1, len(mi_ch))
        mi, null = float(mi_ch.mean()), null_ch.mean(axis=1)
        best = int(np.argmax(mi_ch))
        null_max = null_ch.max(axis=1)
        diag.update(
            mi_bits=mi, mi_null_mean=float(null.mean()) if len(null) else float("nan"),
            mi_null_p95=float(np.quantile(null, 0.95)) if len(null) else float("nan"),
            mi_p=float((1 + (null >= mi).sum()) / (1 + len(null))), n_epochs=int(len(labels)),
            n_permutations=int(n_permutations), mi_max_bits=float(mi_ch[best]),
            mi_max_channel=ch_names[best] if ch_names is not None else best,
            mi_max_null_p95=float(np.quantile(null_max, 0.95)) if len(null) else float("nan"),
            mi_max_p=float((1 + (null_max >= mi_ch[best]).sum()) / (1 + len(null_max))),
        )
    return diag


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------


def _fig(width=7.0, height=3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_training(history):
    """Training curves of the shared loop's history (a DataFrame)."""
    fig = _fig(8.0, 3.4)
    ax1, ax2 = fig.subplots(1, 2)
    for col, label in (("train_loss", "train loss"), ("val_loss", "validation loss"),
                       ("train_recon", "train MSE"), ("train_vq", "train VQ")):
        if col in history and np.isfinite(history[col]).any():
            ax1.plot(history["epoch"], history[col], marker="o", ms=3, label=label)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend(fontsize=8)
    col = "val_perplexity" if "val_perplexity" in history and np.isfinite(history["val_perplexity"]).any() \
        else "train_perplexity"
    if col in history:
        ax2.plot(history["epoch"], history[col], marker="o", ms=3, color="C3")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("codebook perplexity (batch)")
    fig.suptitle("TFM tokenizer training")
    return fig


def plot_usage(counts):
    """Token usage: counts per code, sorted (log scale)."""
    counts = np.sort(np.asarray(counts))[::-1]
    fig = _fig()
    ax = fig.subplots()
    ax.bar(np.arange(len(counts)), counts + 0.0, width=1.0, color="C0")
    ax.set_yscale("symlog")
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("tokens")
    used = int((counts > 0).sum())
    ax.set_title(f"Token usage: {used} of {len(counts)} codes used")
    return fig


def plot_reconstruction(model, row, sfreq, seed=0):
    """One window's spectrogram, its masked view and the reconstructions."""
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(seed))
        x = torch.from_numpy(np.asarray(row, dtype=np.float32)[None, None, :])
        wave, spec = model.prepare(x, sfreq)
        keep, _ = model.masks(1, spec.shape[2])
        q_st, _, _ = model.quantize(model.encode(spec * keep, wave))
        recon = model.decode(q_st)[0].numpy()
        q_full, _, _ = model.quantize(model.encode(spec, wave))
        full = model.decode(q_full)[0].numpy()
    spec, keep = spec[0].numpy(), keep[0].numpy()
    fig = _fig(9.0, 3.2)
    axes = fig.subplots(1, 4, sharey=True)
    vmax = float(np.quantile(spec, 0.99))
    t = np.arange(spec.shape[1]) * model.hop_length / model.model_sfreq
    extent = [t[0], t[-1] + model.hop_length / model.model_sfreq, 0, spec.shape[0]]
    for ax, img, title in zip(axes, (spec, spec * keep, recon, full),
                              ("spectrogram", "masked input", "reconstruction (masked)",
                               "reconstruction (full)")):
        ax.imshow(img, aspect="auto", origin="lower", vmin=0, vmax=vmax, extent=extent, cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    return fig


def plot_class_tokens(tokens, labels, codebook_size, top=30, channel=None, channel_name=None):
    """Per-class token distributions over the most used codes: all channels, and
    one channel (e.g. the most informative) when ``channel`` is given; a note
    when there are no trials of two classes."""
    if tokens is None or len(np.unique(labels)) < 2:
        fig = _fig()
        fig.text(0.5, 0.5, "No cue-locked trials of two or more classes in the runs.", ha="center")
        return fig
    labels = np.asarray(labels)
    classes = list(dict.fromkeys(sorted(labels)))
    panels = [("all channels", tokens)]
    if channel is not None:
        panels.append((f"channel {channel_name if channel_name is not None else channel}",
                       tokens[:, [channel], :]))
    fig = _fig(9.0, 3.2 * len(panels))
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    for ax, (title, tok) in zip(axes, panels):
        total = np.bincount(tok.ravel(), minlength=codebook_size)
        codes = np.argsort(total)[::-1][:top]
        width = 0.8 / max(1, len(classes))
        for i, c in enumerate(classes):
            cnt = np.bincount(tok[labels == c].ravel(), minlength=codebook_size).astype(float)
            ax.bar(np.arange(len(codes)) + i * width, cnt[codes] / max(cnt.sum(), 1), width=width, label=c)
        ax.set_xticks(np.arange(len(codes)) + 0.4 - width / 2, [str(c) for c in codes], rotation=90,
                      fontsize=7)
        ax.set_ylabel("share of the class's tokens")
        ax.set_title(f"Token distribution per class, cue-locked trials: {title}", fontsize=10)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel(f"code (the {top} most used in the panel)")
    return fig


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
        fragment_item("image", "Training curves", path=png["training"]),
        fragment_item("image", "Token usage", path=png["usage"],
                      caption="Tokens per code over the diagnostic windows, sorted."),
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
