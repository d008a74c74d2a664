"""Figures of the TFM tokenizer step: training curves, token usage, a reconstruction, class tokens."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_figure

__all__ = ["plot_class_tokens", "plot_reconstruction", "plot_training", "plot_usage"]


def _fig(width=7.0, height=3.6):
    return new_figure(width, height, layout="constrained")


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
