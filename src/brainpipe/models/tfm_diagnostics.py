"""What shows that the TFM tokenizer learns: codebook use, masked reconstruction, token-class information.

:func:`tokenizer_diagnostics` gives the perplexity and fraction of codes
used, the masked spectrogram reconstruction error against a per-frequency
mean baseline, and the mutual information between tokens and the class of
the trial they come from (:func:`mutual_information`) against a
label-permutation null.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mutual_information", "tokenizer_diagnostics"]


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
