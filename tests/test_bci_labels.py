"""Window and idle labels of continuous runs, on hand-made event tables."""

import numpy as np
import pandas as pd
import pytest

from brainpipe.bci.labels import (
    IDLE,
    add_idle_events,
    sample_labels,
    task_periods,
    window_coverage,
    window_labels,
)

SF = 10.0  # 10 Hz: one sample = 0.1 s keeps hand counting easy


def _events(rows):
    return pd.DataFrame(rows, columns=["onset", "duration", "trial_type"])


def test_idle_events_tile_the_run():
    ev = _events([(2.0, 4.0, "left"), (10.0, 4.0, "right")])
    tiled = add_idle_events(ev, 20.0)
    assert tiled.values.tolist() == [
        [0.0, 2.0, IDLE],  # before the first cue
        [2.0, 4.0, "left"],
        [6.0, 4.0, IDLE],  # after the task until the next cue
        [10.0, 4.0, "right"],
        [14.0, 6.0, IDLE],  # end of the run
    ]
    assert np.isclose(tiled["duration"].sum(), 20.0)


def test_tmin_tmax_override_durations_and_clip_to_run():
    # BNCI style: zero-duration stim cues, task = cue + [0.5, 2.5)
    ev = _events([(1.0, 0.0, "a"), (9.0, 0.0, "b")])
    tiled = add_idle_events(ev, 10.0, tmin=0.5, tmax=2.5)
    assert tiled.values.tolist() == [
        [0.0, 1.5, IDLE],
        [1.5, 2.0, "a"],
        [3.5, 6.0, IDLE],
        [9.5, 0.5, "b"],  # clipped at the run end
    ]
    with pytest.raises(ValueError, match="need tmax"):
        task_periods(ev, 10.0)


def test_overlapping_cues_later_cue_cuts_earlier():
    # MOABB FakeDataset-like: 3 s tasks every 2 s
    ev = _events([(0.0, 3.0, "a"), (2.0, 3.0, "b"), (2.0, 3.0, "c"), (6.0, 1.0, "a")])
    per = task_periods(ev, 10.0)
    # same start: the cue listed last ("c") wins; "a" is cut at 2.0
    assert per.values.tolist() == [[0.0, 2.0, "a"], [2.0, 3.0, "c"], [6.0, 1.0, "a"]]
    codes, names = sample_labels(ev, 100, SF)
    assert names == (IDLE, "a", "b", "c")
    assert (codes[:20] == 1).all() and (codes[20:50] == 3).all()
    assert (codes[50:60] == 0).all() and (codes[60:70] == 1).all() and (codes[70:] == 0).all()


def test_boundary_windows_paper_rule_and_ties():
    # task "a" on samples [20, 60); windows of 10 samples
    ev = _events([(2.0, 4.0, "a")])
    starts = np.array([10, 14, 15, 16, 20, 50, 54, 55, 56, 60])
    lab = window_labels(ev, starts, 10, 100, SF)
    # start 15: 5 idle then 5 task, tie -> the next event (task)
    # start 55: 5 task then 5 idle, tie -> the next event (idle)
    assert lab.tolist() == [
        IDLE, IDLE, "a", "a", "a", "a", "a", IDLE, IDLE, IDLE,
    ]
    plural = window_labels(ev, starts, 10, 100, SF, min_overlap=None)
    assert plural.tolist() == lab.tolist()
    # a stricter threshold needs 8 of 10 samples
    strict = window_labels(ev, starts, 10, 100, SF, min_overlap=0.8)
    assert strict.tolist() == [IDLE, IDLE, IDLE, IDLE, "a", "a", IDLE, IDLE, IDLE, IDLE]


def test_task_task_tie_goes_to_next_event():
    ev = _events([(0.0, 2.0, "b"), (2.0, 2.0, "a")])
    lab = window_labels(ev, np.array([15, 14, 16]), 10, 60, SF)
    assert lab.tolist() == ["a", "b", "a"]


def test_short_idle_gap_shorter_than_window():
    # "a" on [20, 40), idle [40, 43), "b" on [43, 63); window 10 samples
    ev = _events([(2.0, 2.0, "a"), (4.3, 2.0, "b")])
    starts = np.arange(30, 44)
    counts, last = window_coverage(*sample_labels(ev, 80, SF)[:1], starts, 10, 3)
    assert (counts.sum(axis=1) == 10).all()
    lab = window_labels(ev, starts, 10, 80, SF)
    # start 35: a=5 idle=3 b=2 -> "a"; 36: a=4 idle=3 b=3 and 37: a=3 idle=3
    # b=4 -> no task has half the window -> idle although idle covers 30 %;
    # 38: b=5 -> "b"
    assert lab.tolist() == ["a"] * 6 + [IDLE] * 2 + ["b"] * 6
    # the paper's plurality rule never calls these windows idle
    plural = window_labels(ev, starts, 10, 80, SF, min_overlap=None)
    assert IDLE not in plural.tolist()
    # start 36: a=4, idle=3, b=3 -> "a"; start 37: a=3, idle=3, b=4 -> "b"
    assert plural[starts == 36][0] == "a" and plural[starts == 37][0] == "b"


def test_windows_at_run_start_and_end():
    ev = _events([(0.0, 3.0, "a"), (8.0, 5.0, "b")])  # "b" runs past the end (10 s)
    n = 100
    starts = np.array([0, 80, 85, 90])
    lab = window_labels(ev, starts, 10, n, SF)
    assert lab.tolist() == ["a", "b", "b", "b"]
    with pytest.raises(ValueError, match="outside"):
        window_labels(ev, np.array([95]), 10, n, SF)


def test_fractional_onsets_round_to_samples():
    ev = _events([(1.04, 1.0, "a")])  # 10.4 -> sample 10, end 20.4 -> 20
    codes, _ = sample_labels(ev, 30, SF)
    assert np.flatnonzero(codes).tolist() == list(range(10, 20))


def test_bad_inputs():
    with pytest.raises(ValueError, match="missing"):
        window_labels(pd.DataFrame({"onset": [1.0]}), np.array([0]), 5, 50, SF)
    with pytest.raises(ValueError, match="min_overlap"):
        window_labels(_events([(0, 1, "a")]), np.array([0]), 5, 50, SF, min_overlap=0)
    with pytest.raises(ValueError, match="reserved"):
        task_periods(_events([(0, 1, "idle")]), 5.0, classes=["idle"])
    # BAD annotations are not task classes
    per = task_periods(_events([(0, 1, "BAD_muscle"), (2, 1, "a")]), 5.0)
    assert per["trial_type"].tolist() == ["a"]
