"""Training the TFM tokenizer on windows, its files, and tokenizing arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .tfm_objective import tokenizer_step

__all__ = ["load_tokenizer", "save_tokenizer", "tokenize_array", "train_tokenizer"]

_FORMAT = "brainpipe-tfm-tokenizer"
_FORMAT_VERSION = 1



def train_tokenizer(X, sfreq, model_params=None, trainer_params=None, init_bias=True):
    """Train a tokenizer on single-channel signals with the shared loop.

    Parameters
    ----------
    X : ndarray, shape (n_signals, n_times) or (n_epochs, n_chans, n_times)
        Windows or epochs; every channel becomes one training row (the model
        is single-channel).
    sfreq : float
        Sampling frequency of ``X``.
    model_params : dict | None
        :class:`TFMTokenizer` arguments (``sfreq`` and ``n_times`` are set here).
    trainer_params : dict | None
        :class:`~brainpipe.models.train.Trainer` arguments.
    init_bias : bool
        Start the decoder's output bias at the mean training spectrum
        (:meth:`TFMTokenizer.init_decoder_bias`); False keeps the official
        zero-mean start.

    Returns
    -------
    model : TFMTokenizer
        Trained, in eval mode, on the CPU.
    result : brainpipe.models.train.TrainResult
    """
    from .tfm_tokenizer import TFMTokenizer
    from .train import Trainer

    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X.reshape(-1, X.shape[-1])
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X must be (n_signals, n_times) or (n_epochs, n_chans, n_times) "
                         f"with >= 2 signals, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values.")
    params = dict(model_params or {})
    params.update(sfreq=float(sfreq), n_times=int(X.shape[-1]), n_chans=1)
    tp = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-5, "desc": "TFM tokenizer"}
    tp.update(trainer_params or {})
    torch.manual_seed(int(tp.get("seed", 0)))  # the initial weights come from the seed too
    model = TFMTokenizer(**params)
    if init_bias:
        model.init_decoder_bias(X[:, None, :])
    result = Trainer(**tp).fit(model, tokenizer_step, [X[:, None, :]])
    return model.cpu().eval(), result


def save_tokenizer(model, path, **extra):
    """Write a tokenizer (constructor arguments + weights) atomically.

    The file is read back by :func:`load_tokenizer` with
    ``torch.load(weights_only=True)``; ``extra`` (JSON-like values: numbers,
    strings, lists, dicts) is stored beside it.
    """
    from ..io.atomic import atomic_path

    state = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "config": model.get_config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_tokenizer(path, map_location="cpu", return_extra=False):
    """Read a tokenizer written by :func:`save_tokenizer` (weights only, no pickled code).

    Returns
    -------
    model : TFMTokenizer
        In eval mode.
    extra : dict
        Only with ``return_extra=True``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"TFM tokenizer file {path} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"Cannot read the TFM tokenizer file {path}: {err}") from err
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a brainpipe TFM tokenizer file (format {_FORMAT!r}).")
    from .tfm_tokenizer import TFMTokenizer

    model = TFMTokenizer(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return (model, state.get("extra", {})) if return_extra else model


def tokenize_array(model, X, sfreq=None, batch_size=256, device=None):
    """Tokens of epochs as a numpy array, without gradients.

    Parameters
    ----------
    model : TFMTokenizer
    X : ndarray, shape (n_epochs, n_chans, n_times)
    sfreq : float | None
        Sampling frequency of ``X`` (default the model's).
    batch_size : int
        Epochs per forward.

    Returns
    -------
    tokens : ndarray of int64, shape (n_epochs, n_chans, n_frames)
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"X must be (n_epochs, n_chans, n_times), got shape {X.shape}.")
    device = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for b0 in range(0, len(X), int(batch_size)):
            xb = torch.from_numpy(X[b0 : b0 + int(batch_size)]).to(device)
            out.append(model(xb, sfreq=sfreq).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, X.shape[1], 0), dtype=np.int64)
