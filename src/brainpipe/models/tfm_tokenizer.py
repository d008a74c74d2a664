"""TFM-Tokenizer: time-frequency motif tokens of single-channel EEG.

Pradeepkumar et al., "Tokenizing single-channel EEG with time-frequency motif
learning" (TFM-Tokenizer, ICLR 2026). Our own implementation, written from the
paper and from a reading of the official code (GitHub
``Jathurshan0330/TFM-Tokenizer``, ``models/tfm_token.py`` and the training
script ``tfm_tokenizer_token_learning.py``); no code is copied.

What a forward pass does, per channel (the model is single-channel: every
channel of every montage is tokenized on its own):

1. **preprocessing** (inside the model): resample to 200 Hz by FFT (what the
   official data loaders do with ``scipy.signal.resample``), divide by the 95th
   percentile of ``|x|`` (+1e-8), and take the STFT magnitude with
   ``n_fft=200``, a periodic Hann window of 200 samples, hop 100,
   ``center=False``, keeping bins 0-99 (1 s frames every 0.5 s, 1 Hz bins).
2. **frequency path**, on each frame: ``Conv1d(1, 64, 5, stride 5)`` cuts
   the 100 bins into 20 patches of 5 bins (GELU + GroupNorm, two 1x1 conv
   blocks), a transformer across the 20 patches (dim 64, 8 heads, depth 2),
   and a gated aggregation ``Conv1d(64, 8, 5, stride 5) * sigmoid(Conv1d(64, 8,
   5, stride 5))`` flattened to 32 dims.
3. **time path**, on the scaled waveform: ``Conv1d(1, 64, 200, stride 100)``
   (one patch per STFT frame) and 1x1 conv blocks to 32 dims.
4. both concatenated (64) -> **temporal transformer** across frames (depth 2)
   -> L2-normalised -> **EMA vector quantiser** (nearest code, decay 0.99,
   eps 1e-5, Laplace-smoothed cluster sizes) -> one token per frame, i.e. 2
   tokens per second per channel.
5. **decoder** (training only): transformer (depth 8 at paper size) on the
   straight-through quantised vectors, then ``Linear - Tanh - Linear`` to the
   100 bins of every frame.

Training (:meth:`TFMTokenizer.loss`): the spectrogram is masked on 50 % of
the 5-bin frequency bands and 50 % of the frames; the kept region is the
intersection of the two keeps, and the second ("symmetric") view keeps its
complement. Both views are encoded and decoded, and the loss is
``MSE + MSE_sym + VQ + VQ_sym`` with the reconstruction compared with the
whole unmasked spectrogram.

Where we depart from the official code, and why:

* transformers: ``torch.nn.TransformerEncoder`` (softmax attention, pre-norm,
  GELU feed-forward 4x, dropout 0.2) instead of lucidrains'
  ``linear_attention_transformer``: the sequences are short (20 frequency
  patches, a few frames per epoch) so exact attention costs nothing, and it
  avoids a dependency. No positional encodings, as in the official encoders.
* masks are drawn per spectrogram (each row of the batch its own bands and
  frames) instead of one mask shared by the whole batch; same expected
  masking, more mask diversity per step. They come from the global torch
  generator, which :class:`~brainpipe.models.train.Trainer` re-seeds every
  epoch (deterministic, exact resume).
* the codebook is a buffer updated only by the EMA (the official stores it
  as a trainable ``nn.Embedding`` that the optimiser never moves, as the EMA
  overwrites it every step). The VQ loss keeps the official form: the
  "codebook" term is computed on the straight-through output, so with an
  EMA codebook it acts as a second commitment term (loss value
  ``(1 + beta) * mean((sg[q] - z)^2)``).
* ``dead_code_threshold`` (0, i.e. off, by default: the official
  behaviour) re-seeds codes whose EMA cluster size fell below it from
  random rows of the current batch. With the official tiny uniform
  initialisation, a code that no input picks early on keeps an exploding
  ``M / Ns`` and is never picked again; on the demo (4000 windows, 256
  codes, 6 epochs) 16 % of the codes were used without re-seeding and 88 %
  with a threshold of 0.1. (Filling the codebook from the first batch
  instead did worse: 74 %, the untrained encoder's outputs being nearly
  identical.)
* the time path reads the scaled, *unmasked* waveform in both views, as the
  official forward does.
* :func:`train_tokenizer` and the workflow step start the decoder's output
  bias at the mean training spectrum (:meth:`TFMTokenizer.init_decoder_bias`)
  instead of zero: the magnitudes are large (tens) and a small run otherwise
  spends its first epochs learning the mean; on a toy set, 8 epochs reach a
  masked error of 0.53x the per-frequency-mean baseline with it and 1.24x
  without.
* the official learning-rate schedule (warm-up then cosine from 1e-3 to a
  final 5e-3, above the base) is per step; the shared loop's schedule is per
  epoch (``final_lr_ratio=5`` reproduces the end point).

The module follows braindecode's conventions for EEG models: arguments
``n_chans, n_outputs, n_times, sfreq, chs_info`` and input of shape
``(batch, n_chans, n_times)``. ``n_outputs`` is accepted for uniformity and
unused (the tokenizer has no head; see
:class:`~brainpipe.models.tfm_transformer.TokenTransformer`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._check import check_positive_int
from .tfm_layers import EMAVectorQuantizer, conv_block, transformer
from .tfm_objective import MaskedViewsObjective, perplexity, tokenizer_step
from .tfm_signal import percentile_scale, resample_fft, stft_magnitude

__all__ = [
    "TFMTokenizer",
    "EMAVectorQuantizer",
    "stft_magnitude",
    "resample_fft",
    "percentile_scale",
    "tokenizer_step",
    "train_tokenizer",
    "save_tokenizer",
    "load_tokenizer",
    "tokenize_array",
    "perplexity",
    "PAPER_SIZE",
    "OFFICIAL_PARAMETERS",
]

#: Architecture of the paper's "2x2x8" tokenizer (our defaults).
PAPER_SIZE = {
    "codebook_size": 8192,
    "emb_size": 64,
    "n_heads": 8,
    "freq_depth": 2,
    "time_depth": 2,
    "decoder_depth": 8,
}

#: Trainable parameters the official code reports for the 2x2x8 tokenizer,
#: codebook included: about 1.2 M (the issue's figure).
OFFICIAL_PARAMETERS = 1.2e6




class TFMTokenizer(MaskedViewsObjective, nn.Module):
    """Time-frequency motif tokenizer of single-channel EEG (Pradeepkumar et al.).

    Parameters
    ----------
    n_chans : int | None
        Channels of the input (braindecode convention). The model is
        single-channel, so it only sets the expected ``(batch, n_chans, n_times)``
        in :meth:`n_tokens`; any channel count is tokenized.
    n_outputs : int | None
        Unused: the tokenizer has no classification head (kept so code that
        builds braindecode models can pass the same arguments).
    n_times : int | None
        Samples per input at ``sfreq`` (informative; any length >= 1 s works).
    sfreq : float
        Sampling frequency of the input (Hz); resampled to ``model_sfreq``.
    chs_info : list of dict | None
        MNE channel info (braindecode convention); kept, not used.
    codebook_size : int
        Number of tokens K (8192 in the paper).
    emb_size : int
        Token dimension (64).
    n_heads : int
        Attention heads of every transformer (8).
    freq_depth, time_depth, decoder_depth : int
        Layers of the frequency, temporal and decoder transformers (2, 2, 8).
    n_freq_patch : int
        Bins per frequency patch (5).
    model_sfreq : float
        Rate the model works at (200 Hz: 1 s STFT frames of ``n_fft`` samples).
    n_fft, hop_length : int
        STFT frame and hop (200, 100 samples at 200 Hz).
    n_freq : int
        Bins kept (100: 0-99 Hz).
    scale_quantile : float
        Each channel is divided by this quantile of ``|x|`` (0.95).
    beta : float
        Commitment weight (1.0).
    decay, eps : float
        EMA decay (0.99) and smoothing (1e-5) of the codebook.
    dead_code_threshold : float
        See :class:`EMAVectorQuantizer` (0 disables).
    freq_mask_ratio, time_mask_ratio : float
        Share of frequency bands and frames masked in training (0.5, 0.5).
    dropout : float
        Dropout of the transformers (0.2, as the official attention dropout).
    """

    def __init__(
        self,
        n_chans=None,
        n_outputs=None,
        n_times=None,
        sfreq=200.0,
        chs_info=None,
        codebook_size=8192,
        emb_size=64,
        n_heads=8,
        freq_depth=2,
        time_depth=2,
        decoder_depth=8,
        n_freq_patch=5,
        model_sfreq=200.0,
        n_fft=200,
        hop_length=100,
        n_freq=100,
        scale_quantile=0.95,
        beta=1.0,
        decay=0.99,
        eps=1e-5,
        dead_code_threshold=0.0,
        freq_mask_ratio=0.5,
        time_mask_ratio=0.5,
        dropout=0.2,
    ):
        super().__init__()
        self._init_params = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.n_chans = n_chans
        self.n_outputs = n_outputs
        self.n_times = n_times
        self.sfreq = float(sfreq)
        self.chs_info = chs_info
        if not self.sfreq > 0:
            raise ValueError(f"sfreq must be > 0 Hz, got {sfreq!r}.")
        self.codebook_size = check_positive_int(codebook_size, "codebook_size", minimum=2)
        self.emb_size = check_positive_int(emb_size, "emb_size", minimum=4)
        self.n_heads = check_positive_int(n_heads, "n_heads")
        self.n_freq_patch = check_positive_int(n_freq_patch, "n_freq_patch")
        self.model_sfreq = float(model_sfreq)
        self.n_fft = check_positive_int(n_fft, "n_fft", minimum=2)
        self.hop_length = check_positive_int(hop_length, "hop_length")
        self.n_freq = check_positive_int(n_freq, "n_freq")
        self.scale_quantile = float(scale_quantile)
        self.beta = float(beta)
        self.freq_mask_ratio = float(freq_mask_ratio)
        self.time_mask_ratio = float(time_mask_ratio)
        e, p = self.emb_size, self.n_freq_patch
        if e % n_heads or e % 8:
            raise ValueError(f"emb_size={e} must be a multiple of n_heads={n_heads} and of 8.")
        if self.n_freq % p or self.n_freq > self.n_fft // 2 + 1:
            raise ValueError(
                f"n_freq={self.n_freq} must be a multiple of n_freq_patch={p} and at most "
                f"n_fft // 2 + 1 = {self.n_fft // 2 + 1}."
            )
        n_patches = self.n_freq // p
        if n_patches % p:
            raise ValueError(
                f"n_freq / n_freq_patch = {n_patches} patches must be a multiple of n_freq_patch={p} "
                "(the gated aggregation pools patches by n_freq_patch)."
            )
        n_groups = n_patches // p  # positions after the aggregation conv (4)
        half = e // 2
        if half % n_groups:
            raise ValueError(f"emb_size / 2 = {half} must be a multiple of {n_groups} aggregated positions.")

        self.freq_patch_embedding = nn.Sequential(
            *conv_block(1, e, p, p), *conv_block(e, e, 1, 1), *conv_block(e, e, 1, 1)
        )
        self.freq_encoder = transformer(e, n_heads, freq_depth, dropout)
        self.freq_aggregate = nn.Conv1d(e, half // n_groups, kernel_size=p, stride=p)
        self.freq_gate = nn.Conv1d(e, half // n_groups, kernel_size=p, stride=p)
        self.time_patch_embedding = nn.Sequential(
            *conv_block(1, e, self.n_fft, self.hop_length), *conv_block(e, e, 1, 1),
            *conv_block(e, half, 1, 1)
        )
        self.temporal_encoder = transformer(e, n_heads, time_depth, dropout)
        self.quantizer = EMAVectorQuantizer(self.codebook_size, e, decay=decay, eps=eps,
                                            dead_code_threshold=dead_code_threshold)
        self.decoder_transformer = transformer(e, n_heads, decoder_depth, dropout)
        self.decoder = nn.Sequential(nn.Linear(e, e), nn.Tanh(), nn.Linear(e, self.n_freq))

    # -- configuration ---------------------------------------------------------

    def get_config(self):
        """The constructor arguments (JSON-able; ``chs_info`` dropped), to rebuild the model."""
        cfg = dict(self._init_params)
        cfg["chs_info"] = None
        return cfg

    def n_parameters(self, codebook=True):
        """Trainable parameters, plus the codebook's ``K * D`` entries when ``codebook``
        (the official code counts its codebook as a trainable embedding)."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return n + (self.quantizer.codebook.numel() if codebook else 0)

    def model_n_times(self, n_times, sfreq=None):
        """Samples at ``model_sfreq`` of an input of ``n_times`` samples at ``sfreq``."""
        sfreq = self.sfreq if sfreq is None else float(sfreq)
        return int(round(int(n_times) * self.model_sfreq / sfreq))

    def n_tokens(self, n_times=None, sfreq=None):
        """Tokens per channel of an input of ``n_times`` samples (default ``self.n_times``)."""
        n_times = self.n_times if n_times is None else n_times
        if n_times is None:
            raise ValueError("n_tokens needs n_times (not set on the model).")
        m = self.model_n_times(n_times, sfreq)
        if m < self.n_fft:
            raise ValueError(
                f"An input of {n_times} samples at {sfreq or self.sfreq} Hz is {m} samples at "
                f"{self.model_sfreq} Hz, shorter than one frame (n_fft={self.n_fft})."
            )
        return 1 + (m - self.n_fft) // self.hop_length

    @torch.no_grad()
    def init_decoder_bias(self, x, sfreq=None, max_rows=512):
        """Start the decoder's output bias at the mean spectrum of ``x`` (n, [n_chans,] n_times).

        The reconstruction then starts from the per-frequency mean instead of
        zero (the official start), which saves the first epochs of a small run.
        """
        x = torch.as_tensor(np.asarray(x[:max_rows], dtype=np.float32))
        _, spec = self.prepare(x, sfreq)
        self.decoder[-1].bias.copy_(spec.mean(dim=(0, 2)).to(self.decoder[-1].bias.dtype))
        return self

    # -- pieces ----------------------------------------------------------------

    def prepare(self, x, sfreq=None):
        """Resample, scale and STFT one batch.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans, n_times) or (batch, n_times)
            EEG at ``sfreq`` (any unit: the scaling removes it).
        sfreq : float | None
            Default ``self.sfreq``.

        Returns
        -------
        wave : torch.Tensor, shape (batch * n_chans, n_times_model)
            Scaled waveform at ``model_sfreq``.
        spec : torch.Tensor, shape (batch * n_chans, n_freq, n_frames)
        """
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3:
            raise ValueError(f"Expected input of shape (batch, n_chans, n_times), got {tuple(x.shape)}.")
        x = x.float()
        wave = x.reshape(-1, x.shape[-1])
        n_model = self.model_n_times(wave.shape[-1], sfreq)
        wave = resample_fft(wave, n_model)
        wave = percentile_scale(wave, self.scale_quantile)
        spec = stft_magnitude(wave, self.n_fft, self.hop_length, self.n_freq)
        return wave, spec

    def encode(self, spec, wave):
        """Encoder outputs before quantisation, L2-normalised.

        Parameters
        ----------
        spec : torch.Tensor, shape (n, n_freq, n_frames)
        wave : torch.Tensor, shape (n, n_times_model)

        Returns
        -------
        z : torch.Tensor, shape (n, n_frames, emb_size)
        """
        n, n_freq, n_frames = spec.shape
        f = spec.permute(0, 2, 1).reshape(n * n_frames, 1, n_freq)
        f = self.freq_patch_embedding(f)                    # (n*T, E, n_patches)
        f = self.freq_encoder(f.transpose(1, 2)).transpose(1, 2)
        f = self.freq_aggregate(f) * torch.sigmoid(self.freq_gate(f))  # (n*T, E/2/g, g)
        f = f.reshape(n, n_frames, -1)
        t = self.time_patch_embedding(wave[:, None, :])     # (n, E/2, T)
        t = t.transpose(1, 2)[:, :n_frames]
        h = self.temporal_encoder(torch.cat([f, t], dim=-1))
        return F.normalize(h, p=2, dim=-1)

    def decode(self, q):
        """Spectrogram from (straight-through) code vectors.

        Parameters
        ----------
        q : torch.Tensor, shape (n, n_frames, emb_size)

        Returns
        -------
        spec : torch.Tensor, shape (n, n_freq, n_frames)
        """
        return self.decoder(self.decoder_transformer(q)).transpose(1, 2)

    def quantize(self, z):
        """Quantise encoder outputs; returns ``(q_st, indices, q)``.

        ``q_st = z + sg[q - z]`` carries the decoder's gradient to the
        encoder unchanged (straight-through estimator).
        """
        q, indices = self.quantizer(z)
        q_st = z + (q - z).detach()
        return q_st, indices, q

    # -- public API --------------------------------------------------------------

    def forward(self, x, sfreq=None):
        """Tokens of a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans, n_times)
        sfreq : float | None
            Sampling frequency of ``x`` (default ``self.sfreq``).

        Returns
        -------
        tokens : torch.Tensor of int64, shape (batch, n_chans, n_frames)
            One token per 1 s frame, every 0.5 s (2 tokens / s / channel).
        """
        shape = x.shape
        wave, spec = self.prepare(x, sfreq)
        _, indices, _ = self.quantize(self.encode(spec, wave))
        n_chans = shape[1] if len(shape) == 3 else 1
        return indices.reshape(shape[0], n_chans, -1)

    tokenize = forward


# the training loop and the files (they import this module's class lazily)
from .tfm_training import load_tokenizer, save_tokenizer, tokenize_array, train_tokenizer  # noqa: E402
