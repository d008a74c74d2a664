"""Kill and resume: a tiny workflow stopped by SIGKILL or SIGTERM, then rerun.

The run is restricted to one EEG subject (preprocessing of two runs, the
session's covariances, the report) so that it takes a couple of minutes.
After each interruption a plain ``snakemake`` must rebuild exactly what is
missing or stale: the results equal those of an uninterrupted run, a dry run
afterwards has nothing to do, and no temporary file is left.

The SIGTERM case is the one of issue 22: a rerun after a parameter change,
stopped while the changed jobs run. Snakemake deletes the outputs of a job it
starts and of a job that fails, and does not rebuild a missing intermediate
whose consumers look up to date; before the fragments became targets the
next run said "Nothing to be done" and the report kept the old results.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

COV = "sub-01/eeg/sub-01_ses-1_task-imagery_desc-cov_features.npz"
RUNS = [f"sub-01/eeg/sub-01_ses-1_task-imagery_run-{r}_desc-preproc_eeg.fif" for r in (1, 2)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from brainpipe.io.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("kill_resume") / "bids"
    return simulate_dataset(root, seed=0, n_subjects=2, n_eeg_subjects=1, n_sessions=1, n_runs=2,
                            trials_per_class=6, n_volumes=60, tr=2.0, progress=False)


def _config(root):
    cfg = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    cfg.update(bids_root=str(root), subjects=["01"])
    cfg["simulate"]["enabled"] = False
    for stage in ("fmri", "mri"):
        cfg[stage]["enabled"] = False
    for stage in ("offline", "pseudo_online"):
        cfg["bci"][stage]["enabled"] = False
    for model in (cfg.get("models") or {}).values():
        if isinstance(model, dict) and "enabled" in model:
            model["enabled"] = False
    return cfg


def _workdir(path, root, **edits):
    (path / "config").mkdir(parents=True)
    cfg = _config(root)
    cfg["eeg"]["covariance"].update(edits)
    (path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    return path


def _env():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                MPLBACKEND="Agg")


def _cmd(workdir, *args):
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--cores", "2", *args]


def _run(workdir, *args, timeout=600):
    proc = subprocess.run(_cmd(workdir, *args), capture_output=True, text=True, env=_env(), timeout=timeout,
                          cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _interrupt(workdir, sig, rule, delay, timeout=600):
    """Start snakemake in its own process group; signal the whole group once ``rule`` runs."""
    log = workdir / "interrupted.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(_cmd(workdir), stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=workdir,
                                start_new_session=True)
        t0 = time.monotonic()
        # the test config runs the per-subject rules over batches (preprocess_eeg_batch1, ...)
        while not re.search(rf"rule {rule}(_batch\d+)?:", log.read_text()):
            assert proc.poll() is None, f"snakemake ended before {rule} started:\n{log.read_text()[-3000:]}"
            assert time.monotonic() - t0 < timeout, f"{rule} never started"
            time.sleep(0.2)
        time.sleep(delay)
        os.killpg(proc.pid, sig)  # snakemake and its jobs, as Ctrl-C, timeout or scancel do
        proc.wait(timeout=120)
    assert proc.returncode != 0, "the interrupted run claims success"
    return log.read_text()


def _nothing_to_do(workdir):
    proc = _run(workdir, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def _no_temporaries(results):
    left = [p for p in results.rglob(".tmp*")]
    assert not left, f"temporary files left behind: {left}"


def _assert_same_results(res, ref):
    import mne

    for fif in RUNS:
        a = mne.io.read_raw_fif(res / fif, preload=True, verbose="error")
        b = mne.io.read_raw_fif(ref / fif, preload=True, verbose="error")
        np.testing.assert_array_equal(a.get_data(), b.get_data())
        events = fif.replace("_eeg.fif", "_events.tsv")
        assert (res / events).read_bytes() == (ref / events).read_bytes()
    with np.load(res / COV) as a, np.load(ref / COV) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    assert (res / "sub-01/sub-01_report.html").exists()


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    """An uninterrupted run (estimator oas)."""
    work = _workdir(tmp_path_factory.mktemp("reference"), dataset)
    _run(work)
    return work / "results"


def test_sigkill_then_resume_equals_uninterrupted(dataset, reference, tmp_path):
    work = _workdir(tmp_path / "work", dataset)
    _interrupt(work, signal.SIGKILL, "preprocess_eeg", delay=3.0)
    assert not (work / "results" / COV).exists()
    _run(work, "--unlock")  # a killed snakemake cannot remove its lock: the user's one extra step
    _run(work)
    _assert_same_results(work / "results", reference)
    _nothing_to_do(work)
    _no_temporaries(work / "results")


def test_sigterm_during_rerun_after_parameter_change(dataset, reference, tmp_path):
    from brainpipe.eeg.epochs import session_covariances

    work = _workdir(tmp_path / "work", dataset)
    _run(work)
    report = work / "results/sub-01/sub-01_report.html"
    before = report.stat().st_mtime
    # the user changes the estimator; the rerun is stopped while the covariances are computed
    cfg = yaml.safe_load((work / "config/config.yaml").read_text())
    cfg["eeg"]["covariance"]["estimator"] = "lwf"
    (work / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    _interrupt(work, signal.SIGTERM, "eeg_covariances", delay=1.0)
    _no_temporaries(work / "results")
    # the next run must see what is missing or stale and rebuild it
    proc = _run(work)
    assert "eeg_covariances" in proc.stdout + proc.stderr and "rule report_eeg:" in proc.stdout + proc.stderr
    res = work / "results"
    meta = json.loads((res / COV.replace(".npz", ".json")).read_text())
    assert meta["Estimator"] == "lwf"
    covs, _ = session_covariances([res / f for f in RUNS], tmp_path / "direct_features.npz", estimator="lwf",
                                  **{k: v for k, v in _config(dataset)["eeg"]["epochs"].items()})
    with np.load(res / COV) as got:
        np.testing.assert_array_equal(got["covs"], covs)
    assert report.stat().st_mtime > before
    _nothing_to_do(work)
    # and the preprocessed runs, untouched by the change, equal the reference
    for fif in RUNS:
        events = fif.replace("_eeg.fif", "_events.tsv")
        assert pd.read_csv(res / events, sep="\t").equals(pd.read_csv(reference / events, sep="\t"))
