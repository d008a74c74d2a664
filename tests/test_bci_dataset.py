"""BIDSMotorImagery through MOABB's real paradigm and evaluation code."""

import mne
import mne_bids
import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from moabb.datasets import FakeDataset
from moabb.evaluations import WithinSessionEvaluation
from moabb.paradigms import LeftRightImagery, MotorImagery

from brainpipe._check import BrainpipeInputError
from brainpipe.bci.dataset import BIDSMotorImagery, _moabb_keys, get_dataset, resolve_subject
from brainpipe.bci.pipelines import make_pipeline

@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # small matrices: threaded BLAS only adds overhead on the 2 shared cores
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def demo_fifs(tiny_demo, tmp_path_factory):
    """The demo's runs as derivative FIF files (the shape of our desc-preproc outputs)."""
    out = tmp_path_factory.mktemp("derivatives")
    files = []
    for path in mne_bids.find_matching_paths(tiny_demo, tasks="imagery", extensions=".vhdr"):
        raw = mne_bids.read_raw_bids(path, verbose="error")
        name = path.copy().update(description="preproc", extension=".fif", check=False).basename
        fname = out / f"sub-{path.subject}" / "eeg" / name
        fname.parent.mkdir(parents=True, exist_ok=True)
        raw.save(fname, verbose="error")
        files.append(fname)
    return files


def test_structure_and_moabb_paradigm(tiny_demo, tiny_demo_params):
    ds = BIDSMotorImagery(tiny_demo)
    assert ds.mode == "bids"
    assert ds.subject_list == [1, 2] and ds.subject_labels == {1: "01", 2: "02"}
    assert ds.n_sessions == 2 and ds.paradigm == "imagery" and ds.interval == [0.0, 4.0]
    data = ds.get_data([1])
    assert list(data[1]) == ["1", "2"] and list(data[1]["1"]) == ["1", "2"]
    raw = data[1]["2"]["1"]
    assert raw.info["sfreq"] == 250.0 and len(raw.ch_names) == 22 and "C3" in raw.ch_names
    assert set(raw.annotations.description) >= {"left_hand", "right_hand"}
    assert len(ds.data_path(1)) == 4 and len(ds.bids_paths("01")) == 4

    X, y, meta = LeftRightImagery().get_data(ds, [2])
    # 2 sessions x 2 runs x 2 classes x trials_per_class; 4 s at 250 Hz (MOABB keeps both ends)
    n_trials = 2 * 2 * 2 * tiny_demo_params["trials_per_class"]
    assert X.shape == (n_trials, 22, 1001)
    assert (y == "left_hand").sum() == (y == "right_hand").sum() == n_trials // 2
    assert set(meta["session"]) == {"1", "2"} and set(meta["run"]) == {"1", "2"}
    assert (meta["subject"] == 2).all()
    # MOABB scales volts to microvolts: EEG band-passed 8-32 Hz is a few µV
    assert 0.1 < X.std() < 100
    X2, _, _ = MotorImagery(n_classes=2).get_data(ds, [2])
    assert X2.shape == X.shape


def test_within_session_evaluation_decodes(tiny_demo, tmp_path):
    # sub-02 of the tiny demo has the clearer ERD (sub-01's second session is weak)
    ds = BIDSMotorImagery(tiny_demo, subjects=["02"])
    assert ds.subject_list == [2]
    evaluation = WithinSessionEvaluation(paradigm=LeftRightImagery(), datasets=[ds], n_splits=3,
                                         hdf5_path=tmp_path, overwrite=True, random_state=0)
    res = evaluation.process({"ts_svm": make_pipeline("ts_svm")})
    assert len(res) == 2  # one row per session
    assert res["score"].min() > 0.9  # ROC-AUC; chance is 0.5


def test_fakedataset_is_chance_control(tmp_path):
    # the same evaluation on MOABB's noise-only FakeDataset stays near chance, so
    # the score above is the simulated ERD, not a leak in the evaluation
    ds = FakeDataset(event_list=["left_hand", "right_hand"], n_subjects=1, n_sessions=2,
                     n_runs=1, n_events=30, duration=150, channels=("C3", "Cz", "C4"), seed=3)
    evaluation = WithinSessionEvaluation(paradigm=LeftRightImagery(), datasets=[ds], n_splits=3,
                                         hdf5_path=tmp_path, overwrite=True, random_state=0)
    res = evaluation.process({"ts_svm": make_pipeline("ts_svm")})
    assert len(res) == 2 and res["score"].mean() < 0.7


def test_fif_list_reads_like_bids(tiny_demo, demo_fifs, tiny_demo_params):
    from_bids = BIDSMotorImagery(tiny_demo)
    from_fif = BIDSMotorImagery(demo_fifs)
    assert from_fif.mode == "fif" and from_fif.subject_labels == from_bids.subject_labels
    X1, y1, m1 = LeftRightImagery().get_data(from_bids, [1])
    X2, y2, m2 = LeftRightImagery().get_data(from_fif, [1])
    np.testing.assert_allclose(X1, X2, rtol=1e-5, atol=1e-3)  # BrainVision stores float32
    np.testing.assert_array_equal(y1, y2)
    assert m1[["session", "run"]].equals(m2[["session", "run"]])
    assert from_fif.get_additional_metadata(1, "1", "1") is None
    table = from_bids.get_additional_metadata(1, "1", "1")
    assert len(table) == 2 * tiny_demo_params["trials_per_class"]
    assert set(table["trial_type"]) == {"left_hand", "right_hand"}
    with pytest.raises(RuntimeError, match="list of FIF files"):
        from_fif.bids_paths(1)


def test_subject_selection_and_mapping(tiny_demo):
    ds = BIDSMotorImagery(tiny_demo, subjects=[2])
    assert ds.subject_list == [2] and ds.all_subjects == [1, 2]
    assert ds.subject_label(2) == "02" and resolve_subject(ds, "01") == 1
    with pytest.raises(ValueError, match="Unknown subject '07'"):
        BIDSMotorImagery(tiny_demo, subjects=["07"])
    with pytest.raises(ValueError, match="Unknown subject number 9"):
        resolve_subject(ds, 9)
    fake = FakeDataset(n_subjects=3)
    assert resolve_subject(fake, "02") == 2
    with pytest.raises(ValueError, match="Unknown subject"):
        resolve_subject(fake, 4)


def test_moabb_keys():
    assert _moabb_keys(["1", "2"]) == {"1": "1", "2": "2"}
    assert _moabb_keys(["pre", "post"]) == {"post": "0post", "pre": "1pre"}
    assert _moabb_keys([None]) == {None: "0"}
    assert _moabb_keys([None, "0"]) == {"0": "1x0", None: "0"}
    assert _moabb_keys(["01", "1"]) == {"01": "0x01", "1": "1x1"}


def test_get_dataset(tiny_demo, demo_fifs):
    assert isinstance(get_dataset(tiny_demo), BIDSMotorImagery)
    assert get_dataset(str(tiny_demo), task="imagery").mode == "bids"
    assert get_dataset(demo_fifs[:2]).mode == "fif"
    fake = get_dataset("FakeDataset", n_subjects=2, event_list=["left_hand", "right_hand"])
    assert isinstance(fake, FakeDataset) and fake.subject_list == [1, 2]
    with pytest.raises(ValueError, match="neither an existing path nor a MOABB dataset"):
        get_dataset("NoSuchDataset2099")
    with pytest.raises(BrainpipeInputError, match="does not exist"):
        get_dataset("/no/such/bids_root")


def test_bad_inputs(tiny_demo, demo_fifs, tmp_path):
    with pytest.raises(BrainpipeInputError, match="no eeg recordings found for task 'rest'"):
        BIDSMotorImagery(tiny_demo, task="rest")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BrainpipeInputError, match="no eeg recordings"):
        BIDSMotorImagery(tmp_path / "empty")
    with pytest.raises(BrainpipeInputError, match="expected a .fif file"):
        BIDSMotorImagery([tiny_demo / "participants.tsv"])
    with pytest.raises(BrainpipeInputError, match="FIF recording does not exist"):
        BIDSMotorImagery([tmp_path / "sub-01_task-imagery_eeg.fif"])
    with pytest.raises(BrainpipeInputError, match="task 'imagery', expected 'rest'"):
        BIDSMotorImagery(demo_fifs[:1], task="rest")
    with pytest.raises(ValueError, match="empty list"):
        BIDSMotorImagery([])
    with pytest.raises(ValueError, match="integer codes"):
        BIDSMotorImagery(tiny_demo, events={"left_hand": 1.5})
    with pytest.raises(ValueError, match="distinct"):
        BIDSMotorImagery(tiny_demo, events={"left_hand": 1, "right_hand": 1})
    with pytest.raises(ValueError, match="tmax > tmin"):
        BIDSMotorImagery(tiny_demo, interval=(4, 0))
    assert BIDSMotorImagery(tiny_demo, events=["right_hand", "left_hand"]).event_id == {
        "right_hand": 1, "left_hand": 2}

    # a FIF file without a subject entity, and one whose cues are missing
    raw = mne.io.read_raw_fif(demo_fifs[0], verbose="error").load_data()
    nosub = tmp_path / "task-imagery_eeg.fif"
    raw.save(nosub, verbose="error")
    with pytest.raises(BrainpipeInputError, match="no sub-<label> entity"):
        BIDSMotorImagery([nosub])
    raw.set_annotations(mne.Annotations([1.0], [1.0], ["rest"]))
    nocue = tmp_path / "sub-09_ses-1_task-imagery_run-1_desc-preproc_eeg.fif"
    raw.save(nocue, verbose="error")
    ds = BIDSMotorImagery([nocue])
    with pytest.raises(BrainpipeInputError,
                       match=r"sub-09.*no cue among \['left_hand', 'right_hand'\]"):
        ds.get_data([9])
