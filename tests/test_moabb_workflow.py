"""MOABB datasets by name in the workflow (issue 21), and downloads without internet.

``eeg.dataset: <MOABB class name>`` runs the offline and pseudo-online
evaluations through the same rules on MOABB's data. MOABB's ``FakeDataset``
goes through MOABB's real paradigm and evaluation code with no network; a
real dataset (``BNCI2014_001``) on a machine without internet must stop at
once with one line, as must ``brainpipe fetch-atlas``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _online(host="data.nemar.org"):
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _env(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", MNE_DATA=str(tmp_path / "mne_data"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    (tmp_path / "mne_data").mkdir(exist_ok=True)
    return env


def _user_config(tmp_path, dataset):
    return {
        "bids_root": str(tmp_path / "no_bids"),  # EEG from MOABB, no fMRI/T1: no BIDS root needed
        "results": str(tmp_path / "results"),
        "subjects": ["01"],
        "simulate": {"enabled": False},
        # FakeDataset's 3 random channels look "noisy" to the robust z-score
        "eeg": {"dataset": dataset, "preprocess": {"noisy_z": 100.0}},
        "fmri": {"enabled": False},
        "mri": {"enabled": False},
        "bci": {
            "offline": {"paradigm": {"name": "motor_imagery", "fmin": 8.0, "fmax": 32.0},
                        "pipelines": {"csp_lda": {}, "mdm": {}}},
            "pseudo_online": {"pipelines": {"mdm": {}}, "evaluations": ["within-session"], "smoothing": []},
        },
        "models": {"tfm": {"enabled": False}, "demovae": {"enabled": False}, "brainmae": {"enabled": False}},
    }


def _workdir(tmp_path):
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    shutil.copy(REPO / "config/config.yaml", work / "config/config.yaml")
    return work


@pytest.mark.skipif(_online(), reason="this machine reaches the internet: the offline case cannot be shown")
def test_moabb_dataset_offline_is_one_line(tmp_path):
    """`validate --configfile` with eeg.dataset BNCI2014_001 and no internet: one line, at once."""
    work = _workdir(tmp_path)
    cfg = tmp_path / "moabb.yaml"
    cfg.write_text(yaml.safe_dump(_user_config(tmp_path, "BNCI2014_001")))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "brainpipe.cli", "validate", str(tmp_path / "no_bids"),
                           "--configfile", str(cfg)], capture_output=True, text=True, cwd=work,
                          env=_env(tmp_path), timeout=300)
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "BNCI2014_001" in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not download" in errors[0] and "MNE_DATA" in errors[0] and "tried " in errors[0]
    assert took < 60, f"{took:.0f} s: retries were not cut short"


@pytest.mark.skipif(_online("raw.githubusercontent.com"), reason="this machine reaches the internet")
def test_fetch_atlas_offline_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "brainpipe.cli", "fetch-atlas", "--name", "schaefer",
                           "--maps", str(tmp_path / "a_dseg.nii.gz"), "--labels", str(tmp_path / "a.tsv"),
                           "--opts", f'{{"data_dir": "{tmp_path / "nilearn"}"}}'],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "nilearn atlas schaefer: could not download" in error[0]
    assert not (tmp_path / "a_dseg.nii.gz").exists()


def test_moabb_dataset_through_the_rules(tmp_path):
    """eeg.dataset: FakeDataset runs bci_offline and bci_pseudo_online on MOABB's data."""
    work = _workdir(tmp_path)
    cfg = tmp_path / "fake.yaml"
    cfg.write_text(yaml.safe_dump(_user_config(tmp_path, "FakeDataset")))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--cores", "1", "--configfile", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "preprocess_eeg" not in out  # MOABB's data, not the BIDS EEG
    eeg = tmp_path / "results/sub-01/eeg"
    offline = pd.read_csv(eeg / "sub-01_task-imagery_desc-offline_scores.tsv", sep="\t")
    assert set(offline["evaluation"]) == {"within-session", "cross-session"} and set(offline["pipeline"]) == {"csp_lda", "mdm"}
    assert offline["dataset"].str.startswith("FakeDataset").all()
    online = pd.read_csv(eeg / "sub-01_task-imagery_desc-pseudoonline_scores.tsv", sep="\t")
    assert {"pseudo-online", "offline"} <= set(online["mode"]) and len(online) >= 4
    assert (tmp_path / "results/sub-01/sub-01_report.html").is_file()
