"""Simulated demo BIDS dataset: motor-imagery EEG, resting-state fMRI, T1w.

``simulate_dataset(output, seed)`` writes the embedded default dataset of the
workflow (``brainpipe simulate --output DIR --seed N``). The modules hold the
generative models, each usable on its own:

- :mod:`.eeg`: continuous motor-imagery runs with event-related desynchronisation;
- :mod:`.fmri`: network-model ROI signals, voxels, head motion, confounds;
- :mod:`.anat`: T1w with bias field, noise and motion ghosting;
- :mod:`.atlas`: the 100-parcel demo atlas the fMRI is generated on;
- :mod:`.participants`: demographics and per-subject ground truth;
- :mod:`.dataset`: the BIDS writer.
"""

from .atlas import load_atlas
from .dataset import is_demo_dataset, simulate_dataset

__all__ = ["simulate_dataset", "is_demo_dataset", "load_atlas"]
