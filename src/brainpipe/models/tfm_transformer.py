"""A small transformer on TFM tokens, and a scikit-learn classifier around it.

:class:`TokenTransformer` is the downstream model of Pradeepkumar et al.
(TFM-Tokenizer): an embedding of the token ids (codebook size + one mask id,
initialised from the tokenizer's codebook), a learned channel embedding, a
sinusoidal position over each channel's frames, a CLS token and a small
transformer (dim 64, depth 4 in the paper); the CLS output goes through a
linear head. Optional masked-token pretraining draws a Bernoulli(0.5) mask
and its complement and predicts the masked ids of both views.

:class:`TFMTransformerClassifier` is the scikit-learn estimator the BCI
pipelines use: epochs ``(n_trials, n_chans, n_times)`` in, class labels out.
Its tokenizer is frozen: either a trained one read from a file
(``tokenizer="path/to/tokenizer.pt"``, e.g. the group-level tokenizer of the
workflow) or, with ``tokenizer=None``, one trained on the epochs given to
:meth:`~TFMTransformerClassifier.fit` only (no other data seen: the
"training runs only" variant). Tokens under a tokenizer file are cached
per process across folds (the tokenizer is frozen; see
:mod:`brainpipe.models.tfm_token_cache`).

Departures from the official code (``models/tfm_token.py``,
``downstream_transformer_*.py``), and why:

* softmax attention (``torch.nn.TransformerEncoder``, pre-norm) instead of
  the linear-attention transformer; sequences are ``n_chans * n_frames + 1``
  tokens (155 for a 4 s, 22-channel epoch), well within exact attention.
* the channel embedding has ``n_chans`` rows, fixed at fit time, instead of
  16 rows indexed by channel order: our montages have other sizes.
* the masked-token head is a separate linear layer (the official reuses the
  classification head built with ``n_classes = codebook_size``) and is
  dropped after pretraining in the same way.
* the learning-rate schedule is per epoch on the shared loop (the official
  is per step with a warm-up).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn
from torch.nn import functional as F

from .._check import check_positive_int
from .tfm_layers import transformer as _transformer
from .tfm_token_cache import FILE_TOKENS as _FILE_TOKENS
from .tfm_token_cache import FileTokenCache as _FileTokenCache
from .tfm_tokenizer import load_tokenizer, tokenize_array, train_tokenizer

__all__ = ["TokenTransformer", "TFMTransformerClassifier", "sinusoidal_positions"]



def sinusoidal_positions(n_positions, dim):
    """Sine/cosine position table of Vaswani et al., shape (n_positions, dim)."""
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return table


class TokenTransformer(nn.Module):
    """Transformer classifier on token ids (braindecode conventions).

    Parameters
    ----------
    n_chans : int
        Channels (rows of the token grid).
    n_outputs : int
        Classes.
    n_times : int
        Tokens per channel the model is built for (the position table covers
        ``max(n_times, max_positions)``).
    codebook_size : int
        Token vocabulary K; id ``K`` is the mask token.
    sfreq, chs_info
        Braindecode conventions; not used by the model.
    emb_size : int
        Model dimension (64 in the paper).
    n_heads : int
        Attention heads (8).
    depth : int
        Transformer layers (4).
    dropout : float
        Dropout of the transformer (0.2) ; 0.1 after the positions.
    max_positions : int
        Size of the sinusoidal table.
    """

    def __init__(self, n_chans, n_outputs, n_times, codebook_size, sfreq=None, chs_info=None,
                 emb_size=64, n_heads=8, depth=4, dropout=0.2, max_positions=1024):
        super().__init__()
        self.n_chans = check_positive_int(n_chans, "n_chans")
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        self.n_times = check_positive_int(n_times, "n_times")
        self.codebook_size = check_positive_int(codebook_size, "codebook_size", minimum=2)
        self.sfreq = sfreq
        self.chs_info = chs_info
        self.emb_size = check_positive_int(emb_size, "emb_size")
        self.mask_id = self.codebook_size
        self.token_embedding = nn.Embedding(self.codebook_size + 1, emb_size)
        self.channel_embedding = nn.Embedding(self.n_chans, emb_size)
        self.register_buffer("positions", sinusoidal_positions(max(n_times, max_positions), emb_size))
        self.pos_drop = nn.Dropout(0.1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, emb_size))
        self.transformer = _transformer(emb_size, n_heads, depth, dropout)
        self.head = nn.Linear(emb_size, self.n_outputs)
        self.token_head = nn.Linear(emb_size, self.codebook_size)

    @torch.no_grad()
    def init_from_codebook(self, codebook):
        """Copy a tokenizer's codebook (K, emb_size) into the token embedding (mask row kept)."""
        codebook = torch.as_tensor(codebook, dtype=self.token_embedding.weight.dtype)
        if codebook.shape != (self.codebook_size, self.emb_size):
            raise ValueError(
                f"codebook of shape {tuple(codebook.shape)} does not fit the token embedding "
                f"({self.codebook_size}, {self.emb_size})."
            )
        self.token_embedding.weight[: self.codebook_size].copy_(codebook)

    def _encode(self, tokens, mask=None):
        b, c, t = tokens.shape
        if c != self.n_chans:
            raise ValueError(f"tokens have {c} channels, the model was built for n_chans={self.n_chans}.")
        if t > len(self.positions):
            raise ValueError(f"{t} tokens per channel exceed max_positions={len(self.positions)}.")
        if mask is not None:
            tokens = torch.where(mask, torch.full_like(tokens, self.mask_id), tokens)
        x = self.token_embedding(tokens)                                   # (B, C, T, E)
        x = x + self.channel_embedding.weight[None, :, None, :] + self.positions[None, None, :t]
        x = self.pos_drop(x).reshape(b, c * t, -1)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        return self.transformer(x)

    def forward(self, tokens):
        """Class logits.

        Parameters
        ----------
        tokens : torch.Tensor of int64, shape (batch, n_chans, n_tokens)

        Returns
        -------
        logits : torch.Tensor, shape (batch, n_outputs)
        """
        return self.head(self._encode(tokens)[:, 0])

    def masked_token_logits(self, tokens, mask):
        """Logits over the K token ids at every position, with ``mask`` positions hidden.

        Returns
        -------
        logits : torch.Tensor, shape (batch, n_chans * n_tokens, codebook_size)
        """
        return self.token_head(self._encode(tokens, mask)[:, 1:])

    def mtp_loss(self, tokens, p=0.5):
        """Masked-token loss: Bernoulli(p) mask and its complement, cross-entropy on the masked ids."""
        mask = torch.rand(tokens.shape) < p
        mask = mask.to(tokens.device)
        total, out = 0.0, {}
        for name, m in (("mtp", mask), ("mtp_sym", ~mask)):
            logits = self.masked_token_logits(tokens, m)
            flat = m.reshape(len(tokens), -1)
            if flat.any():
                ce = F.cross_entropy(logits[flat], tokens.reshape(len(tokens), -1)[flat])
            else:
                ce = logits.sum() * 0.0
            total = total + ce
            out[name] = ce.detach()
        return total, out


def _mtp_step(module, batch):
    return module.mtp_loss(batch[0])


def _make_classify_step(label_smoothing):
    def step(module, batch):
        tokens, y = batch
        logits = module(tokens)
        loss = F.cross_entropy(logits, y, label_smoothing=float(label_smoothing))
        acc = (logits.argmax(1) == y).float().mean()
        return loss, {"accuracy": acc.detach()}

    return step


class TFMTransformerClassifier(ClassifierMixin, BaseEstimator):
    """Frozen TFM tokenizer + :class:`TokenTransformer`, as a scikit-learn classifier.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the epochs (Hz); required.
    tokenizer : str | path-like | TFMTokenizer | None
        A tokenizer file (:func:`~brainpipe.models.tfm_tokenizer.save_tokenizer`),
        a trained :class:`~brainpipe.models.TFMTokenizer`, or None: train one
        on the epochs given to :meth:`fit` (training data only).
    tokenizer_params : dict | None
        :class:`~brainpipe.models.TFMTokenizer` arguments when training one.
    tokenizer_training : dict | None
        :class:`~brainpipe.models.train.Trainer` arguments when training one.
    emb_size, n_heads, depth, dropout
        :class:`TokenTransformer` size. ``emb_size`` equal to the tokenizer's
        initialises the token embedding from its codebook.
    pretrain_epochs : int
        Masked-token pretraining epochs before fine-tuning (0 skips it).
    max_epochs, batch_size, lr, weight_decay, optimizer, schedule, final_lr_ratio, val_fraction, patience
        Fine-tuning settings of the shared loop (:class:`~brainpipe.models.train.Trainer`).
    label_smoothing : float
        Of the cross-entropy (0.1 in the official fine-tuning).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    random_state : int
        Seed of every random choice (tokenizer and transformer training).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    tokenizer_ : TFMTokenizer
        The frozen tokenizer used.
    model_ : TokenTransformer
    history_ : list of dict
        Fine-tuning history of the shared loop.
    """

    def __init__(self, sfreq=None, tokenizer=None, tokenizer_params=None, tokenizer_training=None,
                 emb_size=64, n_heads=8, depth=4, dropout=0.2, pretrain_epochs=0, max_epochs=50,
                 batch_size=64, lr=1e-3, weight_decay=1e-5, optimizer="adamw", schedule="cosine",
                 final_lr_ratio=0.1, val_fraction=0.0, patience=None, label_smoothing=0.1,
                 device="auto", random_state=0):
        self.sfreq = sfreq
        self.tokenizer = tokenizer
        self.tokenizer_params = tokenizer_params
        self.tokenizer_training = tokenizer_training
        self.emb_size = emb_size
        self.n_heads = n_heads
        self.depth = depth
        self.dropout = dropout
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.schedule = schedule
        self.final_lr_ratio = final_lr_ratio
        self.val_fraction = val_fraction
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.device = device
        self.random_state = random_state

    # -- helpers ---------------------------------------------------------------

    def _sfreq(self):
        if self.sfreq is None:
            raise ValueError("TFMTransformerClassifier needs sfreq=... (the epochs' sampling frequency).")
        sfreq = float(self.sfreq)
        if not sfreq > 0:
            raise ValueError(f"sfreq must be > 0 Hz, got {self.sfreq!r}.")
        return sfreq

    def _check_X(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise ValueError(f"X must be epochs of shape (n_trials, n_chans, n_times), got shape {X.shape}.")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values.")
        return X

    def _get_tokenizer(self, X, sfreq):
        from .tfm_tokenizer import TFMTokenizer

        if self.tokenizer is None:
            tp = {"max_epochs": 10, "batch_size": 64, "val_fraction": 0.0, "progress": False,
                  "device": self.device}
            tp.update(self.tokenizer_training or {})
            tp["seed"] = self.random_state
            model, _ = train_tokenizer(X, sfreq, self.tokenizer_params, tp)
            return model
        if isinstance(self.tokenizer, TFMTokenizer):
            return self.tokenizer.eval()
        return load_tokenizer(self.tokenizer)

    def _trainer(self, max_epochs, desc):
        from .train import Trainer

        return Trainer(max_epochs=max_epochs, batch_size=self.batch_size, lr=self.lr,
                       weight_decay=self.weight_decay, optimizer=self.optimizer,
                       schedule=self.schedule, final_lr_ratio=self.final_lr_ratio,
                       val_fraction=self.val_fraction, patience=self.patience,
                       seed=self.random_state, device=self.device, progress=False, desc=desc)

    def transform_tokens(self, X):
        """Tokens of epochs with the fitted tokenizer.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)

        Returns
        -------
        tokens : ndarray of int64, shape (n_trials, n_chans, n_frames)
        """
        X = self._check_X(X)
        key = getattr(self, "_token_key_", None)
        if key is None:
            return tokenize_array(self.tokenizer_, X, self._sfreq())
        return _FILE_TOKENS.tokens(key, X, lambda Xm: tokenize_array(self.tokenizer_, Xm, self._sfreq()))

    # -- scikit-learn API ----------------------------------------------------------

    def fit(self, X, y):
        """Tokenize (training a tokenizer first when ``tokenizer=None``) and train the transformer.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
        y : array-like, shape (n_trials,)

        Returns
        -------
        self
        """
        from .train import resolve_device

        sfreq = self._sfreq()
        X = self._check_X(X)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} trials but y has {len(y)} labels.")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has one class ({self.classes_[0]!r}); a classifier needs two or more.")
        torch.manual_seed(int(self.random_state))
        self.tokenizer_ = self._get_tokenizer(X, sfreq).to(resolve_device(self.device))
        # a tokenizer file is frozen: its tokens are cached across folds (_FileTokenCache)
        self._token_key_ = (_FileTokenCache.key(self.tokenizer, sfreq)
                            if isinstance(self.tokenizer, (str, os.PathLike)) else None)
        for p in self.tokenizer_.parameters():
            p.requires_grad_(False)
        tokens = self.transform_tokens(X)
        self.n_chans_, self.n_tokens_ = tokens.shape[1], tokens.shape[2]
        torch.manual_seed(int(self.random_state))
        model = TokenTransformer(
            n_chans=self.n_chans_, n_outputs=len(self.classes_), n_times=self.n_tokens_,
            codebook_size=self.tokenizer_.codebook_size, sfreq=sfreq, emb_size=self.emb_size,
            n_heads=self.n_heads, depth=self.depth, dropout=self.dropout,
        )
        if int(self.emb_size) == self.tokenizer_.emb_size:
            model.init_from_codebook(self.tokenizer_.quantizer.codebook.detach().cpu())
        if self.pretrain_epochs:
            self._trainer(int(self.pretrain_epochs), "TFM masked-token pretraining").fit(
                model, _mtp_step, [tokens])
        result = self._trainer(int(self.max_epochs), "TFM transformer").fit(
            model, _make_classify_step(self.label_smoothing), [tokens, y_idx.astype(np.int64)])
        self.history_ = result.history
        self.model_ = model.eval()
        return self

    def decision_function(self, X):
        """Class logits, shape (n_trials, n_classes); for two classes, the logit
        difference of the second class over the first, shape (n_trials,)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), shape (n_trials, n_classes)."""
        logits = torch.from_numpy(self._logits(X))
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X):
        """Predicted labels, shape (n_trials,)."""
        return self.classes_[np.argmax(self._logits(X), axis=1)]

    def _logits(self, X):
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This TFMTransformerClassifier is not fitted yet; call fit first.")
        tokens = torch.from_numpy(self.transform_tokens(X))
        device = next(self.model_.parameters()).device
        out = []
        with torch.no_grad():
            for b0 in range(0, len(tokens), 512):
                out.append(self.model_(tokens[b0 : b0 + 512].to(device)).float().cpu())
        return torch.cat(out).numpy().astype(np.float64)
