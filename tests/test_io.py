"""Atomic writes, BIDS-derivatives names and up-front input checks."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainpipe._check import BrainpipeInputError, check_option
from brainpipe.io.atomic import (
    all_or_nothing,
    atomic_path,
    sidecar_path,
    write_json,
    write_sidecar,
    write_tsv,
)
from brainpipe.io.derivatives import EVALUATIONS, bids_name, evaluation_names, write_dataset_description
from brainpipe.io.validate import find_problems, validate_bids


def test_atomic_path_renames_on_success(tmp_path):
    out = tmp_path / "sub" / "a_desc-x_eeg.fif"
    with atomic_path(out) as tmp:
        assert tmp.name.endswith("a_desc-x_eeg.fif")  # writers checking names see the real ending
        assert tmp.parent == out.parent
        tmp.write_text("data")
        assert not out.exists()
    assert out.read_text() == "data"
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def test_atomic_path_removes_what_a_killed_attempt_left(tmp_path):
    """SIGKILL leaves the temporary file; the next write of the same file
    removes it and leaves other files' temporaries alone."""
    import subprocess
    import sys

    out = tmp_path / "sub-01_desc-psd_eeg.png"
    code = (
        "import os, signal, sys\n"
        "from brainpipe.io.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(out)])
    assert proc.returncode == -9
    left = list(tmp_path.glob(".tmp*"))
    assert len(left) == 1 and left[0].name.endswith(out.name)
    other = tmp_path / ".tmpabcdefgh.sub-02_desc-psd_eeg.png"  # another job's, still writing
    other.write_bytes(b"x")
    with atomic_path(out) as tmp:
        tmp.write_bytes(b"whole")
    assert out.read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.glob(".tmp*")) == [other.name]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "table.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_all_or_nothing_removes_the_step_outputs_on_error(tmp_path):
    old = tmp_path / "old_scores.tsv"
    old.write_text("kept")
    table, figure = tmp_path / "sub-01_scores.tsv", tmp_path / "sub-01_scores.png"
    with pytest.raises(RuntimeError):
        with all_or_nothing(table, figure, old, None):
            write_tsv(table, pd.DataFrame({"a": [1.0]}))
            write_sidecar(table, ["in.fif"])
            raise RuntimeError("the figure failed")
    # the table and its sidecar are gone; what existed before stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old_scores.tsv"]
    with all_or_nothing(table):
        write_tsv(table, pd.DataFrame({"a": [1.0]}))
    assert table.exists()


def test_write_tsv_and_sidecar(tmp_path):
    out = tmp_path / "sub-01_desc-x_timeseries.tsv"
    write_tsv(out, pd.DataFrame({"a": [1.0, np.nan]}))
    assert out.read_text().splitlines() == ["a", "1.0", "n/a"]
    write_sidecar(out, ["in.nii.gz"], Description="test", Value=np.float64(2.0))
    meta = json.loads(sidecar_path(out).read_text())
    assert sidecar_path(out).name == "sub-01_desc-x_timeseries.json"
    assert meta == {"Sources": ["in.nii.gz"], "Description": "test", "Value": 2.0}


def test_bids_name_orders_entities():
    name = bids_name("relmat", ".tsv", stat="pearsoncorrelation", atlas="demo100", task="rest", sub="01")
    assert name == "sub-01_task-rest_atlas-demo100_stat-pearsoncorrelation_relmat.tsv"
    assert bids_name("eeg", ".fif", sub="01", ses="1", run=2, desc="preproc", task="imagery") == (
        "sub-01_ses-1_task-imagery_run-2_desc-preproc_eeg.fif"
    )
    with pytest.raises(ValueError, match="Unknown BIDS entities"):
        bids_name("eeg", ".fif", subject="01")


def test_dataset_description(tmp_path):
    write_dataset_description(tmp_path, sources=["data/demo"])
    desc = json.loads((tmp_path / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "brainpipe"


def test_check_option_message():
    with pytest.raises(ValueError, match="Invalid value for the 'estimator' parameter.*got 'foo'"):
        check_option("estimator", "foo", ("scm", "oas"))


def test_evaluation_names_map_the_old_names_once_with_a_warning():
    assert EVALUATIONS == ("within-session", "cross-session")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names: no warning
        assert evaluation_names(["cross-session", "within-session"]) == ["cross-session", "within-session"]
        assert evaluation_names("within-session") == ["within-session"]
    with pytest.warns(DeprecationWarning, match=r"bci.offline.evaluations: \['within', 'cross'\] are the old "
                      r"names of \['within-session', 'cross-session'\]"):
        names = evaluation_names(["within", "cross", "within-session"], "bci.offline.evaluations")
    assert names == ["within-session", "cross-session"]  # each once, in order
    with pytest.raises(ValueError, match="'bci.pseudo_online.evaluations'.*got 'session'"):
        evaluation_names(["session"], "bci.pseudo_online.evaluations")
    with pytest.raises(TypeError, match="evaluations must be"):
        evaluation_names(None)
    notes = []  # the workflow's way: a note to print instead of a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluation_names(["cross"], "x", notes=notes) == ["cross-session"]
    assert len(notes) == 1 and notes[0].startswith("x: ['cross'] are the old names of ['cross-session']")


def test_old_evaluation_names_in_a_workflow_config(tmp_path):
    """An old-style config: `brainpipe validate` and the workflow read it in the new words."""
    import copy
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from brainpipe.io.validate import validate_config
    from brainpipe.io.validate.plan import bci_skips, normalise_evaluations, possible_evaluations

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / ".test/config/config.yaml").read_text())
    cfg["bci"]["offline"]["evaluations"] = ["within", "cross"]
    cfg["bci"]["pseudo_online"]["evaluations"] = ["within-session", "cross"]
    validate_config(copy.deepcopy(cfg))  # the old names are no problem
    one_session = {"ses-1_task-imagery": 2}
    assert possible_evaluations("offline", ["within", "cross"], one_session) == ["within-session"]
    assert bci_skips(cfg, "01", one_session) == [
        "bci.offline.evaluations ['cross-session'] skipped for sub-01 (cross-session needs 2 sessions; "
        "1 session(s), runs per session [2])",
        "bci.pseudo_online.evaluations ['cross-session'] skipped for sub-01 (cross-session needs 2 sessions; "
        "1 session(s), runs per session [2])"]
    old = copy.deepcopy(cfg)
    notes = normalise_evaluations(cfg)
    assert cfg["bci"]["offline"]["evaluations"] == ["within-session", "cross-session"]
    assert cfg["bci"]["pseudo_online"]["evaluations"] == ["within-session", "cross-session"]
    assert len(notes) == 2 and notes[1].startswith("bci.pseudo_online.evaluations: ['cross'] are the old names")
    assert normalise_evaluations(cfg) == []  # once normalised, nothing more to say
    # a name that is none of them is a config problem, named with its key
    bad = copy.deepcopy(cfg)
    bad["bci"]["offline"]["evaluations"] = ["session"]
    with pytest.raises(BrainpipeInputError, match=r"config bci.offline.evaluations: .*got 'session'"):
        validate_config(bad)
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    proc = subprocess.run([sys.executable, "-m", "brainpipe.cli", "validate", str(tmp_path), "--config-only",
                           "--configfile", str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "config: warning: bci.offline.evaluations: ['within', 'cross'] are the old names" in proc.stdout


def _bids(tmp_path, tr=2.0, shape=(4, 4, 4, 10), events=True, participants=True):
    root = tmp_path / "bids"
    (root / "sub-01/func").mkdir(parents=True)
    (root / "sub-01/ses-1/eeg").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10.0"}))
    if participants:
        pd.DataFrame({"participant_id": ["sub-01"], "age": [30], "sex": ["F"]}).to_csv(
            root / "participants.tsv", sep="\t", index=False
        )
    bold = root / "sub-01/func/sub-01_task-rest_bold.nii.gz"
    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.normal(size=shape).astype(np.float32), np.eye(4))
    if len(shape) == 4:
        img.header.set_zooms((1.0, 1.0, 1.0, tr or 1.0))  # the header's TR agrees with the sidecar
    nib.save(img, bold)
    sidecar = {"TaskName": "rest"}
    if tr is not None:
        sidecar["RepetitionTime"] = tr
    (root / "sub-01/func/sub-01_task-rest_bold.json").write_text(json.dumps(sidecar))
    # a real (tiny) BrainVision recording: validate reads headers and samples
    from pybv import write_brainvision

    write_brainvision(data=rng.normal(size=(4, 2500)) * 1e-5, sfreq=250.0, ch_names=["C3", "Cz", "C4", "Pz"],
                      fname_base="sub-01_ses-1_task-mi_eeg", folder_out=root / "sub-01/ses-1/eeg", unit="V")
    if events:
        pd.DataFrame({"onset": [1.0], "duration": [4.0], "trial_type": ["left_hand"]}).to_csv(
            root / "sub-01/ses-1/eeg/sub-01_ses-1_task-mi_events.tsv", sep="\t", index=False
        )
    return root


def test_validate_clean_dataset(tmp_path):
    root = _bids(tmp_path)
    assert find_problems(root) == []
    validate_bids(root)


@pytest.mark.parametrize(
    "kwargs, file_part, message",
    [
        ({"tr": None}, "_bold.nii.gz", "no RepetitionTime"),
        ({"shape": (4, 4, 4)}, "_bold.nii.gz", "expected a 4D NIfTI"),
        ({"events": False}, "_eeg.vhdr", "no events file"),
        ({"participants": False}, "participants.tsv", "missing"),
    ],
)
def test_validate_names_file_and_problem(tmp_path, kwargs, file_part, message):
    root = _bids(tmp_path, **kwargs)
    with pytest.raises(BrainpipeInputError, match=message) as err:
        validate_bids(root)
    assert file_part in str(err.value)


def test_validate_missing_root(tmp_path):
    assert "does not exist" in find_problems(tmp_path / "nope")[0]
