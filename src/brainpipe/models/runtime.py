"""Where and how a model trains: device choice, seeds, mixed precision."""

from __future__ import annotations

import numpy as np

__all__ = ["resolve_device", "seed_everything", "epoch_seed", "autocast_mode"]


def resolve_device(device="auto"):
    """A ``torch.device`` for ``device`` (``"auto"``: CUDA if available, else CPU)."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device.")
    return dev


def seed_everything(seed):
    """Seed torch (CPU and CUDA) and numpy's legacy global generator."""
    import torch

    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def epoch_seed(seed, epoch):
    """The seed of one epoch: a fixed, well-spread integer per ``(seed, epoch)``."""
    # a fixed, well-spread integer per (seed, epoch); independent of resumption
    return (int(seed) * 1_000_003 + 7_919 * (int(epoch) + 1)) % (2**63 - 1)

def autocast_mode(amp, device):
    """``(enabled, dtype)`` of the autocast context for ``amp`` on ``device``."""
    import torch

    if amp not in (True, False, "cuda", "all"):
        raise ValueError(f"amp must be True, False, 'cuda' or 'all', got {amp!r}.")
    if device.type == "cuda" and amp:
        return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and amp == "all" and torch.backends.mkldnn.is_available():
        # oneDNN's own test: bfloat16 matmuls run natively (AVX512-BF16/AMX), not emulated
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return True, torch.bfloat16
    return False, torch.float32
