"""Shared fixtures: a tiny simulated demo BIDS dataset, written once per session.

``tiny_demo`` is the path of a dataset written by
:func:`brainpipe.io.simulate.simulate_dataset` with ``TINY_DEMO_PARAMS``:
8 subjects with T1w and resting-state fMRI (60 volumes, TR 2 s), of whom 2
have motor-imagery EEG (2 sessions x 2 runs x 15 cues per class). Treat it as
read-only: copy it (``shutil.copytree``) before changing anything.
"""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")

# Keep any MNE/MOABB downloads or configuration out of the user's home.
os.environ.setdefault("MNE_DONTWRITE_HOME", "true")

#: Parameters of the ``tiny_demo`` dataset (keyword arguments of simulate_dataset).
TINY_DEMO_PARAMS = {
    "seed": 0,
    "n_subjects": 8,
    "n_eeg_subjects": 2,
    "n_sessions": 2,
    "n_runs": 2,
    "trials_per_class": 15,
    "n_volumes": 60,
    "tr": 2.0,
}


@pytest.fixture(scope="session")
def tiny_demo_params():
    """The keyword arguments ``tiny_demo`` was simulated with (a fresh copy)."""
    return dict(TINY_DEMO_PARAMS)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory, tiny_demo_params):
    """Path of the tiny demo BIDS dataset (simulated once per test session)."""
    from brainpipe.io.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("tiny_demo") / "bids"
    return simulate_dataset(root, **tiny_demo_params)
