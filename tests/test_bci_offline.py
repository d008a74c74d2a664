"""Offline evaluation with MOABB's real evaluations, and the files-to-files step."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from moabb.datasets import FakeDataset

from brainpipe.bci.metrics import itr
from brainpipe.bci.offline import (
    DEFAULT_CONFIG,
    add_itr,
    evaluate_offline,
    make_paradigm,
    moabb_folders,
    run_offline,
)
from brainpipe.bci.pipelines import make_pipeline
from brainpipe.report.fragments import read_fragment


def _fake(n_sessions=2, n_subjects=2, events=("left_hand", "right_hand")):
    return FakeDataset(event_list=list(events), n_subjects=n_subjects, n_sessions=n_sessions,
                       n_runs=1, n_events=20, duration=100, channels=("C3", "Cz", "C4"), seed=7)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # small matrices: threaded BLAS only adds overhead on the 2 shared cores
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_evaluate_offline_fakedataset(tmp_path, monkeypatch):
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "user_mne_data"))
    home_before = sorted(os.listdir(Path.home()))
    pipes = {"ts_svm": make_pipeline("ts_svm"), "mdm": make_pipeline("mdm")}
    res = evaluate_offline(_fake(), pipes, "left_right", evaluation=("within-session", "cross-session"),
                           hdf5_path=tmp_path / "h5", n_splits=3, random_state=1)
    # 2 subjects x 2 sessions x 2 pipelines x 2 evaluations
    assert len(res) == 16
    assert list(res.columns[:5]) == ["subject", "session", "evaluation", "pipeline", "score"]
    for col in ("score_roc_auc", "score_accuracy", "score_nmcc", "time", "n_samples",
                "n_samples_test", "n_channels", "n_classes", "dataset"):
        assert col in res
    assert set(res["evaluation"]) == {"within-session", "cross-session"} and set(res["subject"]) == {1, 2}
    assert res["score"].equals(res["score_roc_auc"])  # first score fills MOABB's column
    assert res["score"].between(0, 1).all() and res["score_nmcc"].between(0, 1).all()
    # cross-session trains on the other session (20 trials) and tests on 20
    cross = res[res["evaluation"] == "cross-session"]
    assert (cross["n_samples"] == 20).all() and (cross["n_samples_test"] == 20).all()
    # MOABB's cache went where we said; MNE_DATA is restored; the home is untouched
    assert list((tmp_path / "h5" / "results").rglob("results_brainpipe-*.hdf5"))
    assert os.environ["MNE_DATA"] == str(tmp_path / "user_mne_data")
    assert sorted(os.listdir(Path.home())) == home_before

    again = evaluate_offline(_fake(), pipes, "left_right", evaluation="cross-session", random_state=1)
    pd.testing.assert_series_equal(
        again["score"].reset_index(drop=True), cross["score"].reset_index(drop=True)
    )


def test_evaluate_offline_subject_selection_and_single_session(caplog):
    ds = _fake(n_sessions=1, n_subjects=3)
    res = evaluate_offline(ds, ["mdm"], {"name": "left_right", "scores": ["accuracy"]},
                           evaluation=("within-session", "cross-session"), subjects=["02"], n_splits=2)
    assert set(res["subject"]) == {2} and set(res["evaluation"]) == {"within-session"}
    assert "no cross-session evaluation" in caplog.text
    assert ds.subject_list == [1, 2, 3]  # the caller's dataset is not changed
    assert list(res.filter(like="score_").columns) == ["score_accuracy"]


def test_run_offline_demo(tiny_demo, tmp_path):
    out = tmp_path / "sub-02" / "eeg" / "sub-02_task-imagery_desc-offline_scores.tsv"
    fragment = out.with_name("sub-02_task-imagery_desc-offline_fragment.json")
    config = {
        "pipelines": {"csp_lda": {}, "ts_svm": {}, "acm_ts_svm": {"order": 3, "lag": 2}},
        "n_splits": 3,
    }
    res = run_offline(tiny_demo, "02", out, config=config, fragment=fragment, seed=0)
    table = pd.read_csv(out, sep="\t", dtype={"subject_label": str})
    assert len(table) == len(res) == 2 * 3 * 2  # sessions x pipelines x evaluations
    assert set(table["subject_label"]) == {"02"}
    assert "itr_bits_per_min" in table
    # simulated ERD: every pipeline well above chance (ROC-AUC 0.5), within and across sessions
    means = table.groupby(["evaluation", "pipeline"])["score"].mean()
    assert means.min() > 0.85, means
    assert means.loc["within-session"].min() > 0.9, means

    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert len(sidecar["Sources"]) == 4 and sidecar["PrimaryScore"] == "roc_auc"
    assert all(Path(p).exists() for p in sidecar["Sources"])
    assert sidecar["ACM"] == {"acm_ts_svm": {"order": 3, "lag": 2}}
    assert sidecar["SecondsPerDecision"] == pytest.approx(4.0)

    frag = read_fragment(fragment)
    assert frag["section"] == "Offline BCI"
    paths = [Path(i["path"]) for i in frag["items"] if "path" in i]
    assert {p.name for p in paths} == {
        "sub-02_task-imagery_desc-offline_scores.png",
        "sub-02_task-imagery_desc-offline_covariance.png",
        out.name,
    }
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    html = frag["items"][0]["html"]
    assert "acm_ts_svm: order 3, lag 2" in html and "ts_svm" in html


def test_add_itr():
    res = pd.DataFrame({"score_accuracy": [0.8, 0.5, 1.0], "n_classes": [2, 2, 2]})
    out = add_itr(res, 4.0)
    assert out["itr_bits_per_min"].tolist() == [itr(0.8, 2, 4.0), 0.0, 15.0]
    with pytest.raises(ValueError, match="score_accuracy"):
        add_itr(res.drop(columns="score_accuracy"), 4.0)


def test_moabb_folders_restores_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MNE_DATA", raising=False)
    with moabb_folders(tmp_path / "data") as (mne_data, hdf5):
        assert os.environ["MNE_DATA"] == mne_data and Path(hdf5).is_dir()
    assert "MNE_DATA" not in os.environ and not Path(hdf5).exists()


def test_old_evaluation_names_still_work():
    """A config written with the old offline names runs under the new ones, with a warning."""
    from brainpipe.bci.offline import _merge_config
    from brainpipe.bci.pseudo_online import resolve_config

    with pytest.warns(DeprecationWarning, match="old names"):
        cfg = _merge_config({"evaluations": ["within", "cross"]})
    assert cfg["evaluations"] == ["within-session", "cross-session"]
    with pytest.warns(DeprecationWarning, match="bci.pseudo_online.evaluations"):
        assert resolve_config({"evaluations": ["cross"]})["evaluations"] == ["cross-session"]
    # the MOABB evaluation itself: old name in, new label in the table
    with pytest.warns(DeprecationWarning, match="old names"):
        res = evaluate_offline(_fake(n_subjects=1), ["mdm"], {"name": "left_right", "scores": ["accuracy"]},
                               evaluation="cross", random_state=1)
    assert set(res["evaluation"]) == {"cross-session"} and len(res) == 2


def test_bad_inputs(tmp_path, tiny_demo):
    pipes = {"mdm": make_pipeline("mdm")}
    with pytest.raises(ValueError, match="'evaluation'"):
        evaluate_offline(_fake(), pipes, evaluation="bogus")
    with pytest.raises(ValueError, match="does not fit paradigm LeftRightImagery"):
        evaluate_offline(_fake(events=("fake1", "fake2")), pipes, "left_right")
    with pytest.raises(ValueError, match="Unknown subject"):
        evaluate_offline(_fake(), pipes, subjects=[5])
    with pytest.raises(ValueError, match="No pipeline configured"):
        evaluate_offline(_fake(), {}, n_splits=2)
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        evaluate_offline(_fake(), pipes, n_splits=1)
    with pytest.raises(ValueError, match="'name'"):
        make_paradigm("p300")
    with pytest.raises(ValueError, match="non-empty list"):
        make_paradigm(scores=[])
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['pipelnes'\]"):
        run_offline(tiny_demo, "01", tmp_path / "x_scores.tsv", config={"pipelnes": {}})
    with pytest.raises(ValueError, match="Unknown subject '07'"):
        run_offline(tiny_demo, "07", tmp_path / "x_scores.tsv")
    assert not list(tmp_path.glob("x_*"))  # nothing partial left behind
    assert DEFAULT_CONFIG["evaluations"] == ["within-session", "cross-session"]
