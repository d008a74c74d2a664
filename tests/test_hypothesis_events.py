"""Property-based tests of event parsing and window labelling.

Random events (NaN/inf onsets, negative or missing durations, reserved and
non-task names), random run lengths, windows and steps, and random bytes in
an events.tsv: either a result with the documented properties, or one of our
own errors (raised in brainpipe's code, naming the problem), never a pandas
or numpy error.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from brainpipe._check import BrainpipeInputError  # noqa: E402
from brainpipe.bci.labels import IDLE, task_classes, window_labels  # noqa: E402
from brainpipe.kernels.windows import window_starts  # noqa: E402

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NAMES = ["left_hand", "right_hand", "feet", IDLE, "BAD_blink", "EDGE boundary", "n/a", "<img src=x>", ""]


def assert_own_error(err):
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    frames = traceback.extract_tb(err.__traceback__)
    assert "brainpipe" in frames[-1].filename, "".join(traceback.format_tb(err.__traceback__))
    assert str(err)


times = st.floats(-5, 60, allow_nan=False) | st.sampled_from([np.nan, np.inf, -np.inf])
events_tables = st.lists(
    st.tuples(times, st.floats(-1, 10, allow_nan=False) | st.just(np.nan), st.sampled_from(NAMES)),
    max_size=12,
).map(lambda rows: pd.DataFrame(rows, columns=["onset", "duration", "trial_type"]))


@SETTINGS
@given(events=events_tables, n_times=st.integers(-1, 400), sfreq=st.sampled_from([10.0, 25.0, 100.0]),
       window=st.integers(-1, 60), step=st.integers(0, 30),
       min_overlap=st.sampled_from([None, 0.5, 1.0, 0.0, 1.5]))
def test_window_labels_valid_or_own_error(events, n_times, sfreq, window, step, min_overlap):
    try:
        starts = window_starts(n_times, window, step)
        labels = window_labels(events, starts, window, n_times, sfreq, min_overlap=min_overlap)
        classes = task_classes(events)
    except Exception as err:  # noqa: BLE001 - the property is about which errors
        assert_own_error(err)
        return
    assert labels.shape == starts.shape
    assert set(labels) <= {IDLE, *classes}


@SETTINGS
@given(onsets=st.lists(st.floats(0, 30), min_size=1, max_size=6), duration=st.floats(0.5, 5),
       window=st.integers(1, 40), step=st.integers(1, 20))
def test_full_overlap_label_means_window_inside_task(onsets, duration, window, step):
    """min_overlap=1: a task label only for windows wholly inside that task period."""
    sfreq, n_times = 10.0, 400
    events = pd.DataFrame({"onset": sorted(onsets), "duration": duration, "trial_type": "left_hand"})
    starts = window_starts(n_times, window, step)
    labels = window_labels(events, starts, window, n_times, sfreq, min_overlap=1.0)
    covered = np.zeros(n_times, dtype=bool)
    for onset in onsets:
        covered[int(round(onset * sfreq)):int(round((onset + duration) * sfreq))] = True
    for start, label in zip(starts, labels):
        if label != IDLE:
            assert covered[start:start + window].all()


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\r\n"), max_size=8)


@SETTINGS
@given(header=st.lists(st.sampled_from(["onset", "duration", "trial_type", "value", "x", ""]), min_size=1,
                       max_size=4),
       rows=st.lists(st.lists(cells | st.sampled_from(["1.5", "n/a", "-3", "inf", "nan", "left_hand"]),
                              min_size=0, max_size=5), max_size=6),
       raw_bytes=st.one_of(st.none(), st.binary(max_size=40)))
def test_events_tsv_parsing_gives_problems_not_tracebacks(tmp_path_factory, header, rows, raw_bytes):
    """Whatever an events.tsv holds, validate lists problems and the reader raises ours."""
    from brainpipe.eeg.integrity import _event_onsets
    from brainpipe.io.validate import _events_problems

    path = Path(tmp_path_factory.mktemp("ev")) / "sub-01_task-x_events.tsv"
    if raw_bytes is not None:
        path.write_bytes(raw_bytes)
    else:
        path.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n", encoding="utf-8")
    problems = []
    table = _events_problems(path, problems)  # never raises
    assert all(str(path) in p for p in problems)
    if table is not None and not problems:
        assert {"onset", "trial_type"} <= set(table.columns)
        onset = pd.to_numeric(table["onset"])
        assert np.isfinite(onset).all() and (onset >= 0).all()
    try:
        onsets = _event_onsets(path)
    except BrainpipeInputError as err:
        assert str(path) in str(err)
        return
    assert np.isfinite(onsets).all()
