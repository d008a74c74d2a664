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


def run_snakemake(workdir, *args, timeout=1500):
    """Run this repository's Snakefile in ``workdir`` (a subprocess; returns it done)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory):
    """Working directory of one run of the tiny workflow (.test/config), shared by
    the tests that read its outputs (test_workflow, test_browser): read-only.

    ``BRAINPIPE_TINY_WORKFLOW=DIR`` reuses a finished run in DIR (a working
    directory of the same config) instead, to iterate on those tests.
    """
    import shutil
    from pathlib import Path

    if os.environ.get("BRAINPIPE_TINY_WORKFLOW"):
        return Path(os.environ["BRAINPIPE_TINY_WORKFLOW"])
    repo = Path(__file__).resolve().parents[1]
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config").mkdir()
    shutil.copy(repo / ".test/config/config.yaml", workdir / "config/config.yaml")
    proc = run_snakemake(workdir, "--cores", "2")
    if proc.returncode != 0:
        pytest.fail(f"snakemake failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return workdir
