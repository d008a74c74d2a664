"""Building blocks of the TFM tokenizer: transformer stacks, conv blocks, the EMA vector quantiser."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._check import check_positive_int

__all__ = ["EMAVectorQuantizer", "conv_block", "transformer"]



def transformer(dim, n_heads, depth, dropout):
    if depth == 0:
        return nn.Identity()
    layer = nn.TransformerEncoderLayer(
        d_model=dim, nhead=n_heads, dim_feedforward=4 * dim, dropout=dropout,
        activation="gelu", batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)


def conv_block(c_in, c_out, kernel, stride, groups_of=4):
    return [nn.Conv1d(c_in, c_out, kernel_size=kernel, stride=stride), nn.GELU(),
            nn.GroupNorm(max(1, c_out // groups_of), c_out)]


class EMAVectorQuantizer(nn.Module):
    """Nearest-code quantiser whose codebook follows an exponential moving average.

    At every training forward, with one-hot assignments ``E`` (n, K) of the
    inputs ``z`` (n, D)::

        N  <- decay * N  + (1 - decay) * E.sum(0)
        M  <- decay * M  + (1 - decay) * E.T @ z
        Ns  = (N + eps) / (N.sum() + K * eps) * N.sum()      (Laplace smoothing)
        codebook = M / Ns[:, None]

    Parameters
    ----------
    codebook_size : int
        Number of codes K.
    dim : int
        Code dimension D.
    decay : float
        EMA decay.
    eps : float
        Laplace smoothing of the cluster sizes.
    dead_code_threshold : float
        After each update, codes whose EMA cluster size is below this are
        re-seeded from random rows of the current batch (drawn with the
        global torch generator); 0 disables it (the official behaviour).

    The codebook starts as U(-1/K, 1/K), as in the official code.
    """

    def __init__(self, codebook_size, dim, decay=0.99, eps=1e-5, dead_code_threshold=0.0):
        super().__init__()
        self.codebook_size = check_positive_int(codebook_size, "codebook_size")
        self.dim = check_positive_int(dim, "dim")
        self.decay = float(decay)
        self.eps = float(eps)
        self.dead_code_threshold = float(dead_code_threshold)
        k = self.codebook_size
        codebook = torch.empty(k, dim).uniform_(-1.0 / k, 1.0 / k)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.zeros(k))
        self.register_buffer("ema_w", codebook.clone())

    def assign(self, flat):
        """Index of the nearest code of each row of ``flat`` (n, D) -> (n,)."""
        cb = self.codebook.to(flat.dtype)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ cb.t() + cb.pow(2).sum(1)[None, :]
        return dist.argmin(dim=1)

    @torch.no_grad()
    def ema_update(self, flat, indices):
        """One EMA step of the codebook from rows ``flat`` (n, D) assigned to ``indices`` (n,)."""
        flat = flat.detach().float()
        onehot = F.one_hot(indices, self.codebook_size).to(flat.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_w.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        self.codebook.copy_(self.ema_w / smoothed[:, None])
        if self.dead_code_threshold > 0:
            dead = self.cluster_size < self.dead_code_threshold
            n_dead = int(dead.sum())
            if n_dead:
                rows = flat[torch.randint(len(flat), (n_dead,), device="cpu").to(flat.device)]
                self.codebook[dead] = rows
                self.ema_w[dead] = rows * self.dead_code_threshold
                self.cluster_size[dead] = self.dead_code_threshold

    def forward(self, z):
        """Quantise ``z`` of shape (..., D).

        Returns
        -------
        quantized : torch.Tensor, shape (..., D)
            The nearest codes (no gradient).
        indices : torch.Tensor of int64, shape (...)
        """
        flat = z.reshape(-1, self.dim)
        indices = self.assign(flat.detach())
        quantized = self.codebook[indices].to(z.dtype)
        if self.training:
            self.ema_update(flat, indices)
        return quantized.view_as(z), indices.view(z.shape[:-1])
