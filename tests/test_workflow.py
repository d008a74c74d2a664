"""End-to-end: the real Snakemake workflow on the tiny demo (.test/config).

Runs `snakemake --cores 2` in a temporary working directory, then checks that
every expected output exists and is valid, that a second dry run has nothing
to do, and that `snakemake --lint` is clean.
"""

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake as _snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workflow_run(tiny_workflow):
    # one run per test session, shared with tests/test_browser.py (conftest.py)
    return tiny_workflow


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1


def test_one_report_per_subject_with_images(workflow_run):
    res = workflow_run / "results"
    reports = sorted(res.glob("sub-*/sub-*_report.html"))
    assert [r.parent.name for r in reports] == [f"sub-{i:02d}" for i in range(1, 9)]
    for report in reports:
        parser = _Html()
        parser.feed(report.read_text())
        assert parser.tags.get("html") == 1 and parser.tags.get("img", 0) >= 2, report
    eeg_report = (res / "sub-01/sub-01_report.html").read_text()
    for section in ("EEG", "EEG features", "fMRI", "Structural MRI"):
        assert section in eeg_report


def test_derivatives_description(workflow_run):
    desc = json.loads((workflow_run / "results/dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "brainpipe"


def test_fc_matrices_valid(workflow_run):
    func = workflow_run / "results/sub-03/func"
    corr = pd.read_csv(next(func.glob("*_stat-pearsoncorrelation_relmat.tsv")), sep="\t", index_col=0)
    assert corr.shape[0] == corr.shape[1] > 10
    np.testing.assert_allclose(corr.values, corr.values.T, atol=1e-10)
    np.testing.assert_allclose(np.diag(corr.values), 1.0, atol=1e-10)
    assert list(corr.index) == list(corr.columns)
    assert next(func.glob("*_stat-partialcorrelation_relmat.tsv")).exists()
    assert next(func.glob("*_stat-tangent_relmat.tsv")).exists()


def test_eeg_outputs_load_in_mne(workflow_run):
    import mne

    fifs = sorted((workflow_run / "results/sub-01/eeg").glob("*_desc-preproc_eeg.fif"))
    assert len(fifs) == 4  # 2 sessions x 2 runs
    raw = mne.io.read_raw_fif(fifs[0], verbose="error")
    assert len(raw.ch_names) >= 16 and raw.annotations is not None
    assert {"left_hand", "right_hand"} <= set(raw.annotations.description)
    covs = np.load(next((workflow_run / "results/sub-01/eeg").glob("*ses-1*_desc-cov_features.npz")))
    assert covs["covs"].shape[1:] == (len(raw.ch_names),) * 2
    assert np.all(np.linalg.eigvalsh(covs["covs"]) > 0)


def test_mri_metrics(workflow_run):
    iqms = pd.read_csv(workflow_run / "results/sub-01/anat/sub-01_desc-iqms_T1w.tsv", sep="\t")
    for col in ("snr", "cnr", "efc", "fber"):
        assert any(c.startswith(col) for c in iqms.columns), col


def test_nothing_left_to_do_and_lint(workflow_run):
    dry = _snakemake(workflow_run, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = _snakemake(workflow_run, "--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Congratulations" in lint.stdout + lint.stderr


def test_every_file_a_rule_writes_is_declared(workflow_run):
    """Snakemake knows every file the jobs wrote under results/ (sidecars, timings, figures
    included): none is left out of a rule's output:, so none is missed by --delete-all-output or
    left stale. (The simulated input dataset is written whole by one job, through a folder
    swapped into place; it declares the files later rules read.)"""
    proc = _snakemake(workflow_run, "--summary", "--cores", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    declared = {line.split("\t")[0] for line in proc.stdout.splitlines()[1:] if line.strip()}
    written = {p.relative_to(workflow_run).as_posix() for p in (workflow_run / "results").rglob("*")
               if p.is_file()}
    assert len(declared & written) > 100
    # the rules' log: and benchmark: files are Snakemake's own, and so is the
    # `snakemake --report` page test_browser writes into the same run; the models' resume
    # checkpoints (a params: folder) must outlive a killed job, whose declared outputs
    # Snakemake deletes
    own = ("results/logs/", "results/benchmarks/", "results/.checkpoints/", "results/snakemake_report.html")
    undeclared = sorted(p for p in written - declared if not p.startswith(own))
    assert not undeclared, undeclared


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("eeg", "preprocess", "l_frq", 1.0), "l_frq"),
        (("eeg", "covariance", "estimator", "bogus"), "bogus"),
    ],
)
def test_invalid_config_fails_at_start(tmp_path, edit, expected):
    import yaml

    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    node = config
    for key in edit[:-2]:
        node = node[key]
    node[edit[-2]] = edit[-1]
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(tmp_path, "-n", "--cores", "1", timeout=120)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_bci_outputs(workflow_run):
    res = workflow_run / "results"
    offline = pd.read_csv(res / "sub-01/eeg/sub-01_task-imagery_desc-offline_scores.tsv", sep="\t")
    assert {"acm_ts_svm", "ts_svm", "acm_search_svm"} <= set(offline["pipeline"])
    online = pd.read_csv(res / "sub-01/eeg/sub-01_task-imagery_desc-pseudoonline_scores.tsv", sep="\t")
    assert {"offline", "pseudo-online"} == set(online["mode"])
    # the fast ACM search runs in both evaluations
    assert "acm_search_svm" in set(online["pipeline"])
    assert online["nmcc"].between(0, 1).all()
    group = (res / "group/group_report.html").read_text()
    assert "Pseudo-online" in group
    report = (res / "sub-01/sub-01_report.html").read_text()
    assert "Offline BCI" in report and "Pseudo-online BCI" in report


def test_fmri_network_outputs(workflow_run):
    res = workflow_run / "results"
    nodes = pd.read_csv(res / "sub-02/func/sub-02_task-rest_atlas-demo100_desc-graph_nodes.tsv", sep="\t")
    assert len(nodes) > 10 and (nodes.select_dtypes("number") >= 0).all().all()
    metrics = pd.read_csv(res / "group/func/task-rest_atlas-demo100_desc-dfc_metrics.tsv", sep="\t")
    assert len(metrics) == 8
    scores = pd.read_csv(res / "group/func/task-rest_atlas-demo100_desc-prediction_scores.tsv", sep="\t")
    assert {"age", "sex"} <= set(scores["target"])
    group = (res / "group/group_report.html").read_text()
    assert "fMRI group" in group


def test_session_level_bids_layout_is_discovered(tmp_path):
    # sub-XX/ses-YY/func and ses-YY/anat, as many real datasets: the dry run
    # plans the fMRI and MRI steps on the first session's files, with the
    # confounds looked up in the same session folder
    import yaml

    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    bids = tmp_path / "bids"
    config.update(bids_root=str(bids))
    config["simulate"]["enabled"] = False
    config["eeg"]["enabled"] = False
    config["fmri"]["confounds"]["root"] = str(tmp_path / "confounds")
    for key, name in (("maps", "atlas_dseg.nii.gz"), ("labels", "atlas_dseg.tsv")):
        (tmp_path / name).touch()
        config["fmri"]["atlas"][key] = str(tmp_path / name)
    for ses in ("1", "2"):
        func = bids / f"sub-07/ses-{ses}/func"
        func.mkdir(parents=True)
        (func / f"sub-07_ses-{ses}_task-rest_bold.nii.gz").touch()
        conf = tmp_path / f"confounds/sub-07/ses-{ses}/func"
        conf.mkdir(parents=True)
        (conf / f"sub-07_ses-{ses}_task-rest_desc-confounds_timeseries.tsv").touch()
    (bids / "sub-07/ses-1/anat").mkdir()
    (bids / "sub-07/ses-1/anat/sub-07_ses-1_T1w.nii.gz").touch()
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--printshellcmds", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "sub-07/ses-1/func/sub-07_ses-1_task-rest_bold.nii.gz" in out
    assert "confounds/sub-07/ses-1/func/sub-07_ses-1_task-rest_desc-confounds" in out
    assert "sub-07/ses-1/anat/sub-07_ses-1_T1w.nii.gz" in out
    # the second session's BOLD is not planned; the start says it is left out
    assert all("is the BOLD run used for sub-07" in line for line in out.splitlines() if "ses-2_task-rest_bold" in line)


def test_harmonized_scores_say_they_are_by_construction(workflow_run):
    """The group report warns, beside the numbers, that DemoVAE's harmonized FC
    carries the demographics its decoder was given (age and sex score near 1)."""
    group = (workflow_run / "results/group/group_report.html").read_text()
    assert "the harmonized FC carries these by construction" in group
    assert "own age, sex (only site set to the reference)" in group
    assert "high by construction, not evidence of kept signal" in group
