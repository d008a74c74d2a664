"""Training checkpoints and per-epoch metrics of :class:`~brainpipe.models.train.Trainer`.

A checkpoint holds everything the loop needs to go on exactly where it
stopped (weights, optimiser and gradient-scaler state, the best weights so
far, the early-stopping counters and the history). It is written atomically
and read back with ``torch.load(weights_only=True)``: tensors, numbers and
strings only, no pickled code.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_checkpoint", "save_checkpoint", "write_history", "accumulate", "copy_state"]

_CHECKPOINT_VERSION = 1


def save_checkpoint(path, module, opt, scaler, epoch, best_val, best_state, bad, result, stopped):
    """Write the loop's whole state atomically (temp file, then rename)."""
    import torch

    from ..io.atomic import atomic_path

    state = {
        "version": _CHECKPOINT_VERSION,
        "model": module.state_dict(),
        "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": int(epoch),
        "best_val": float(best_val),
        "best_model": best_state if best_state is not None else module.state_dict(),
        "best_epoch": int(result.best_epoch),
        "bad_epochs": int(bad),
        "history": [dict(r) for r in result.history],
        "stopped": bool(stopped),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)

def load_checkpoint(path, map_location="cpu"):
    """Read a checkpoint with ``torch.load(weights_only=True)`` (no pickled code)."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a torn or foreign file: say which one
        raise ValueError(f"Cannot read the checkpoint {path}: {err}") from err
    if not isinstance(state, dict) or state.get("version") != _CHECKPOINT_VERSION:
        raise ValueError(f"{path} is not a brainpipe training checkpoint (version {_CHECKPOINT_VERSION}).")
    return state


def accumulate(sums, metrics, weight):
    """Add ``weight`` times each metric (tensor or float) to ``sums``."""
    for k, v in metrics.items():
        v = float(v.detach()) if hasattr(v, "detach") else float(v)
        sums[k] = sums.get(k, 0.0) + v * weight


def write_history(path, history):
    """Write the per-epoch metrics TSV atomically."""
    import pandas as pd

    from ..io.atomic import write_tsv

    write_tsv(path, pd.DataFrame(history))


def copy_state(state, into=None):
    """A detached copy of a state dict, written into ``into``'s tensors when given.

    Early stopping keeps the best weights after every improving epoch; for a
    model of millions of weights, copying into the same buffers costs a third
    of allocating fresh ones (no new pages to fault in).
    """
    if into is None or into.keys() != state.keys() or any(
        into[k].shape != v.shape or into[k].dtype != v.dtype or into[k].device != v.device for k, v in state.items()
    ):
        return {k: v.detach().clone() for k, v in state.items()}
    for k, v in state.items():
        into[k].copy_(v)
    return into
