"""--configfile semantics: mappings merge, except `pipelines:`, which replaces the default whole."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from brainpipe.io.validate import merge_config, replace_whole_mappings

REPO = Path(__file__).resolve().parents[1]


def test_merge_keeps_other_keys_but_replaces_pipelines():
    base = {"bci": {"offline": {"enabled": True, "n_splits": 5, "pipelines": {"csp_lda": {}, "mdm": {}}}}}
    user = {"bci": {"offline": {"n_splits": 3, "pipelines": {"ts_svm": {"C": 2.0}}}}}
    out = merge_config(base, user)
    assert out["bci"]["offline"] == {"enabled": True, "n_splits": 3, "pipelines": {"ts_svm": {"C": 2.0}}}
    # what Snakemake merged (pipelines key by key) is corrected the same way
    snakemake_merged = {"bci": {"offline": {"enabled": True, "n_splits": 3,
                                            "pipelines": {"csp_lda": {}, "mdm": {}, "ts_svm": {"C": 2.0}}}}}
    assert replace_whole_mappings(snakemake_merged, [user]) == out


def test_old_evaluation_names_in_a_users_config(tmp_path):
    """bci.*.evaluations written with the old names (within, cross): the schema takes them, the
    workflow says so once at start and hands the steps the new names (their score tables' labels)."""
    user = tmp_path / "old.yaml"
    user.write_text(yaml.safe_dump({"bci": {"offline": {"evaluations": ["within", "cross"]},
                                            "pseudo_online": {"evaluations": ["cross"]}}}))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
         "-p", "--configfile", str(REPO / ".test/config/config.yaml"), str(user)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    notes = [ln for ln in out.splitlines() if "are the old names of" in ln]
    assert len(notes) == 2 and "bci.offline.evaluations: ['within', 'cross']" in notes[0], notes
    for step, wanted in (("bci-offline", ["within-session", "cross-session"]), ("bci-pseudo-online", ["cross-session"])):
        lines = [ln for ln in out.splitlines() if f"brainpipe {step} " in ln]
        assert lines, step
        assert all(json.loads(ln.split("--opts '")[1].split("'")[0])["evaluations"] == wanted for ln in lines)


def test_workflow_runs_only_the_users_pipelines(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"bci": {"offline": {"pipelines": {"csp_lda": {}}}}}))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
         "-p", "--configfile", str(REPO / ".test/config/config.yaml"), str(user)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "brainpipe bci-offline" in ln]
    assert lines
    opts = json.loads(lines[0].split("--opts '")[1].split("'")[0])
    assert opts["pipelines"] == {"csp_lda": {}}
