"""What the configured workflow will run on a dataset, and what it leaves out.

The workflow (``workflow/rules/common.smk``) and ``brainpipe validate`` ask
the same functions, so the run and the up-front check agree:

* :func:`required_demographics`: the participants.tsv columns the enabled
  group steps read (and only those);
* :func:`prediction_skips`: why ``fmri_predict`` cannot run on this cohort
  (too few subjects, one site, a class too small or confounded with site),
  so that it is skipped with a note instead of failing inside scikit-learn
  and blocking the group report;
* :func:`bci_skips`: configured BCI evaluations the sessions and runs of a
  subject do not allow.
"""

from __future__ import annotations

from ..derivatives import EVALUATION_ALIASES, EVALUATIONS, evaluation_names
from ._common import _get

__all__ = ["bci_skips", "group_step_skips", "normalise_evaluations", "possible_evaluations", "prediction_skips",
           "required_demographics", "read_participants", "runs_per_session"]

#: Fewest subjects with BOLD for each group step (the workflow's thresholds).
MIN_SUBJECTS = {"tangent": 2, "dynamic": 2, "prediction": 3, "brainmae": 3, "demovae": 6}


def read_participants(root):
    """participants.tsv of ``root`` as strings, or None when absent or unreadable
    (its problems are the participants check's to report)."""
    from pathlib import Path

    import pandas as pd

    path = Path(root) / "participants.tsv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, sep="\t", dtype=str, na_values=["n/a"], keep_default_na=False)
    except (OSError, ValueError):
        return None


def group_step_skips(config, n_bold):
    """Enabled group steps that ``n_bold`` subjects with BOLD do not allow, one line each.

    Parameters
    ----------
    config : dict
    n_bold : int

    Returns
    -------
    notes : list of str
    """
    if not _get(config, "fmri", "enabled", default=True):
        return []
    steps = (("fmri.connectivity.tangent", _get(config, "fmri", "connectivity", "tangent"), "tangent"),
             ("fmri.dynamic", _get(config, "fmri", "dynamic", "enabled"), "dynamic"),
             ("fmri.prediction", _get(config, "fmri", "prediction", "enabled"), "prediction"),
             ("models.brainmae", _get(config, "models", "brainmae", "enabled"), "brainmae"),
             ("models.demovae", _get(config, "models", "demovae", "enabled"), "demovae"))
    return [f"{key} skipped: it needs at least {MIN_SUBJECTS[step]} subjects with BOLD, there are {n_bold}"
            for key, enabled, step in steps if enabled and n_bold < MIN_SUBJECTS[step]]


def required_demographics(config, n_bold=None):
    """participants.tsv columns the enabled steps of ``config`` read.

    Parameters
    ----------
    config : dict
        The merged workflow config.
    n_bold : int | None
        Subjects with a BOLD run (steps that will not run for want of
        subjects need no columns); None counts every step as running.

    Returns
    -------
    columns : list of str
        In first-use order, without duplicates.
    """
    columns = []
    if not _get(config, "fmri", "enabled", default=True):
        return columns

    def runs(step, enabled):
        return enabled and (n_bold is None or n_bold >= MIN_SUBJECTS[step])

    pred = _get(config, "fmri", "prediction", default={}) or {}
    if runs("prediction", pred.get("enabled", False)):
        columns += list(pred.get("targets") or [])
        if pred.get("site_column"):
            columns.append(pred["site_column"])
    vae = _get(config, "models", "demovae", default={}) or {}
    if runs("demovae", vae.get("enabled", False)):
        columns += list(vae.get("demographics") or [])
        site = (vae.get("harmonize") or {}).get("site_column")
        columns += [site] if site else []
    mae = _get(config, "models", "brainmae", default={}) or {}
    if runs("brainmae", mae.get("enabled", False)):
        columns += list((mae.get("probe") or {}).get("targets") or [])
    return list(dict.fromkeys(str(c) for c in columns))


def prediction_skips(config, participants, subjects):
    """Why ``fmri_predict`` cannot run on these subjects (empty: it can).

    Parameters
    ----------
    config : dict
        The merged workflow config.
    participants : pandas.DataFrame | None
        participants.tsv read as strings (``participant_id`` column).
    subjects : list of str
        Labels (without ``sub-``) of the subjects with a BOLD run.

    Returns
    -------
    reasons : list of str
        One line per reason, naming the column and the numbers.
    """
    import pandas as pd

    pred = _get(config, "fmri", "prediction", default={}) or {}
    if not pred.get("enabled") or not _get(config, "fmri", "enabled", default=True):
        return []
    n = len(subjects)
    if n < MIN_SUBJECTS["prediction"]:
        return [f"fmri.prediction needs at least {MIN_SUBJECTS['prediction']} subjects with BOLD, "
                f"there are {n}"]
    if participants is None or "participant_id" not in participants.columns:
        return []  # reported as a problem by the participants.tsv check
    table = participants.set_index(participants["participant_id"].astype(str))
    rows = table.reindex([f"sub-{s}" for s in subjects])
    site_column = pred.get("site_column")
    reasons = []
    missing = [c for c in [*(pred.get("targets") or []), site_column] if c and c not in table.columns]
    if missing:
        return [f"fmri.prediction: participants.tsv has no column {missing}"]
    sites = rows[site_column].astype(str) if site_column else pd.Series("all", index=rows.index)
    if sites.nunique() < 2:
        reasons.append(f"fmri.prediction: site-aware cross-validation needs at least 2 values of "
                       f"{site_column!r}, the {n} subjects have {sites.nunique()}")
        return reasons
    for target in pred.get("targets") or []:
        values = rows[target]
        if values.isna().any():
            continue  # missing values or rows: a data problem, reported as such elsewhere
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            if numeric.nunique() < 2:
                reasons.append(f"fmri.prediction.targets: {target!r} has one value for all {n} subjects")
            elif pred.get("cv", "logo") == "logo" and sites.value_counts().min() < 2:
                # R^2 of a held-out site of one subject is undefined
                small = sites.value_counts().idxmin()
                reasons.append(f"fmri.prediction.targets: {target!r}: site {small!r} has one subject; scoring "
                               "a numeric target on a held-out site needs at least 2")
            continue
        counts = values.astype(str).value_counts()
        if len(counts) < 2:
            reasons.append(f"fmri.prediction.targets: {target!r} has one class ({counts.index[0]!r}) "
                           f"for all {n} subjects")
            continue
        # each held-out site leaves the others to train on: they need two classes, two subjects each
        for site in sorted(sites.unique()):
            train = values[sites != site].astype(str).value_counts()
            if len(train) < 2:
                reasons.append(f"fmri.prediction.targets: {target!r} is confounded with {site_column!r}: "
                               f"without site {site!r} the training subjects have one class "
                               f"({train.index[0]!r}) only")
                break
            if train.min() < 2:
                reasons.append(f"fmri.prediction.targets: {target!r}: without site {site!r} the class "
                               f"{train.idxmin()!r} has {train.min()} training subject (at least 2 are needed)")
                break
    return reasons


def runs_per_session(paths):
    """``{subject: {session key: number of runs}}`` of EEG recordings, from their names.

    Parameters
    ----------
    paths : iterable of path-like
        BIDS EEG recordings (``sub-01[_ses-1]_task-x[_run-1]_eeg.vhdr``).
    """
    from ..layout import entities, entity_key

    out = {}
    for path in paths:
        try:
            ent = entities(path)
        except ValueError:
            continue
        ses = entity_key(ent, ("ses", "task"))
        out.setdefault(ent.get("sub", "?"), {}).setdefault(ses, 0)
        out[ent.get("sub", "?")][ses] += 1
    return out


def possible_evaluations(kind, evaluations, runs_per_session):
    """The configured evaluations of ``bci.<kind>`` that the sessions and runs allow.

    Parameters
    ----------
    kind : {"offline", "pseudo_online"}
    evaluations : list of str
        ``within-session`` and/or ``cross-session`` (the old names
        ``within``/``cross`` too: :func:`brainpipe.io.derivatives.evaluation_names`).
    runs_per_session : dict of str to int
        Runs of each session of one subject.

    Returns
    -------
    kept : list of str
        In the words of :data:`brainpipe.io.derivatives.EVALUATIONS`.
    """
    n_sessions = len(runs_per_session)
    # offline within-session is a k-fold inside each session; pseudo-online
    # leaves one run of a session out
    within = n_sessions >= 1 if kind == "offline" else any(n > 1 for n in runs_per_session.values())
    possible = {"within-session": within, "cross-session": n_sessions > 1}
    return [e for e in _evaluation_names(kind, evaluations) if possible[e]]


def normalise_evaluations(config):
    """Write ``bci.offline.evaluations`` and ``bci.pseudo_online.evaluations`` in the new words.

    The workflow calls it once on its config (and ``brainpipe validate`` on
    the config it checks): old names (``within``, ``cross``) become
    ``within-session``, ``cross-session`` (:func:`brainpipe.io.derivatives.evaluation_names`).

    Parameters
    ----------
    config : dict
        The merged workflow config, changed in place (sections that are
        absent or not mappings are left alone).

    Returns
    -------
    notes : list of str
        One line per section that used old names, saying what to write instead.
    """
    notes = []
    for kind, node in _evaluation_nodes(config):
        node["evaluations"] = evaluation_names(node["evaluations"], f"bci.{kind}.evaluations", notes=notes)
    return notes


def evaluation_problems(config):
    """``config bci.<kind>.evaluations: ...`` for each value that names no evaluation."""
    problems = []
    for kind, node in _evaluation_nodes(config):
        try:
            evaluation_names(node["evaluations"], f"bci.{kind}.evaluations", notes=[])
        except (TypeError, ValueError) as err:
            problems.append(f"config bci.{kind}.evaluations: {err}")
    return problems


def _evaluation_nodes(config):
    for kind in ("offline", "pseudo_online"):
        node = _get(config, "bci", kind)
        if isinstance(node, dict) and node.get("evaluations") is not None:
            yield kind, node


def _evaluation_names(kind, evaluations):
    """``bci.<kind>.evaluations`` in the new words, silently (the workflow notes old names once, at
    start); values that name no evaluation are left out (:func:`evaluation_problems` reports them)."""
    if isinstance(evaluations, str):
        evaluations = [evaluations]
    known = [e for e in evaluations if isinstance(e, str) and (e in EVALUATIONS or e in EVALUATION_ALIASES)] \
        if isinstance(evaluations, (list, tuple)) else []
    return evaluation_names(known, f"bci.{kind}.evaluations", notes=[])


def bci_skips(config, subject, runs_per_session):
    """Lines saying which configured BCI evaluations a subject's data leave out.

    Parameters
    ----------
    config : dict
    subject : str
        Label without ``sub-``.
    runs_per_session : dict of str to int
        Runs of each session (session key -> count).

    Returns
    -------
    notes : list of str
    """
    notes = []
    shape = (f"{len(runs_per_session)} session(s), runs per session "
             f"{sorted(runs_per_session.values())}")
    for kind in ("offline", "pseudo_online"):
        node = _get(config, "bci", kind, default={}) or {}
        if not node.get("enabled"):
            continue
        wanted = _evaluation_names(kind, node.get("evaluations") or [])
        kept = possible_evaluations(kind, wanted, runs_per_session)
        dropped = [e for e in wanted if e not in kept]
        why = ("cross-session needs 2 sessions" if "cross-session" in dropped else "")
        if "within-session" in dropped:
            why = "; ".join(filter(None, [why, "within-session (leave one run out) needs 2 runs in a session"]))
        if dropped and not kept:
            notes.append(f"bci.{kind} skipped for sub-{subject}: {dropped} impossible ({why}; {shape})")
        elif dropped:
            notes.append(f"bci.{kind}.evaluations {dropped} skipped for sub-{subject} ({why}; {shape})")
    return notes
