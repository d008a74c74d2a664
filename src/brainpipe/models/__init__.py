"""Deep models and the training loop they share.

- :class:`DemoVAE`: demographic-conditioned autoencoder of FC (Orlichenko et al. 2024).
- :class:`BrainMAE`: masked autoencoder of fMRI ROI time series (Yang et al. 2024).
- :class:`TFMTokenizer`: time-frequency motif tokenizer of single-channel EEG
  (Pradeepkumar et al. 2025); :class:`TokenTransformer` and the scikit-learn
  :class:`TFMTransformerClassifier` on its tokens.
- :class:`Trainer`: the one training loop (seeded, early stopping,
  atomic checkpoints that resume exactly, per-epoch TSV).

Names are imported lazily so ``import brainpipe.models`` stays cheap.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "Trainer": ".train",
    "TrainResult": ".train",
    "resolve_device": ".train",
    "load_checkpoint": ".train",
    "DemoVAE": ".demovae",
    "BrainMAE": ".brainmae",
    "TFMTokenizer": ".tfm_tokenizer",
    "TokenTransformer": ".tfm_transformer",
    "TFMTransformerClassifier": ".tfm_transformer",
    "load_tokenizer": ".tfm_tokenizer",
    "save_tokenizer": ".tfm_tokenizer",
    "train_tokenizer": ".tfm_tokenizer",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
