"""BrainMAE: masked autoencoding of fMRI ROI time series with region-aware attention.

Yang et al., "BrainMAE: a region-aware self-supervised learning framework for
brain signals" (arXiv 2406.17086). No public code exists; this is our reading
of the paper, and every choice the paper leaves open is a parameter (and a
config key under ``models.brainmae``).

What the paper fixes, and what we do
------------------------------------
- **Segments.** The ROI time series, shape (n_times, n_rois), is cut into
  segments of about 15 s (``round(15 / TR)`` TRs); a training sample is a
  window of ``n_segments`` consecutive segments, shape
  (n_segments, n_rois, segment_len) (:func:`segment_windows`).
- **ROI embeddings.** One learnable vector per ROI, shape (n_rois, embed_dim).
- **Region-aware graph attention (SG-TSE, 3 blocks).** In every block, the
  attention between ROIs comes from the ROI embeddings only: ``A =
  softmax((E Wq)(E Wk)^T / sqrt(d_head))`` per head, with the diagonal masked
  out (**no self-loops**). Each ROI's token of a segment (its signal projected
  to ``embed_dim`` plus its embedding) is updated by ``A`` times the projected
  tokens of the other ROIs, then by an MLP (pre-norm residual blocks). The
  adaptive variant (AG-TSE, 2 self-attention blocks) computes the attention
  from the tokens themselves (``encoder="ag"``), also without self-loops.
- **Transformer over segments.** ROI tokens of a segment are averaged (over
  the visible ROIs) into one segment token; a transformer encoder with
  sinusoidal positions runs over the segments of the window.
- **Masked autoencoding.** In every segment, ``round(mask_ratio * n_rois)``
  ROIs are masked (segment-wise ROI masking; drawn from the global torch
  generator, so the shared training loop's seeding makes them reproducible).
  A masked ROI's signal is replaced by a learned mask token and it is removed
  from the keys of the encoder's attention, so nothing of its signal reaches
  any token. The decoder (used in pretraining only) adds the segment's context
  token to every ROI token, runs graph-attention blocks and projects back to
  the segment's samples. Loss: ``masked_weight * MSE(masked) + (1 -
  masked_weight) * MSE(visible)`` with ``masked_weight = 0.75`` (the paper's
  0.75 / 0.25).
- **Downstream.** A linear head on frozen representations (the segment
  tokens averaged over segments and windows, one vector per subject),
  evaluated by 5-fold cross-validation with subject-disjoint folds
  (:func:`probe_cv`).

Where the paper is silent (our choices; demo size / full size)
--------------------------------------------------------------
``embed_dim`` 32 / 256, ``n_heads`` 4 / 8, ``n_temporal_layers`` 1 / 4,
``n_decoder_layers`` 1 / 2, ``mlp_ratio`` 2 / 4, ``mask_ratio`` 0.5 / 0.5,
``n_segments`` per window 6 / 16, ``dropout`` 0 / 0.1, epochs 40 / 200,
AdamW with lr 5e-3 / 5e-4 and a cosine schedule, batches of 32 / 64 windows.
How segment tokens are pooled (mean of the visible ROIs' tokens), how the
decoder is shaped, and the subject representation for the probes (segment
tokens averaged over the scan) are ours too.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator

from .._check import check_option, check_positive_int

__all__ = [
    "BrainMAE",
    "BrainMAEModule",
    "segment_length",
    "segment_windows",
    "segment_mask",
    "brainmae_step",
    "masked_losses",
    "masked_mse",
    "n_masked",
    "baseline_predictions",
    "probe_cv",
    "similarity_vs_fc",
]

ENCODERS = ("sg", "ag")


# -- arrays -------------------------------------------------------------------


def segment_length(tr, segment_s=15.0):
    """Segment length in TRs: ``round(segment_s / tr)``, at least 2.

    Parameters
    ----------
    tr : float
        Repetition time (s).
    segment_s : float
        Segment duration (s); 15 s in the paper.
    """
    tr, segment_s = float(tr), float(segment_s)
    if not (tr > 0 and math.isfinite(tr)):
        raise ValueError(f"tr must be a positive number of seconds, got {tr!r}.")
    if not segment_s > 0:
        raise ValueError(f"segment_s must be > 0 seconds, got {segment_s!r}.")
    return max(2, int(round(segment_s / tr)))


def segment_windows(timeseries, segment_len, n_segments, step=None):
    """Cut one ROI time series into windows of consecutive segments.

    Parameters
    ----------
    timeseries : ndarray, shape (n_times, n_rois)
    segment_len : int
        Samples (TRs) per segment.
    n_segments : int
        Segments per window.
    step : int | None
        TRs between the starts of consecutive windows (default: one segment).

    Returns
    -------
    windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
        A copy (float32).
    """
    from ..kernels import sliding_windows

    x = np.asarray(timeseries, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"timeseries must have shape (n_times, n_rois), got {x.shape}.")
    segment_len = check_positive_int(segment_len, "segment_len")
    n_segments = check_positive_int(n_segments, "n_segments")
    step = segment_len if step is None else check_positive_int(step, "window_step")
    length = segment_len * n_segments
    if x.shape[0] < length:
        raise ValueError(
            f"A time series of {x.shape[0]} TRs is shorter than one window of n_segments={n_segments} "
            f"x segment_len={segment_len} = {length} TRs; lower n_segments."
        )
    win = sliding_windows(x.T, length, step)  # (n_windows, n_rois, length)
    win = win.reshape(win.shape[0], x.shape[1], n_segments, segment_len)
    return np.ascontiguousarray(win.transpose(0, 2, 1, 3))


def _standardize(x):
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    return ((x - x.mean(axis=0)) / sd).astype(np.float32)


def segment_mask(shape, mask_ratio, device=None):
    """Segment-wise ROI mask: the same number of ROIs masked in every segment.

    Drawn from the global torch generator (the training loop seeds it).

    Parameters
    ----------
    shape : tuple of int
        ``(n_windows, n_segments, n_rois)``.
    mask_ratio : float
        Share of the ROIs masked per segment (``round(mask_ratio * n_rois)``).
    device : torch.device | None

    Returns
    -------
    mask : torch.BoolTensor, shape (n_windows, n_segments, n_rois)
        True where the ROI is masked.
    """
    import torch

    n_rois = shape[-1]
    k = n_masked(n_rois, mask_ratio)
    rank = torch.rand(shape, device=device).argsort(dim=-1).argsort(dim=-1)
    return rank < k


def n_masked(n_rois, mask_ratio):
    """ROIs masked per segment, ``round(mask_ratio * n_rois)`` within [1, n_rois - 1]."""
    mask_ratio = float(mask_ratio)
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}.")
    return int(min(max(round(mask_ratio * n_rois), 1), n_rois - 1))


# -- the network --------------------------------------------------------------


def _torch_modules():
    import torch
    from torch import nn

    class RegionAttention(nn.Module):
        """Multi-head attention between ROIs without self-loops.

        ``static=True`` (SG): logits from the ROI embeddings only, the same for
        every segment; ``static=False`` (AG): logits from the tokens.
        """

        def __init__(self, dim, n_heads, static=True):
            super().__init__()
            if dim % n_heads:
                raise ValueError(f"embed_dim={dim} must be divisible by n_heads={n_heads}.")
            self.n_heads, self.d_head, self.static = n_heads, dim // n_heads, static
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
            self.v = nn.Linear(dim, dim)
            self.out = nn.Linear(dim, dim)

        def _heads(self, t):
            return t.reshape(*t.shape[:-1], self.n_heads, self.d_head).transpose(-2, -3)

        def weights(self, emb, tokens=None, key_mask=None):
            """Attention weights, shape (n_heads, n_rois, n_rois) or (batch, n_heads, n_rois, n_rois).

            ``key_mask`` (batch, n_rois), True = ROI hidden from the keys.
            Rows without any allowed key are all zero.
            """
            src = emb if self.static else tokens
            q, k = self._heads(self.q(src)), self._heads(self.k(src))
            logits = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
            n = logits.shape[-1]
            blocked = torch.eye(n, dtype=torch.bool, device=logits.device)
            if key_mask is not None:
                blocked = blocked | key_mask[:, None, None, :]
            # a row with no allowed key (only when every other ROI is masked) gets
            # zero weights without NaN in the forward or backward pass
            empty = blocked.all(dim=-1, keepdim=True)
            logits = logits.masked_fill(blocked, float("-inf")).masked_fill(empty, 0.0)
            att = torch.softmax(logits.float(), dim=-1).masked_fill(empty, 0.0)
            return att.to(tokens.dtype if tokens is not None else emb.dtype)

        def forward(self, tokens, emb, key_mask=None):
            if not self.static:
                att = self.weights(emb, tokens, key_mask)
                v = self._heads(self.v(tokens))  # (batch, heads, n_rois, d_head)
                out = (att.to(v.dtype) @ v).transpose(-2, -3).reshape(tokens.shape)
                return self.out(out)
            # SG: one (heads, n_rois, n_rois) graph for every segment. A softmax
            # restricted to the visible keys is exp(logits) * visible, renormalised,
            # so the graph multiplies [v * visible, visible] stacked over the batch
            # and no (batch, heads, n_rois, n_rois) tensor is ever built.
            b, n, d = tokens.shape
            q, k = self._heads(self.q(emb)), self._heads(self.k(emb))  # (heads, n_rois, d_head)
            logits = (q @ k.transpose(-1, -2)).float() / math.sqrt(self.d_head)
            logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=logits.device), float("-inf"))
            graph = torch.exp(logits - logits.amax(dim=-1, keepdim=True))  # diagonal 0
            v = self.v(tokens).reshape(b, n, self.n_heads, self.d_head).float()
            if key_mask is None:
                graph = graph / graph.sum(dim=-1, keepdim=True)
                rhs = v.permute(2, 1, 0, 3).reshape(self.n_heads, n, b * self.d_head)
                out = (graph @ rhs).reshape(self.n_heads, n, b, self.d_head)
            else:
                vis = (~key_mask).float().T[:, :, None]  # (n_rois, batch, 1)
                rhs = torch.cat([v.permute(1, 0, 2, 3) * vis[:, :, None, :],
                                 vis[:, :, None, :].expand(n, b, self.n_heads, 1)], dim=-1)
                rhs = rhs.permute(2, 0, 1, 3).reshape(self.n_heads, n, b * (self.d_head + 1))
                res = (graph @ rhs).reshape(self.n_heads, n, b, self.d_head + 1)
                den = res[..., -1:]
                out = torch.where(den > 0, res[..., :-1] / den.clamp_min(torch.finfo(den.dtype).tiny), 0.0)
            out = out.permute(2, 1, 0, 3).reshape(b, n, d).to(tokens.dtype)
            return self.out(out)

    class RegionBlock(nn.Module):
        def __init__(self, dim, n_heads, mlp_ratio, dropout, static):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim)
            self.attn = RegionAttention(dim, n_heads, static=static)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(
                nn.Linear(dim, int(mlp_ratio * dim)), nn.GELU(), nn.Dropout(dropout),
                nn.Linear(int(mlp_ratio * dim), dim),
            )
            self.drop = nn.Dropout(dropout)

        def forward(self, tokens, emb, key_mask=None):
            tokens = tokens + self.drop(self.attn(self.norm1(tokens), emb, key_mask))
            return tokens + self.drop(self.mlp(self.norm2(tokens)))

    return torch, nn, RegionBlock


def _sinusoid(n, dim, device):
    import torch

    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def BrainMAEModule(n_rois, segment_len, *, embed_dim=32, encoder="sg", n_blocks=None, n_heads=4,
                   n_temporal_layers=1, n_decoder_layers=1, mlp_ratio=2.0, dropout=0.0):
    """Build the BrainMAE network (a ``torch.nn.Module``).

    Parameters
    ----------
    n_rois : int
    segment_len : int
        Samples per segment.
    embed_dim : int
        Size of the ROI embeddings and of every token.
    encoder : {"sg", "ag"}
        Static-graph (attention from ROI embeddings, SG-TSE) or adaptive-graph
        (self-attention, AG-TSE) transient-state encoder.
    n_blocks : int | None
        Encoder blocks (default 3 for ``"sg"``, 2 for ``"ag"``, as in the paper).
    n_heads : int
    n_temporal_layers : int
        Transformer layers over segments.
    n_decoder_layers : int
        Graph-attention blocks of the decoder.
    mlp_ratio : float
    dropout : float

    Returns
    -------
    module : torch.nn.Module
        ``module(x, mask)`` with x of shape (batch, n_segments, n_rois,
        segment_len) and mask (batch, n_segments, n_rois) (or None) returns
        the reconstruction (same shape as x); ``module.encode(x, mask)``
        returns ``(roi_tokens, segment_tokens)`` of shapes (batch, n_segments,
        n_rois, embed_dim) and (batch, n_segments, embed_dim).
    """
    torch, nn, RegionBlock = _torch_modules()
    check_option("encoder", encoder, ENCODERS)
    n_rois = check_positive_int(n_rois, "n_rois", 2)
    segment_len = check_positive_int(segment_len, "segment_len")
    embed_dim = check_positive_int(embed_dim, "embed_dim")
    n_blocks = (3 if encoder == "sg" else 2) if n_blocks is None else check_positive_int(n_blocks, "n_blocks")
    static = encoder == "sg"

    class _BrainMAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_rois, self.segment_len, self.embed_dim = n_rois, segment_len, embed_dim
            self.roi_embedding = nn.Parameter(torch.randn(n_rois, embed_dim) * 0.5)
            self.value = nn.Linear(segment_len, embed_dim)
            self.mask_token = nn.Parameter(torch.zeros(embed_dim))
            self.encoder_blocks = nn.ModuleList(
                RegionBlock(embed_dim, n_heads, mlp_ratio, dropout, static) for _ in range(n_blocks))
            self.encoder_norm = nn.LayerNorm(embed_dim)
            layer = nn.TransformerEncoderLayer(embed_dim, n_heads, int(mlp_ratio * embed_dim), dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.temporal = nn.TransformerEncoder(layer, max(1, n_temporal_layers), enable_nested_tensor=False)
            self.temporal_norm = nn.LayerNorm(embed_dim)
            self.dec_tokens = nn.Linear(embed_dim, embed_dim)
            self.dec_context = nn.Linear(embed_dim, embed_dim)
            self.decoder_blocks = nn.ModuleList(
                RegionBlock(embed_dim, n_heads, mlp_ratio, dropout, True) for _ in range(n_decoder_layers))
            self.decoder_norm = nn.LayerNorm(embed_dim)
            self.head = nn.Linear(embed_dim, segment_len)

        def attention(self, block=0, key_mask=None):
            """Encoder attention of one block, (n_heads, n_rois, n_rois) (SG only without key_mask)."""
            blk = self.encoder_blocks[block].attn
            if not blk.static:
                raise ValueError("attention() without tokens needs encoder='sg'.")
            return blk.weights(self.roi_embedding, None, key_mask)

        def encode(self, x, mask=None):
            b, s, n, t = x.shape
            if n != self.n_rois or t != self.segment_len:
                raise ValueError(f"x has {n} ROIs x {t} samples per segment; the model expects "
                                 f"{self.n_rois} x {self.segment_len}.")
            tok = self.value(x)
            if mask is not None:
                tok = torch.where(mask[..., None], self.mask_token.to(tok.dtype), tok)
            tok = (tok + self.roi_embedding).reshape(b * s, n, -1)
            key_mask = None if mask is None else mask.reshape(b * s, n)
            for blk in self.encoder_blocks:
                tok = blk(tok, self.roi_embedding, key_mask)
            tok = self.encoder_norm(tok).reshape(b, s, n, -1)
            if mask is None:
                seg = tok.mean(dim=2)
            else:
                vis = (~mask).to(tok.dtype)[..., None]
                seg = (tok * vis).sum(dim=2) / vis.sum(dim=2).clamp_min(1.0)
            seg = seg + _sinusoid(s, self.embed_dim, x.device).to(seg.dtype)
            seg = self.temporal_norm(self.temporal(seg))
            return tok, seg

        def forward(self, x, mask=None):
            tok, seg = self.encode(x, mask)
            b, s, n, _ = tok.shape
            z = self.dec_tokens(tok) + self.dec_context(seg)[:, :, None, :] + self.roi_embedding
            z = z.reshape(b * s, n, -1)
            for blk in self.decoder_blocks:
                z = blk(z, self.roi_embedding)
            return self.head(self.decoder_norm(z)).reshape(x.shape)

    return _BrainMAE()


def masked_losses(recon, x, mask, masked_weight=0.75):
    """Loss of masked autoencoding and its parts.

    Parameters
    ----------
    recon, x : torch.Tensor, shape (batch, n_segments, n_rois, segment_len)
    mask : torch.BoolTensor, shape (batch, n_segments, n_rois)
    masked_weight : float
        Weight of the masked part (0.75 in the paper); the visible part gets
        ``1 - masked_weight``.

    Returns
    -------
    loss, masked_mse, visible_mse : torch.Tensor (scalars)
    """
    err = ((recon.float() - x.float()) ** 2).mean(dim=-1)
    m = mask.float()
    masked = (err * m).sum() / m.sum().clamp_min(1.0)
    visible = (err * (1 - m)).sum() / (1 - m).sum().clamp_min(1.0)
    w = float(masked_weight)
    return w * masked + (1.0 - w) * visible, masked, visible


def brainmae_step(mask_ratio=0.5, masked_weight=0.75):
    """The step function for :class:`brainpipe.models.train.Trainer`.

    Returns ``step(module, batch) -> (loss, {"masked_mse", "visible_mse"})``;
    ``batch = (x,)`` with x of shape (batch, n_segments, n_rois, segment_len).
    """

    def step(module, batch):
        x = batch[0]
        mask = segment_mask(x.shape[:3], mask_ratio, device=x.device)
        recon = module(x, mask)
        loss, masked, visible = masked_losses(recon, x, mask, masked_weight)
        return loss, {"masked_mse": masked.detach(), "visible_mse": visible.detach()}

    return step


# -- baselines and evaluation ---------------------------------------------------


def baseline_predictions(windows, mask, fc=None, cov=None, ridge=1e-3):
    """Predictions of the masked ROIs by simple baselines.

    Parameters
    ----------
    windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
    mask : ndarray of bool, shape (n_windows, n_segments, n_rois)
    fc : ndarray, shape (n_rois, n_rois) | None
        Group FC (correlations) of training subjects: ``"fc_weighted"``
        predicts a masked ROI as the mean of the visible ROIs of its segment
        weighted by their positive FC with it.
    cov : ndarray, shape (n_rois, n_rois) | None
        Covariance of training subjects: ``"fc_regression"`` is the Gaussian
        conditional mean of the masked ROIs given the visible ones (the best
        linear predictor from FC, a stronger reference than the paper's).
    ridge : float
        Added to the diagonal of the visible block of ``cov``.

    Returns
    -------
    predictions : dict of str -> ndarray, shape like ``windows``
        ``"roi_mean"``: the ROI's mean over the visible segments of its
        window; ``"interpolation"``: linear interpolation in time between the
        nearest visible samples of the same ROI (constant beyond the ends);
        and the FC baselines when given. Only masked entries are meaningful.
    """
    x = np.asarray(windows, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    w, s, n, t = x.shape
    vis = (~mask)[..., None]
    cnt = vis.sum(axis=1)[..., 0] * t  # (w, n) visible samples per ROI
    mean = np.where(cnt > 0, (x * vis).sum(axis=(1, 3)) / np.maximum(cnt, 1), 0.0)  # (w, n)
    out = {"roi_mean": np.broadcast_to(mean[:, None, :, None], x.shape).copy()}

    interp = np.zeros_like(x)
    times = np.arange(s * t)
    seq = x.transpose(0, 2, 1, 3).reshape(w, n, s * t)
    known = np.repeat(~mask.transpose(0, 2, 1), t, axis=-1)  # (w, n, s*t)
    for i in range(w):
        for r in range(n):
            k = known[i, r]
            if k.all():
                row = seq[i, r]
            elif k.any():
                row = np.interp(times, times[k], seq[i, r, k])
            else:
                row = np.zeros(s * t)
            interp[i, :, r, :] = row.reshape(s, t)
    out["interpolation"] = interp

    if fc is not None:
        wts = np.clip(np.asarray(fc, dtype=np.float64), 0, None)
        np.fill_diagonal(wts, 0.0)
        vw = (~mask).astype(np.float64)  # (w, s, n)
        num = np.einsum("ij,wsjt->wsit", wts, x * vw[..., None])
        den = np.einsum("ij,wsj->wsi", wts, vw)[..., None]
        out["fc_weighted"] = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    if cov is not None:
        cov = np.asarray(cov, dtype=np.float64)
        pred = np.zeros_like(x)
        for i in range(w):
            for j in range(s):
                m = mask[i, j]
                if not m.any():
                    continue
                u = ~m
                cuu = cov[np.ix_(u, u)] + ridge * np.eye(u.sum())
                pred[i, j, m] = cov[np.ix_(m, u)] @ np.linalg.solve(cuu, x[i, j, u])
        out["fc_regression"] = pred
    return out


def masked_mse(pred, windows, mask):
    """Mean squared error over the masked entries, shape-agnostic.

    Parameters
    ----------
    pred, windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
    mask : ndarray of bool, shape (n_windows, n_segments, n_rois)
    """
    err = ((np.asarray(pred, dtype=np.float64) - np.asarray(windows, dtype=np.float64)) ** 2).mean(axis=-1)
    return float(err[np.asarray(mask, bool)].mean())


def probe_cv(X, y, task, *, n_splits=5, seed=0, n_permutations=0, groups=None):
    """Linear head on fixed features, cross-validated with subject-disjoint folds.

    Rows are subjects, so (Stratified)KFold folds never share a subject
    (``groups`` forces GroupKFold when rows repeat subjects). The head is
    ``StandardScaler`` + ``RidgeCV`` for regression and ``StandardScaler`` +
    ``RidgeClassifierCV`` for classification, the penalty chosen by efficient
    leave-one-out inside each training fold (so it works for any class size).

    Parameters
    ----------
    X : ndarray, shape (n_subjects, n_features)
    y : ndarray, shape (n_subjects,)
    task : {"regression", "classification"}
    n_splits : int
    seed : int
    n_permutations : int
        0 skips the permutation test (``p_value`` NaN).
    groups : ndarray, shape (n_subjects,) | None

    Returns
    -------
    result : dict
        ``score`` (R^2 or balanced accuracy, mean over folds), ``score_sd``
        (over folds), ``p_value`` (permutation test),
        ``y_pred`` (out-of-fold), ``scoring``, and ``mae``/``pearson_r`` or
        ``accuracy``, ``model`` (``"ridge"`` or ``"ridge_classifier"``).
    """
    from scipy.stats import pearsonr
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.metrics import accuracy_score, mean_absolute_error
    from sklearn.model_selection import (GroupKFold, KFold, StratifiedKFold, cross_val_predict,
                                         cross_val_score, permutation_test_score)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_option("task", task, ("regression", "classification"))
    X = np.asarray(X, dtype=np.float64)
    if groups is not None:
        cv = GroupKFold(n_splits=n_splits)
    elif task == "regression":
        cv = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    alphas = np.logspace(-2, 5, 15)
    if task == "regression":
        est = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
        scoring, model = "r2", "ridge"
    else:
        est = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=alphas))
        scoring, model = "balanced_accuracy", "ridge_classifier"
    folds = cross_val_score(est, X, y, groups=groups, cv=cv, scoring=scoring)
    y_pred = cross_val_predict(est, X, y, groups=groups, cv=cv)
    p_value = float("nan")
    if n_permutations:
        _, _, p_value = permutation_test_score(est, X, y, groups=groups, cv=cv, scoring=scoring,
                                               n_permutations=int(n_permutations), random_state=seed)
    out = {"model": model, "scoring": scoring, "score": float(folds.mean()), "score_sd": float(folds.std()),
           "p_value": float(p_value), "y_pred": y_pred}
    if task == "regression":
        out["mae"] = float(mean_absolute_error(y, y_pred))
        out["pearson_r"] = float(pearsonr(y, y_pred)[0])
    else:
        out["accuracy"] = float(accuracy_score(y, y_pred))
    return out


def similarity_vs_fc(similarity, fc, n_permutations=1000, seed=0):
    """Correlation of two ROI x ROI matrices against a ROI-permutation (Mantel) null.

    Parameters
    ----------
    similarity, fc : ndarray, shape (n_rois, n_rois)
        Symmetric matrices; their upper triangles are compared.
    n_permutations : int
        The null permutes the ROI order of ``similarity`` (rows and columns
        together), which keeps its structure.
    seed : int

    Returns
    -------
    r : float
        Pearson correlation of the upper triangles.
    p_value : float
        ``(1 + #{null >= r}) / (1 + n_permutations)`` (one-sided).
    null : ndarray, shape (n_permutations,)
    """
    a = np.asarray(similarity, dtype=np.float64)
    b = np.asarray(fc, dtype=np.float64)
    n = a.shape[0]
    iu = np.triu_indices(n, 1)
    bv = b[iu] - b[iu].mean()
    bv /= np.linalg.norm(bv)

    def corr(m):
        v = m[iu] - m[iu].mean()
        return float(v @ bv / np.linalg.norm(v))

    r = corr(a)
    rng = np.random.default_rng(seed)
    null = np.empty(int(n_permutations))
    for k in range(len(null)):
        p = rng.permutation(n)
        null[k] = corr(a[np.ix_(p, p)])
    p_value = float((1 + np.sum(null >= r)) / (1 + len(null)))
    return r, p_value, null


# -- the estimator ----------------------------------------------------------------


class BrainMAE(BaseEstimator):
    """BrainMAE: self-supervised masked autoencoder of fMRI ROI time series.

    scikit-learn style: :meth:`fit` pretrains on a list of subjects' ROI
    time series, :meth:`transform` gives one representation per subject for
    a linear head. The network is :func:`BrainMAEModule` (see the module
    docstring for what follows the paper and what is our choice); training
    runs on the shared :class:`~brainpipe.models.train.Trainer`.

    Parameters
    ----------
    tr : float | None
        Repetition time (s); with ``segment_len=None`` the segment is
        ``round(segment_s / tr)`` TRs.
    segment_s : float
        Segment duration (s), 15 in the paper.
    segment_len : int | None
        Segment length in TRs (overrides ``tr`` / ``segment_s``).
    n_segments : int
        Segments per training window (6 demo / 16 full; not in the paper).
    window_step : int | None
        TRs between training windows (default one segment).
    embed_dim : int
        ROI-embedding and token size (32 demo / 256 full; not in the paper).
    encoder : {"sg", "ag"}
        SG-TSE (3 region-aware graph-attention blocks) or AG-TSE (2
        self-attention blocks).
    n_blocks : int | None
        Encoder blocks (default 3 for SG, 2 for AG).
    n_heads : int
    n_temporal_layers : int
    n_decoder_layers : int
    mlp_ratio : float
    dropout : float
    mask_ratio : float
        Share of the ROIs masked in every segment (0.5; not in the paper).
    masked_weight : float
        Weight of the masked MSE in the loss (0.75 in the paper).
    standardize : bool
        z-score every subject's ROI series (over time) before segmenting.
    max_epochs, batch_size, lr, weight_decay, patience, grad_clip : see :class:`Trainer`
    val_fraction : float
        Share of the *subjects* held out for validation (early stopping and
        held-out reconstruction error); 0 trains on all.
    seed : int
    device : str
    amp : bool
    checkpoint, metrics_tsv, progress : see :class:`Trainer`

    Attributes
    ----------
    module_ : torch.nn.Module
    segment_len_ : int
    history_ : pandas.DataFrame
    train_subjects_, val_subjects_ : ndarray of int
        Indices (into the list given to :meth:`fit`) of the training and
        held-out subjects.
    n_rois_ : int
    """

    def __init__(self, tr=None, segment_s=15.0, segment_len=None, n_segments=6, window_step=None,
                 embed_dim=32, encoder="sg", n_blocks=None, n_heads=4, n_temporal_layers=1,
                 n_decoder_layers=1, mlp_ratio=2.0, dropout=0.0, mask_ratio=0.5, masked_weight=0.75,
                 standardize=True, max_epochs=40, batch_size=32, lr=5e-3, weight_decay=0.01,
                 patience=None, grad_clip=1.0, val_fraction=0.2, seed=0, device="auto", amp=True,
                 checkpoint=None, metrics_tsv=None, progress=False):
        self.tr = tr
        self.segment_s = segment_s
        self.segment_len = segment_len
        self.n_segments = n_segments
        self.window_step = window_step
        self.embed_dim = embed_dim
        self.encoder = encoder
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.n_temporal_layers = n_temporal_layers
        self.n_decoder_layers = n_decoder_layers
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.mask_ratio = mask_ratio
        self.masked_weight = masked_weight
        self.standardize = standardize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device
        self.amp = amp
        self.checkpoint = checkpoint
        self.metrics_tsv = metrics_tsv
        self.progress = progress

    # -- helpers ---------------------------------------------------------------

    _ARCH = ("embed_dim", "encoder", "n_blocks", "n_heads", "n_temporal_layers", "n_decoder_layers",
             "mlp_ratio", "dropout")

    def _segment_len(self):
        if self.segment_len is not None:
            return check_positive_int(self.segment_len, "segment_len")
        if self.tr is None:
            raise ValueError("BrainMAE needs tr= (seconds) or segment_len= (TRs) to cut segments.")
        return segment_length(self.tr, self.segment_s)

    def _series(self, X):
        if isinstance(X, np.ndarray) and X.ndim == 3:
            X = list(X)
        series = [np.asarray(x, dtype=np.float64) for x in X]
        for i, x in enumerate(series):
            if x.ndim != 2:
                raise ValueError(f"subject {i}: time series must have shape (n_times, n_rois), got {x.shape}.")
            if not np.isfinite(x).all():
                raise ValueError(f"subject {i}: time series has NaN or infinite values.")
        n_rois = {x.shape[1] for x in series}
        if len(n_rois) != 1:
            raise ValueError(f"All subjects need the same ROIs; got ROI counts {sorted(n_rois)}.")
        return [_standardize(x) if self.standardize else x.astype(np.float32) for x in series]

    def windows(self, X, step=None):
        """Training windows of each subject.

        Parameters
        ----------
        X : list of ndarray, shape (n_times, n_rois) each
        step : int | None
            TRs between windows (default ``window_step``).

        Returns
        -------
        windows : list of ndarray, shape (n_windows, n_segments, n_rois, segment_len)
        """
        seg = self._segment_len()
        step = self.window_step if step is None else step
        out = []
        for i, x in enumerate(self._series(X)):
            try:
                out.append(segment_windows(x, seg, self.n_segments, step))
            except ValueError as err:
                raise ValueError(f"subject {i}: {err}") from err
        return out

    def build_module(self, n_rois, segment_len):
        """A freshly initialised network for this configuration (seeded by ``seed``)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            return BrainMAEModule(n_rois, segment_len, **{k: getattr(self, k) for k in self._ARCH})

    def split_subjects(self, n_subjects):
        """``(train, val)`` subject indices for ``val_fraction``, drawn from ``seed``."""
        rng = np.random.default_rng([int(self.seed), 0xB7A1])
        perm = rng.permutation(n_subjects)
        n_val = int(round(float(self.val_fraction) * n_subjects))
        if self.val_fraction > 0 and n_val == 0 and n_subjects >= 2:
            n_val = 1
        if n_subjects - n_val < 1:
            raise ValueError(f"Too few subjects ({n_subjects}) to hold out val_fraction={self.val_fraction}.")
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def trainer(self):
        """The :class:`Trainer` this configuration trains with."""
        from .train import Trainer

        return Trainer(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                       weight_decay=self.weight_decay, optimizer="adamw", schedule="cosine",
                       final_lr_ratio=0.05, val_fraction=0.0, patience=self.patience, grad_clip=self.grad_clip,
                       seed=self.seed, device=self.device, amp=self.amp, checkpoint=self.checkpoint,
                       checkpoint_every=5, metrics_tsv=self.metrics_tsv, progress=self.progress,
                       desc="BrainMAE pretraining")

    # -- API ---------------------------------------------------------------------

    def fit(self, X, y=None):
        """Pretrain by masked autoencoding.

        Parameters
        ----------
        X : list of ndarray, shape (n_times, n_rois) each, or ndarray (n_subjects, n_times, n_rois)
            One ROI time series per subject (lengths may differ).
        y : ignored

        Returns
        -------
        self
        """
        wins = self.windows(X)
        self.n_rois_ = wins[0].shape[2]
        self.segment_len_ = wins[0].shape[3]
        self.train_subjects_, self.val_subjects_ = self.split_subjects(len(wins))
        train = np.concatenate([wins[i] for i in self.train_subjects_])
        val = [np.concatenate([wins[i] for i in self.val_subjects_])] if len(self.val_subjects_) else None
        self.module_ = self.build_module(self.n_rois_, self.segment_len_)
        step = brainmae_step(self.mask_ratio, self.masked_weight)
        self.result_ = self.trainer().fit(self.module_, step, [train], val_arrays=val)
        self.history_ = self.result_.to_frame()
        self.module_.to("cpu").eval()
        return self

    def _check_fitted(self):
        if not hasattr(self, "module_"):
            raise ValueError("This BrainMAE is not fitted yet: call fit() or load() first.")

    def encode_windows(self, windows, batch_size=256):
        """Segment tokens of windows, no masking.

        Parameters
        ----------
        windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)

        Returns
        -------
        tokens : ndarray, shape (n_windows, n_segments, embed_dim)
        """
        import torch

        self._check_fitted()
        out = []
        self.module_.eval()
        with torch.no_grad():
            for b0 in range(0, len(windows), batch_size):
                x = torch.as_tensor(np.asarray(windows[b0:b0 + batch_size], dtype=np.float32))
                out.append(self.module_.encode(x)[1].numpy())
        return np.concatenate(out)

    def transform(self, X):
        """One representation per subject: segment tokens averaged over segments and windows.

        Parameters
        ----------
        X : list of ndarray, shape (n_times, n_rois) each

        Returns
        -------
        features : ndarray, shape (n_subjects, embed_dim)
        """
        self._check_fitted()
        return np.stack([self.encode_windows(w).mean(axis=(0, 1)) for w in self.windows(X)])

    def reconstruct(self, windows, mask=None, seed=0):
        """Reconstruct windows under a segment-wise ROI mask.

        Parameters
        ----------
        windows : ndarray, shape (n_windows, n_segments, n_rois, segment_len)
        mask : ndarray of bool, shape (n_windows, n_segments, n_rois) | None
            Default: drawn with ``mask_ratio`` from ``seed``.
        seed : int

        Returns
        -------
        recon : ndarray, shape like ``windows``
        mask : ndarray of bool, shape (n_windows, n_segments, n_rois)
        """
        import torch

        self._check_fitted()
        x = torch.as_tensor(np.asarray(windows, dtype=np.float32))
        if mask is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                mask_t = segment_mask(x.shape[:3], self.mask_ratio)
        else:
            mask_t = torch.as_tensor(np.asarray(mask, dtype=bool))
        self.module_.eval()
        with torch.no_grad():
            recon = torch.cat([self.module_(x[b:b + 256], mask_t[b:b + 256]) for b in range(0, len(x), 256)])
        return recon.numpy(), mask_t.numpy()

    def roi_similarity(self):
        """Cosine similarity of the learned ROI embeddings, shape (n_rois, n_rois)."""
        self._check_fitted()
        e = self.module_.roi_embedding.detach().double().numpy()
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        return e @ e.T

    def attention(self, block=0):
        """Encoder attention (SG) of one block averaged over heads, shape (n_rois, n_rois)."""
        import torch

        self._check_fitted()
        with torch.no_grad():
            return self.module_.attention(block).mean(dim=0).double().numpy()

    # -- persistence -------------------------------------------------------------

    def save(self, path, metadata=None):
        """Write weights and configuration atomically (``torch.load(weights_only=True)`` reads it).

        ``metadata`` (a dict of str, numbers and lists of them) is stored too and
        comes back as ``metadata_`` from :meth:`load`.
        """
        import torch

        from ..io.atomic import atomic_path

        self._check_fitted()
        state = {
            "format": "brainpipe.BrainMAE/1",
            "params": {k: v for k, v in self.get_params().items() if k not in ("checkpoint", "metrics_tsv")},
            "n_rois": int(self.n_rois_),
            "segment_len": int(self.segment_len_),
            "train_subjects": [int(i) for i in self.train_subjects_],
            "val_subjects": [int(i) for i in self.val_subjects_],
            "metadata": dict(metadata or getattr(self, "metadata_", {}) or {}),
            "state_dict": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return path

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"Cannot read the BrainMAE model {path}: {err}") from err
        if not isinstance(state, dict) or state.get("format") != "brainpipe.BrainMAE/1":
            raise ValueError(f"{path} is not a BrainMAE model written by BrainMAE.save().")
        est = cls(**state["params"])
        est.n_rois_, est.segment_len_ = state["n_rois"], state["segment_len"]
        est.train_subjects_ = np.asarray(state["train_subjects"], dtype=int)
        est.val_subjects_ = np.asarray(state["val_subjects"], dtype=int)
        est.metadata_ = state.get("metadata", {})
        est.module_ = est.build_module(est.n_rois_, est.segment_len_)
        est.module_.load_state_dict(state["state_dict"])
        est.module_.eval()
        return est
