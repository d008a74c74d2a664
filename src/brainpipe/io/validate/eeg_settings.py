"""The config against the EEG data: filters, epochs, cues, pipelines, windows."""

from __future__ import annotations

from pathlib import Path

from ._common import _get, _number
from .plan import possible_evaluations, runs_per_session

def _pipeline_specs(spec):
    """``{display name: (builder name, params)}`` of a pipelines config value."""
    if isinstance(spec, (list, tuple)):
        return {str(n): (str(n), {}) for n in spec}
    out = {}
    for name, params in (spec or {}).items():
        params = dict(params or {})
        out[str(name)] = (str(params.pop("pipeline", name)), params)
    return out


def _acm_sizes(params):
    """(largest order, its lag) pairs the pipeline may use."""
    orders = params.get("orders", [params["order"]] if "order" in params else [])
    lags = params.get("lags", [params["lag"]] if "lag" in params else [])
    orders = [o for o in orders if isinstance(o, int) and not isinstance(o, bool)]
    lags = [t for t in lags if isinstance(t, int) and not isinstance(t, bool)]
    return [(o, t) for o in orders for t in lags]


def _check_pipelines(key, spec, n_samples, n_chan, problems, builder_defaults, sfreq=None):
    import inspect

    from ...bci.pipelines import PIPELINES, make_pipeline

    for name, (builder, params) in _pipeline_specs(spec).items():
        where = f"config {key}.{name}"
        if builder not in PIPELINES:
            problems.append(f"{where}: unknown pipeline {builder!r}; known: {sorted(PIPELINES)}")
            continue
        build = dict(params)
        signature = inspect.signature(PIPELINES[builder]).parameters
        if "sfreq" in signature and "sfreq" not in build:
            build["sfreq"] = sfreq or 250.0  # the workflow fills in the data's rate
        if "tokenizer" in signature and build.get("tokenizer", signature["tokenizer"].default) == "group":
            # a file a group rule writes before this pipeline runs: any name builds it
            build["tokenizer"] = "group-tokenizer-from-the-workflow.pt"
        try:
            make_pipeline(builder, **build)
        except Exception as err:  # builders raise TypeError/ValueError: name the key
            problems.append(f"{where}: cannot be built ({type(err).__name__}: {err})")
            continue
        sizes = _acm_sizes({**builder_defaults.get(builder, {}), **params})
        if not (n_samples and n_chan):
            continue
        for order, lag in sizes:
            # MOABB's embedding keeps window - order * lag samples per copy (order > 1)
            usable = n_samples if order == 1 else n_samples - order * lag
            if usable <= n_chan * order:
                problems.append(
                    f"{where}: order {order} x lag {lag} does not fit {n_samples}-sample windows of "
                    f"{n_chan} channels: the augmented covariance ({n_chan * order} x {n_chan * order}) "
                    f"needs more than {n_chan * order} samples after embedding, only {usable} are left"
                )
                break


def _builder_defaults():
    import inspect

    from ...bci.pipelines import PIPELINES

    out = {}
    for name, func in PIPELINES.items():
        params = inspect.signature(func).parameters
        out[name] = {k: p.default for k, p in params.items()
                     if k in ("order", "lag", "orders", "lags") and p.default is not inspect.Parameter.empty}
    return out


def _check_band(key, l_freq, h_freq, nyquist, problems, what):
    if _number(l_freq) and _number(h_freq) and l_freq >= h_freq:
        problems.append(f"config {key}: the low edge ({l_freq:g} Hz) must be below the high edge ({h_freq:g} Hz)")
    if nyquist is None:
        return
    for edge in (l_freq, h_freq):
        if _number(edge) and edge >= nyquist:
            problems.append(f"config {key}: {edge:g} Hz is at or above the Nyquist frequency ({nyquist:g} Hz) "
                            f"of {what}")
            break


def _eeg_config_problems(config, eeg):
    problems = []
    pre = _get(config, "eeg", "preprocess", default={}) or {}
    rates = sorted({e["sfreq"] for e in eeg if e["sfreq"]})
    n_chans = [e["n_chan"] for e in eeg if e["n_chan"]]
    sim = _get(config, "simulate", default={}) or {}
    if sim.get("enabled") and not rates:
        rates = [250.0]  # the simulated demo
    rate = pre.get("sfreq") or (rates[0] if rates else None)
    nyq = rate / 2 if rate else None
    where = f"{'the resampled data' if pre.get('sfreq') else 'the lowest-rate recording'} ({rate:g} Hz)" if rate else ""
    eeg_on = _get(config, "eeg", "enabled", default=True)
    if eeg_on:
        _check_band("eeg.preprocess.l_freq/h_freq", pre.get("l_freq"), pre.get("h_freq"), nyq, problems, where)
        for f in pre.get("notch") or []:
            if nyq and _number(f) and f >= nyq:
                problems.append(f"config eeg.preprocess.notch: {f:g} Hz is at or above the Nyquist frequency "
                                f"({nyq:g} Hz) of {where}")
        if pre.get("sfreq") and rates and _number(pre.get("h_freq")) and pre["sfreq"] / 2 <= pre["h_freq"]:
            problems.append(f"config eeg.preprocess.sfreq: resampling to {pre['sfreq']:g} Hz puts the "
                            f"Nyquist frequency below h_freq ({pre['h_freq']:g} Hz)")
        ep = _get(config, "eeg", "epochs", default={}) or {}
        if _number(ep.get("tmin")) and _number(ep.get("tmax")) and ep["tmin"] >= ep["tmax"]:
            problems.append(f"config eeg.epochs: tmin ({ep['tmin']:g} s) must be below tmax ({ep['tmax']:g} s)")
        _check_band("eeg.epochs.fmin/fmax", ep.get("fmin"), ep.get("fmax"), nyq, problems, where)
    problems += _cue_problems(config, eeg)
    n_chan = max(n_chans) if n_chans else (22 if sim.get("enabled") else None)
    defaults = _builder_defaults()
    off = _get(config, "bci", "offline", default={}) or {}
    min_task = min((e["min_task_s"] for e in eeg if e["min_task_s"]), default=None)
    if eeg_on and off.get("enabled"):
        par = off.get("paradigm") or {}
        _check_band("bci.offline.paradigm.fmin/fmax", par.get("fmin"), par.get("fmax"), nyq, problems, where)
        length = int(round(min_task * rate)) if (min_task and rate) else None
        _check_pipelines("bci.offline.pipelines", off.get("pipelines"), length, n_chan, problems, defaults, rate)
    po = _get(config, "bci", "pseudo_online", default={}) or {}
    # only where some subject's sessions and runs let pseudo-online run (else it is skipped, with a note)
    runs = runs_per_session([e["path"] for e in eeg])
    po_runs = not runs or any(possible_evaluations("pseudo_online", po.get("evaluations") or [], r)
                              for r in runs.values())
    if eeg_on and po.get("enabled") and po_runs:
        window, step = po.get("window", 1.0), po.get("step", 0.1)
        if rate and _number(step) and round(step * rate) < 1:
            problems.append(f"config bci.pseudo_online.step: {step:g} s is less than one sample at {rate:g} Hz")
        if rate and _number(window) and round(window * rate) < 2:
            problems.append(f"config bci.pseudo_online.window: {window:g} s is less than two samples at {rate:g} Hz")
        if min_task and _number(window) and window > min_task:
            problems.append(f"config bci.pseudo_online.window: {window:g} s windows are longer than the shortest "
                            f"task period ({min_task:g} s): no window lies inside a task period")
        if po.get("tmax") is None and any(e["zero_durations"] for e in eeg):
            zero = next(e["events"] for e in eeg if e["zero_durations"])
            problems.append(f"config bci.pseudo_online.tmax: the events have zero durations ({zero}): "
                            "set tmax (the task end after the cue, s)")
        cf = po.get("causal_filter") or {}
        _check_band("bci.pseudo_online.causal_filter", cf.get("l_freq"), cf.get("h_freq"), nyq, problems, where)
        W = int(round(window * rate)) if (rate and _number(window)) else None
        _check_pipelines("bci.pseudo_online.pipelines", po.get("pipelines"), W, n_chan, problems, defaults, rate)
    return problems


#: Class names each offline paradigm needs (None: any two or more).
PARADIGM_CLASSES = {"left_right": ("left_hand", "right_hand"), "motor_imagery": None}


def _cue_problems(config, eeg):
    """The cues each run gives after ``eeg.events`` must be the classes the BCI stages use.

    Offline reads the preprocessed runs, whose cues ``eeg.events`` renamed;
    pseudo-online renames the raw runs' cues the same way. The classes must
    be the paradigm's (``left_right``: left_hand and right_hand) and at least
    two must occur in each subject's runs.
    """
    from ...bci.labels import DEFAULT_EVENTS

    problems = []
    if not _get(config, "eeg", "enabled", default=True) or _get(config, "eeg", "dataset"):
        return problems
    mapping = _get(config, "eeg", "events") or {}
    mapped = list(dict.fromkeys(map(str, mapping.values())))
    stages = []
    if _get(config, "bci", "offline", "enabled"):
        paradigm = _get(config, "bci", "offline", "paradigm", "name", default="left_right")
        cues = _get(config, "bci", "offline", "dataset", "events") or mapped or list(DEFAULT_EVENTS)
        key = "bci.offline.dataset.events" if _get(config, "bci", "offline", "dataset", "events") else (
            "bci.offline (classes from eeg.events)" if mapped else "bci.offline (classes: eeg.events unset)")
        needed = PARADIGM_CLASSES.get(paradigm)
        if needed and not set(needed) <= set(map(str, cues)):
            problems.append(f"config {key}: the classes {sorted(map(str, cues))} are not those of the "
                            f"{paradigm} paradigm (bci.offline.paradigm), which needs {list(needed)}; "
                            "map the dataset's trial_type values to them with eeg.events")
        stages.append((key, cues))
    if _get(config, "bci", "pseudo_online", "enabled"):
        stages.append(("bci.pseudo_online (classes from eeg.events)" if mapped else
                       "bci.pseudo_online (classes: eeg.events unset)", mapped or list(DEFAULT_EVENTS)))
    for key, cues in stages:
        cues = sorted(map(str, cues))
        per_subject = {}
        for e in eeg:
            if e["trial_types"] is None:
                continue
            sub = next((p.name for p in Path(e["path"]).parents if p.name.startswith("sub-")), "?")
            renamed = {str(mapping.get(t, t)) for t in e["trial_types"]}
            found = renamed & set(cues)
            per_subject.setdefault(sub, set()).update(found)
            if not found:
                problems.append(f"{e['events']}: none of the cue names {cues} the BCI evaluation looks for "
                                f"occurs (trial_type values: {sorted(e['trial_types'])[:10]}); map them "
                                "to the classes with config eeg.events")
        for sub, found in sorted(per_subject.items()):
            if len(found) == 1:
                problems.append(f"config {key}: {sub} has only the cue {sorted(found)[0]!r} of "
                                f"{cues} in its events: a BCI evaluation needs at least two classes")
    return list(dict.fromkeys(problems))
