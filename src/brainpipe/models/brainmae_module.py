"""The BrainMAE network: region-aware graph attention, segment transformer, masked losses.

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

from .._check import check_option, check_positive_int
from .brainmae_data import segment_mask

__all__ = ["ENCODERS", "BrainMAEModule", "brainmae_step", "masked_losses"]

ENCODERS = ("sg", "ag")



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
