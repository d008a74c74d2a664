"""BrainMAE: masked autoencoding of fMRI ROI time series with region-aware attention.

Yang et al., "BrainMAE: a region-aware self-supervised learning framework for
brain signals" (arXiv 2406.17086). No public code exists; this is our reading
of the paper, and every choice the paper leaves open is a parameter (and a
config key under ``models.brainmae``). :class:`BrainMAE` is the
scikit-learn-style estimator; the parts live beside it and are re-exported
here: :mod:`~brainpipe.models.brainmae_data` (segments, windows, masks),
:mod:`~brainpipe.models.brainmae_module` (the network and its losses, with
the notes on what the paper fixes and what we chose),
:mod:`~brainpipe.models.brainmae_eval` (baselines, probes, similarity vs FC).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._check import check_positive_int
from .brainmae_data import n_masked, segment_length, segment_mask, segment_windows, standardize
from .brainmae_eval import baseline_predictions, masked_mse, probe_cv, similarity_vs_fc
from .brainmae_module import ENCODERS, BrainMAEModule, brainmae_step, masked_losses

__all__ = [
    "ENCODERS",
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
        return [standardize(x) if self.standardize else x.astype(np.float32) for x in series]

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
