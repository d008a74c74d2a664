"""What :meth:`brainpipe.models.train.Trainer.fit` returns: the run's history and outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``train_loss``, ``val_loss`` (NaN without
        validation), ``lr``, the step function's metrics, ``seconds``.
    best_epoch : int
        Epoch whose weights were kept (0-based).
    stopped_early : bool
        Whether early stopping ended training before ``max_epochs``.
    resumed_from : int or None
        Epoch count of the checkpoint the run resumed from.
    device : str
        Where it trained.
    """

    history: list = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    resumed_from: int | None = None
    device: str = "cpu"

    def to_frame(self):
        """The history as a pandas DataFrame (one row per epoch)."""
        import pandas as pd

        return pd.DataFrame(self.history)
