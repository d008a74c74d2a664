"""EEG preprocessing with MNE (read BIDS, filter, re-reference, mark bad channels)."""

from .preprocess import preprocess_eeg_run, find_bad_channels

__all__ = ["preprocess_eeg_run", "find_bad_channels"]
