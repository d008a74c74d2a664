"""The self-supervised objective of the TFM tokenizer: two masked views of the spectrogram.

:class:`MaskedViewsObjective` holds the training methods of
:class:`~brainpipe.models.tfm_tokenizer.TFMTokenizer` (a mixin: the model's
layers and its encode/decode/quantize are in the tokenizer module): the
keep-masks of the two views, the VQ loss, reconstructions and
``MSE + MSE_sym + VQ + VQ_sym``. :func:`tokenizer_step` is the step function
of the shared training loop.
"""

from __future__ import annotations

import torch

__all__ = ["MaskedViewsObjective", "perplexity", "tokenizer_step"]


class MaskedViewsObjective:
    """Training methods of :class:`~brainpipe.models.tfm_tokenizer.TFMTokenizer` (a mixin).

    Uses the model's ``prepare``, ``encode``, ``quantize``, ``decode`` and its
    ``beta``, ``n_freq``, ``n_freq_patch``, ``freq_mask_ratio``,
    ``time_mask_ratio`` and ``codebook_size``.
    """

    def vq_loss(self, z, q_st):
        """``codebook + beta * commitment`` in the official form (see the module notes)."""
        commitment = torch.mean((q_st.detach() - z) ** 2)
        codebook = torch.mean((q_st - z.detach()) ** 2)
        return codebook + self.beta * commitment

    def masks(self, n, n_frames, device=None):
        """Keep-masks of the two views, shape (n, n_freq, n_frames), bool.

        Per row: ``freq_mask_ratio`` of the ``n_freq / n_freq_patch`` bands
        and ``time_mask_ratio`` of the frames are masked; view 1 keeps the
        cells in a kept band *and* a kept frame, view 2 the complement.
        Drawn from the global torch generator.
        """
        n_bands = self.n_freq // self.n_freq_patch
        k_f = int(n_bands * self.freq_mask_ratio)
        k_t = int(n_frames * self.time_mask_ratio)
        band_rank = torch.rand(n, n_bands).argsort(dim=1).argsort(dim=1)
        frame_rank = torch.rand(n, n_frames).argsort(dim=1).argsort(dim=1)
        band_keep = (band_rank >= k_f).repeat_interleave(self.n_freq_patch, dim=1)
        frame_keep = frame_rank >= k_t
        keep = band_keep[:, :, None] & frame_keep[:, None, :]
        keep = keep.to(device) if device is not None else keep
        return keep, ~keep

    def reconstruct(self, x, sfreq=None, keep=None):
        """Target spectrogram and its reconstruction from the tokens.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans, n_times)
        keep : torch.Tensor of bool, shape (batch * n_chans, n_freq, n_frames) | None
            Mask the input spectrogram with it first (training views).

        Returns
        -------
        spec, recon : torch.Tensor, shape (batch * n_chans, n_freq, n_frames)
        indices : torch.Tensor of int64, shape (batch * n_chans, n_frames)
        """
        wave, spec = self.prepare(x, sfreq)
        inp = spec if keep is None else spec * keep
        q_st, indices, _ = self.quantize(self.encode(inp, wave))
        return spec, self.decode(q_st), indices

    def loss(self, x, sfreq=None):
        """Training loss ``MSE + MSE_sym + VQ + VQ_sym`` of one batch, and its parts.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans, n_times) or (batch, n_times)

        Returns
        -------
        loss : torch.Tensor (scalar)
        metrics : dict of str to float
            ``recon``, ``recon_sym``, ``vq``, ``vq_sym``, ``masked_mse``
            (error on the masked cells of view 1), ``perplexity`` and
            ``codes_used`` of the batch's tokens.
        """
        wave, spec = self.prepare(x, sfreq)
        keep, keep_sym = self.masks(spec.shape[0], spec.shape[2], spec.device)
        out = {}
        total = 0.0
        all_idx = []
        for name, k in (("", keep), ("_sym", keep_sym)):
            z = self.encode(spec * k, wave)
            q_st, idx, _ = self.quantize(z)
            recon = self.decode(q_st)
            mse = torch.mean((recon - spec) ** 2)
            vq = self.vq_loss(z, q_st)
            total = total + mse + vq
            out["recon" + name] = mse.detach()
            out["vq" + name] = vq.detach()
            if name == "":
                masked = ~k
                out["masked_mse"] = ((recon - spec) ** 2)[masked].mean().detach() if masked.any() \
                    else torch.zeros(())
            all_idx.append(idx.reshape(-1))
        counts = torch.bincount(torch.cat(all_idx), minlength=self.codebook_size).float()
        out["perplexity"] = perplexity(counts)
        out["codes_used"] = float((counts > 0).sum())
        return total, out


def perplexity(counts):
    """``exp(entropy)`` of token counts (1 = one code, K = uniform use)."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    p = counts / counts.sum().clamp_min(1)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def tokenizer_step(module, batch):
    """Step function of :class:`~brainpipe.models.train.Trainer` for :class:`TFMTokenizer`.

    ``batch`` is ``(x,)`` with ``x`` of shape (n, n_chans, n_times) or (n, n_times)
    at ``module.sfreq``.
    """
    return module.loss(batch[0])
