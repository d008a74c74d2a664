"""Pseudo-online evaluation: smoothing, streaming, causality, scores, files, figures."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, sosfilt

from brainpipe.bci.labels import IDLE
from brainpipe.bci.pseudo_online import (
    RESULT_COLUMNS,
    SCORE_COLUMNS,
    TIMING_COLUMNS,
    ContinuousRun,
    WindowDecoder,
    causal_bandpass,
    decisions_table,
    evaluate_pseudo_online,
    load_runs,
    run_pseudo_online,
    run_pseudo_online_group,
    split_covariance_step,
    timing_path,
    training_windows,
)
from brainpipe.bci.smoothing import average_probabilities, majority_vote, smooth_decisions

SF = 128.0
CUES = ("left_hand", "right_hand")


# --------------------------------------------------------------------------
# A small simulated continuous motor-imagery recording
# --------------------------------------------------------------------------
def _mu(rng, n, sf):
    """Narrow-band (9-13 Hz) unit-variance noise."""
    sos = butter(4, [9, 13], btype="band", fs=sf, output="sos")
    x = sosfilt(sos, rng.standard_normal(n + 256))[256:]
    return x / x.std()


def simulate_run(rng, n_trials=8, sf=SF, n_channels=8, mixing=None, erd=0.45):
    """Continuous run: idle lead-in, then cue + 4 s imagery + 3-5 s idle per trial.

    Two mu sources (left and right motor cortex) stay at full amplitude while
    idle; left-hand imagery damps the right source, right-hand the left one
    (event-related desynchronisation). Background: 6 white-noise sources.
    """
    types = np.array(list(CUES) * (n_trials // 2))
    rng.shuffle(types)
    onsets, t = [], 3.0
    for _ in types:
        onsets.append(t)
        t += 4.0 + rng.uniform(3.0, 5.0)
    n = int(round((t + 1.0) * sf))
    env = np.ones((2, n))
    for ty, on in zip(types, onsets):
        a, b = int(on * sf), int((on + 4.0) * sf)
        src = 1 if ty == "left_hand" else 0  # contralateral source
        env[src, a:b] = erd
    # smooth the envelope (ERD onset/offset take ~0.25 s), causally
    k = int(0.25 * sf)
    env = np.apply_along_axis(lambda e: np.convolve(e, np.ones(k) / k)[:n], 1, env)
    sources = np.vstack([_mu(rng, n, sf) * env[0], _mu(rng, n, sf) * env[1]])
    background = 0.7 * rng.standard_normal((6, n))
    data = mixing @ np.vstack([sources, background])
    events = pd.DataFrame({"onset": onsets, "duration": 4.0, "trial_type": types})
    return data * 1e-5, events


@pytest.fixture(scope="module")
def sim_runs():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((8, 8))
    runs = []
    for ses in ("1", "2"):
        mixing = base + 0.15 * rng.standard_normal((8, 8))  # cap moves a bit
        for run in ("1", "2", "3"):
            data, events = simulate_run(rng, mixing=mixing)
            runs.append(
                ContinuousRun("01", ses, run, data, SF, events,
                              [f"E{i}" for i in range(8)], f"sim {ses}/{run}")
            )
    return runs


# --------------------------------------------------------------------------
# Smoothing
# --------------------------------------------------------------------------
def test_majority_vote_matches_loop_and_is_causal():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "idle"], size=60)
    for k in (1, 2, 3, 5):
        got = majority_vote(y, k)
        for i in range(len(y)):
            last = list(y[max(0, i - k + 1) : i + 1])
            best = max(last.count(v) for v in set(last))
            tied = [v for v in set(last) if last.count(v) == best]
            # tie -> the tied label decided most recently
            expect = max(tied, key=lambda v: max(j for j, w in enumerate(last) if w == v))
            assert got[i] == expect
    # causal: changing the future does not change the past
    y2 = y.copy()
    y2[40:] = "a"
    assert (majority_vote(y2, 5)[:40] == majority_vote(y, 5)[:40]).all()
    assert majority_vote(["a", "b", "b", "a"], 2).tolist() == ["a", "b", "b", "a"]


def test_average_probabilities_matches_loop():
    rng = np.random.default_rng(1)
    p = rng.random((30, 3))
    got = average_probabilities(p, 4)
    for i in range(30):
        np.testing.assert_allclose(got[i], p[max(0, i - 3) : i + 1].mean(axis=0))
    y = smooth_decisions(None, 4, method="proba", proba=p, classes=np.array(["x", "y", "z"]))
    assert y.tolist() == np.array(["x", "y", "z"])[got.argmax(axis=1)].tolist()
    # no probabilities -> vote
    assert smooth_decisions(["a", "b", "b"], 3, method="proba").tolist() == ["a", "b", "b"]


# --------------------------------------------------------------------------
# Splitting pipelines, streaming vs batch
# --------------------------------------------------------------------------
def test_split_covariance_step():
    from brainpipe.bci.pipelines import make_pipeline

    spec, n = split_covariance_step(make_pipeline("ts_svm"))
    assert spec == {"estimator": "oas", "order": 1, "lag": 1} and n == 1
    spec, n = split_covariance_step(make_pipeline("acm_ts_svm", order=3, lag=2, implementation="moabb"))
    assert spec == {"estimator": "oas", "order": 3, "lag": 2} and n == 2
    spec, n = split_covariance_step(make_pipeline("acm_ts_svm", order=3, lag=2))
    assert spec == {"estimator": "oas", "order": 3, "lag": 2} and n == 1
    assert split_covariance_step(make_pipeline("psd_lda", sfreq=SF)) == (None, 0)
    from pyriemann.estimation import Covariances
    from sklearn.pipeline import make_pipeline as skpipe
    from pyriemann.classification import MDM

    assert split_covariance_step(skpipe(Covariances("tyl"), MDM())) == (None, 0)


@pytest.mark.parametrize("name", ["ts_svm", "mdm", "csp_lda"])
def test_streamed_decisions_equal_batch_pipeline(sim_runs, name):
    """Kernels + rest, chunk by chunk == the whole pipeline on all windows at once."""
    from brainpipe.bci.pipelines import make_pipeline
    from brainpipe.kernels import sliding_windows

    train, test = sim_runs[0], sim_runs[1]
    W, S = 128, 13
    idx, y = training_windows(train, W, S, ("left_hand", "right_hand"))
    dec = WindowDecoder(make_pipeline(name), W, S, chunk=50).fit([train.data], [(idx, y, S)])
    assert dec.mode_ == "kernels"
    pred, _ = dec.predict(test.data)
    ref = make_pipeline(name).fit(np.ascontiguousarray(sliding_windows(train.data, W, S)[idx]), y)
    expect = ref.predict(np.ascontiguousarray(sliding_windows(test.data, W, S)))
    assert np.mean(pred == expect) > 0.995  # float rounding may flip a near-tie
    assert dec.timing_["n_windows"] == len(expect)
    assert dec.timing_["window_s"] > 0 and dec.timing_["classify_s"] > 0
    # the windows path (no kernels) gives the batch result exactly
    dec2 = WindowDecoder(make_pipeline(name), W, S, chunk=64, use_kernels=False)
    dec2.fit([train.data], [(idx, y, S)])
    assert dec2.mode_ == "windows"
    assert (dec2.predict(test.data)[0] == expect).all()


def test_search_fits_on_windows_and_decides_through_kernels(sim_runs):
    """A fitted ACM search streams its refitted pipeline's front through the kernels."""
    from brainpipe.bci.pipelines import make_pipelines
    from brainpipe.kernels import sliding_windows

    train, test = sim_runs[0], sim_runs[1]
    W, S = 128, 13
    idx, y = training_windows(train, W, S, ("left_hand", "right_hand"))
    spec = {"acm_search_svm": {"orders": [1, 2], "lags": [1, 3], "Cs": [1.0],
                               "kernels": ["linear"], "cv": 3}}
    search = make_pipelines(spec, sfreq=SF)["acm_search_svm"]
    dec = WindowDecoder(search, W, S, chunk=50).fit([train.data], [(idx, y, S)])
    assert dec.mode_ == "kernels"
    best = dec.estimator_  # the refitted pipeline without its covariance front
    assert type(best[0]).__name__ == "RiemannTangentSpace"  # the fast refit (pyriemann's outputs)
    pred, _ = dec.predict(test.data)
    ref = make_pipelines(spec, sfreq=SF)["acm_search_svm"].fit(
        np.ascontiguousarray(sliding_windows(train.data, W, S)[idx]), y)
    assert dec.spec_["order"] == ref.best_order_
    expect = ref.predict(np.ascontiguousarray(sliding_windows(test.data, W, S)))
    assert np.mean(pred == expect) > 0.995


def test_training_windows_pure_and_idle_thinned(sim_runs):
    run = sim_runs[0]
    W, S = 128, 13
    idx, y = training_windows(run, W, S, CUES, idle_ratio=None)
    starts = idx * S
    for s, lab in zip(starts, y):  # every kept window lies in one stretch
        a, b = (run.events.onset * SF).round(), ((run.events.onset + 4) * SF).round()
        inside = run.events[(a <= s) & (b >= s + W)]
        touching = run.events[(a < s + W) & (b > s)]
        assert (lab == IDLE) == touching.empty
        assert (lab == IDLE and inside.empty) or (lab != IDLE and inside.trial_type.iloc[0] == lab)
    n_task = np.mean([np.sum(y == c) for c in CUES])
    assert np.sum(y == IDLE) > n_task  # idle dominates a run
    idx2, y2 = training_windows(run, W, S, CUES, idle_ratio=1.0)
    assert np.sum(y2 == IDLE) == int(np.ceil(n_task))
    assert set(idx2) <= set(idx) and (np.diff(idx2) > 0).all()


# --------------------------------------------------------------------------
# Causality
# --------------------------------------------------------------------------
@pytest.mark.parametrize("use_kernels, backend", [(True, "numpy"), (True, "auto"), (False, "auto")])
def test_decisions_do_not_see_the_future(sim_runs, use_kernels, backend):
    """Perturbing the signal after t leaves every decision of windows ending by t unchanged."""
    from brainpipe.bci.pipelines import make_pipeline

    train, test = sim_runs[0], sim_runs[2]
    W, S = 128, 13
    filt = {"l_freq": 8.0, "h_freq": 30.0}
    xtr = causal_bandpass(train.data, SF, **filt)
    idx, y = training_windows(train, W, S, CUES)
    dec = WindowDecoder(make_pipeline("mdm"), W, S, chunk=40, use_kernels=use_kernels,
                        backend=backend)
    dec.fit([xtr], [(idx, y, S)])
    assert dec.mode_ == ("kernels" if use_kernels else "windows")
    t = 30 * 128 + 5
    bump = 50 * test.data.std() * np.random.default_rng(0).standard_normal((8, test.n_times - t))
    online = lambda x: causal_bandpass(x, SF, **filt)  # noqa: E731
    x = test.data
    x2 = x.copy()
    x2[:, t:] += bump
    (y1, p1), (y2, p2) = dec.predict(online(x), proba=True), dec.predict(online(x2), proba=True)
    ends = np.arange(len(p1)) * S + W
    before = ends <= t
    assert before.sum() > 250 and (~before).sum() > 100
    np.testing.assert_array_equal(y1[before], y2[before])
    if backend == "numpy" or not use_kernels:
        np.testing.assert_array_equal(p1[before], p2[before])
    else:
        # The Numba kernel centres each group of windows on the group's mean
        # (exact in real arithmetic): later samples of the same group move the
        # rounding only, ~1e-14 relative, nowhere near a decision.
        np.testing.assert_allclose(p1[before], p2[before], rtol=1e-9, atol=1e-12)
    assert not np.allclose(p1[~before], p2[~before])  # the perturbation matters
    # The same check catches a pipeline that sees the future: a zero-phase
    # (non-causal) filter applied to the whole test run leaks x[t:] into
    # windows that end before t.
    import mne

    offline_filter = lambda x: mne.filter.filter_data(x, SF, 8.0, 30.0, verbose="error")  # noqa: E731
    q1 = dec.predict(offline_filter(x), proba=True)[1]
    q2 = dec.predict(offline_filter(x2), proba=True)[1]
    assert np.abs(q1[before] - q2[before]).max() > 1e-3


# --------------------------------------------------------------------------
# Evaluation on the simulated subject
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_result(sim_runs):
    return evaluate_pseudo_online(
        sim_runs,
        ["ts_svm", "mdm"],
        window=1.0,
        step=0.1,
        train_step=0.25,
        smoothing=[5],
        causal_filter={"l_freq": 6.0, "h_freq": 16.0},
    )


def test_pseudo_online_below_offline_and_above_chance(sim_result):
    s = sim_result.scores
    assert list(s.columns) == list(RESULT_COLUMNS)
    assert set(s["evaluation"]) == {"within-session", "cross-session"}
    raw = s[s["smoothing"] == 1]
    m = raw.groupby(["pipeline", "mode"])["nmcc"].mean()
    print(raw.groupby(["evaluation", "pipeline", "mode"])[["nmcc", "accuracy", "itr"]].mean())
    assert m["ts_svm", "pseudo-online"] > 0.65
    assert m["ts_svm", "pseudo-online"] < m["ts_svm", "offline"]
    assert m["mdm", "pseudo-online"] > 0.6
    # 6 within-session + 6 cross-session test runs per pipeline and mode
    assert (raw.groupby(["pipeline", "mode"]).size() == 12).all()
    assert s[(s["mode"] == "pseudo-online")]["n_classes"].eq(3).all()
    assert s[(s["mode"] == "offline")]["n_classes"].eq(2).all()


def test_scores_match_metrics_on_decisions(sim_result):
    from brainpipe.bci.metrics import itr, nmcc

    dec = decisions_table(sim_result)
    s = sim_result.scores
    row = s[(s["mode"] == "pseudo-online") & (s["smoothing"] == 1)].iloc[3]
    d = dec[(dec["pipeline"] == row["pipeline"]) & (dec["session"] == row["session"])
            & (dec["run"] == row["run"]) & (dec["evaluation"] == row["evaluation"])]
    assert len(d) == row["n_windows"]
    assert np.isclose(row["nmcc"], nmcc(d["y_true"].to_numpy(), d["y_pred"].to_numpy()))
    acc = np.mean(d["y_true"] == d["y_pred"])
    assert np.isclose(row["accuracy"], acc)
    # one decision per step: 0.1 s is 12.8 samples at 128 Hz, rounded to 13
    step = 13 / SF
    assert np.isclose(row["seconds_per_decision"], step)
    assert np.isclose(row["itr"], itr(acc, 3, step))
    # decision times are window ends, one step apart, the first at 1 s
    assert np.allclose(d["time"].to_numpy()[:3], [1.0, 1.0 + step, 1.0 + 2 * step], atol=1e-6)
    assert IDLE in set(d["y_true"]) and IDLE in set(d["y_pred"])
    # smoothing rows are computed from the same decisions
    sm = s[(s["mode"] == "pseudo-online") & (s["smoothing"] == 5) & (s["pipeline"] == row["pipeline"])
           & (s["session"] == row["session"]) & (s["run"] == row["run"])
           & (s["evaluation"] == row["evaluation"])].iloc[0]
    y5 = majority_vote(d["y_pred"].to_numpy(), 5)
    assert np.isclose(sm["nmcc"], nmcc(d["y_true"].to_numpy(), y5))
    cm = [c for c in sim_result.confusion if c["mode"] == "pseudo-online" and c["smoothing"] == 1][3]
    assert np.array(cm["matrix"]).sum() == row["n_windows"] and cm["labels"][0] == IDLE


# --------------------------------------------------------------------------
# Files -> files
# --------------------------------------------------------------------------
def _write_fif_runs(tmp_path, sim_runs, subject="01"):
    import mne

    files = []
    for r in sim_runs:
        info = mne.create_info(r.ch_names, SF, "eeg")
        raw = mne.io.RawArray(r.data, info, verbose="error")
        raw.set_annotations(mne.Annotations(r.events.onset, r.events.duration, r.events.trial_type))
        f = tmp_path / f"sub-{subject}_ses-{r.session}_task-imagery_run-{r.run}_desc-preproc_eeg.fif"
        raw.save(f, verbose="error")
        files.append(f)
    return files


def test_run_pseudo_online_leaves_no_table_when_figures_fail(tmp_path, sim_runs,
                                                           monkeypatch):
    from brainpipe.bci import online_figures

    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr(online_figures, "write_subject_figures", broken)
    files = _write_fif_runs(tmp_path, sim_runs[:2])
    out = tmp_path / "out" / "sub-01_task-imagery_desc-pseudoonline_scores.tsv"
    frag = tmp_path / "out" / "sub-01_desc-pseudoonline_fragment.json"
    with pytest.raises(RuntimeError, match="no display"):
        run_pseudo_online(files, "01", out, config={"pipelines": ["mdm"], "step": 0.5,
                                                    "evaluations": ["within-session"]},
                          fragment=frag)
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_run_pseudo_online_from_fif(tmp_path, sim_runs):
    files = _write_fif_runs(tmp_path, sim_runs[:2] + sim_runs[3:5])
    out = tmp_path / "out" / "sub-01_task-imagery_desc-pseudoonline_scores.tsv"
    frag = tmp_path / "out" / "sub-01_desc-pseudoonline_fragment.json"
    decisions = tmp_path / "out" / "sub-01_desc-pseudoonline_decisions.tsv"
    cfg = {"pipelines": ["ts_svm"], "smoothing": [3], "step": 0.25,
           "causal_filter": {"l_freq": 6.0, "h_freq": 16.0}}
    run_pseudo_online(files, "01", out, config=cfg, figure_dir=tmp_path / "out",
                      fragment=frag, decisions_tsv=decisions)
    tab = pd.read_csv(out, sep="\t")
    assert list(tab.columns) == list(SCORE_COLUMNS)
    timing = pd.read_csv(timing_path(out), sep="\t")
    assert len(timing) == len(tab) and set(TIMING_COLUMNS) <= set(timing.columns)
    # 2 sessions x 2 runs, within- and cross-session, offline + online (k=1, 3)
    assert len(tab) == 4 * 2 * 3
    on = tab[(tab["mode"] == "pseudo-online") & (tab["smoothing"] == 1)]
    assert on["nmcc"].mean() > 0.6
    side = json.loads(out.with_suffix(".json").read_text())
    assert "window step (0.25 s)" in side["ITRTimeBase"]["pseudo-online"]
    assert "causal" in side["Causality"] and side["StreamingModes"]["ts_svm"] == "kernels"
    assert len(side["ConfusionMatrices"]) == len(tab)
    fr = json.loads(frag.read_text())
    assert fr["section"] == "Pseudo-online BCI"
    images = [i for i in fr["items"] if i["kind"] == "image"]
    # comparison + one timeline figure of every test run and evaluation, both at the
    # fixed names the workflow rule declares as its outputs
    assert [(frag.parent / i["path"]).resolve() for i in images] == [
        (tmp_path / "out" / f"sub-01_task-imagery_desc-pseudoonline_{kind}.png").resolve()
        for kind in ("comparison", "timeline")]
    assert "each of the 8 test runs" in images[1]["caption"]  # 4 runs x within- and cross-session
    for i in images:
        assert (frag.parent / i["path"]).stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "sub-01_task-imagery_desc-pseudoonline_comparison.png", "sub-01_task-imagery_desc-pseudoonline_timeline.png"]
    assert len(pd.read_csv(decisions, sep="\t")) == on["n_windows"].sum()
    # the report shows the mean over test runs (one row per evaluation, mode and
    # smoothing of the pipeline: 2 x (offline, online k=1, online k=3)), not the 24 rows
    assert [i["kind"] for i in fr["items"]] == ["image", "image", "html", "html"]
    body = fr["items"][2]["html"].split("<tbody>")[1].split("</tbody>")[0]
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in body.split("</tr>") if "<td>" in r]
    assert len(rows) == 6 and {r[0] for r in rows} == {"within-session", "cross-session"}
    within = tab[(tab["evaluation"] == "within-session") & (tab["mode"] == "pseudo-online") & (tab["smoothing"] == 1)]
    (row,) = [r for r in rows if r[:4] == ["within-session", "ts_svm", "pseudo-online", "1"]]
    assert float(row[4]) == pytest.approx(within["nmcc"].mean(), abs=1e-3)
    assert "the 8 test runs" in fr["items"][2]["caption"] and out.name in fr["items"][2]["caption"]


def test_decision_timelines_one_panel_per_split():
    from brainpipe.bci.online_figures import plot_decision_timelines

    labels = [IDLE, "left_hand", "right_hand"]
    times = np.arange(0.5, 30.0, 0.5)
    y = np.resize(labels, len(times))
    splits = [("within-session", "1", "1"), ("within-session", "1", "2"), ("cross-session", "1", "1"),
              ("cross-session", "1", "2"), ("cross-session", "2", "1")]
    decisions = [dict(evaluation=ev, session=ses, run=run, pipeline=pipe, times=times, y_true=y, y_pred=y[::-1])
                 for ev, ses, run in splits for pipe in ("mdm", "csp_lda")]
    fig = plot_decision_timelines(decisions, labels, title="sub-01")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in titled) == sorted(f"ses-{s} run-{r} ({e})" for e, s, r in splits)
    # each panel: the true labels, then one band per pipeline
    assert all([t.get_text() for t in ax.get_yticklabels()] == ["true", "mdm", "csp_lda"] for ax in titled)
    # ses-2 run-1 was no within-session test run: its cell says so
    texts = [t.get_text() for sub in fig.subfigs for t in sub.texts]
    assert texts == ["ses-2 run-1: not a within-session test run"]
    empty = plot_decision_timelines([], labels)  # no split: still a figure (the declared file)
    assert not empty.axes and "no split" in empty.texts[0].get_text()


@pytest.mark.filterwarnings("ignore:Montage name:FutureWarning")
def test_moabb_fake_dataset(tmp_path, monkeypatch):
    """MOABB's FakeDataset: stim-channel cues, 3 s tasks every ~2 s (overlapping)."""
    monkeypatch.setenv("MNE_DATA", str(tmp_path))
    from moabb.datasets.fake import FakeDataset

    ds = FakeDataset(n_subjects=1, n_sessions=2, n_runs=2, duration=40, n_events=16,
                     event_list=("left_hand", "right_hand"), seed=3)
    runs = load_runs(ds, 1)
    assert len(runs) == 4 and runs[0].subject == "01"
    assert runs[0].events["duration"].eq(3.0).all()  # dataset.interval = [0, 3]
    res = evaluate_pseudo_online(runs, ["mdm"], window=1.0, step=0.25,
                                 evaluations=["cross-session"], smoothing=[3],
                                 smoothing_method="proba")
    s = res.scores
    assert len(s) == 4 * 3  # offline, online k=1, online k=3 (MDM probabilities averaged)
    # overlapping cues: the later cue cuts the earlier task, so windows carry
    # both classes and almost no idle
    y = np.concatenate([d["y_true"] for d in res.decisions])
    assert np.mean(y == IDLE) < 0.2 and {"left_hand", "right_hand"} <= set(y)
    # pure noise: nothing to decode
    assert s["nmcc"].between(0.3, 0.7).all()


def test_group_comparison_wilcoxon(tmp_path):
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(0)
    tsvs = []
    for sub in range(1, 7):
        rows = []
        for pipe in ("ts_svm", "mdm"):
            for run in ("1", "2"):
                off = 0.9 + 0.03 * rng.standard_normal()
                rows.append(dict(subject=f"{sub:02d}", session="1", run=run, pipeline=pipe,
                                 mode="offline", nmcc=off, smoothing=1, evaluation="within-session"))
                rows.append(dict(subject=f"{sub:02d}", session="1", run=run, pipeline=pipe,
                                 mode="pseudo-online", nmcc=off - 0.15 + 0.02 * rng.standard_normal(),
                                 smoothing=1, evaluation="within-session"))
        p = tmp_path / f"sub-{sub:02d}.tsv"
        pd.DataFrame(rows).to_csv(p, sep="\t", index=False)
        tsvs.append(p)
    stats = run_pseudo_online_group(tsvs, tmp_path / "group.tsv", tmp_path / "group.png",
                                    fragment=tmp_path / "group_fragment.json")
    allrows = pd.concat([pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in tsvs])
    g = allrows[allrows.pipeline == "ts_svm"].groupby(["subject", "mode"])["nmcc"].mean().unstack()
    expect = wilcoxon(g["offline"], g["pseudo-online"])
    st = stats.set_index("pipeline").loc["ts_svm"]
    assert st["n_subjects"] == 6
    assert np.isclose(st["p_value"], expect.pvalue) and np.isclose(st["wilcoxon_statistic"], expect.statistic)
    assert st["mean_difference"] > 0.1
    assert (tmp_path / "group.png").stat().st_size > 1000
    assert json.loads((tmp_path / "group_fragment.json").read_text())["section"] == "Pseudo-online BCI"


def test_bids_root_reads_only_the_declared_recordings(tmp_path):
    """A rule declares the raw runs it evaluates; the step reads those and no others."""
    from brainpipe._check import BrainpipeInputError
    from brainpipe.io.simulate import simulate_dataset

    root = simulate_dataset(tmp_path / "bids", seed=2, n_subjects=1, n_eeg_subjects=1, n_sessions=2, n_runs=2,
                            trials_per_class=4, n_volumes=40, tr=2.0, progress=False)
    every = sorted(root.glob("sub-01/ses-*/eeg/*_eeg.vhdr"))
    assert len(every) == 4
    runs = load_runs(root, "01", recordings=every[:2])
    assert [(r.session, r.run) for r in runs] == [("1", "1"), ("1", "2")]
    assert [r.source for r in runs] == [str(p) for p in every[:2]]
    assert len(load_runs(root, "01")) == 4  # no recordings named: every run
    with pytest.raises(BrainpipeInputError, match="is not one of the EEG runs of subject 01"):
        load_runs(root, "01", recordings=[every[0], tmp_path / "sub-01_task-imagery_run-9_eeg.vhdr"])
