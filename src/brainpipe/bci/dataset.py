"""MOABB datasets: a motor-imagery BIDS EEG dataset (raw BIDS or FIF files), or one by name.

MOABB 1.7 ships :class:`moabb.datasets.base.LocalBIDSDataset` for a local BIDS
folder. We build on its base, :class:`~moabb.datasets.base.BaseBIDSDataset`
(same file search with :func:`mne_bids.find_matching_paths`, same reading with
:func:`mne_bids.read_raw_bids`), and add what our workflow needs:

* the same dataset from a list of preprocessed FIF files
  (``sub-01_ses-1_task-imagery_run-1_desc-preproc_eeg.fif``, cues kept as
  annotations), the entities read from the file names;
* integer subject numbers (MOABB formats subjects with ``{:d}``) mapped to
  BIDS labels (``1 <-> "01"``);
* session and run keys that always satisfy MOABB's naming rule (start with
  an integer), whatever the BIDS labels are;
* an error naming the file when a run has none of the expected events;
* the dataset's own event names mapped to the paradigm's classes
  (``events={"auditory/left": "left_hand", ...}``, the workflow's
  ``eeg.events``);
* for MOABB's own datasets, a download that fails for want of internet
  stops at once with one line (:func:`offline_guard`), not MOABB's retries.

Events reach MOABB as annotations (``trial_type`` of ``events.tsv``, or the
FIF annotations) at cue onset; MOABB's ``SetRawAnnotations`` / ``RawToEvents``
turn them into events with the integer codes of ``events``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import logging

import mne
import mne_bids
import pandas as pd
from moabb.datasets.base import BaseBIDSDataset

from .._check import check_file, input_error, validate_type
from ..io.layout import EEG_RAW_EXTENSIONS
from .labels import DEFAULT_EVENTS

__all__ = ["BIDSMotorImagery", "DEFAULT_EVENTS", "get_dataset", "moabb_subject_labels", "offline_guard",
           "resolve_subject"]


logger = logging.getLogger(__name__)

# MOABB session/run keys: an integer, optionally followed by letters/digits.
_MOABB_KEY = re.compile(r"([0-9]+)(|[a-zA-Z]+[a-zA-Z0-9]*)")


@dataclass(frozen=True)
class _Record:
    """One continuous run on disk."""

    subject: str
    session: str | None
    run: str | None
    path: Path
    bids_path: mne_bids.BIDSPath | None  # None for FIF-list mode


class BIDSMotorImagery(BaseBIDSDataset):
    """A motor-imagery EEG dataset in BIDS, as a MOABB dataset.

    MOABB paradigms (``LeftRightImagery``, ``MotorImagery``) and evaluations
    (``WithinSessionEvaluation``, ``CrossSessionEvaluation``) run on it
    unchanged.

    Parameters
    ----------
    source : path-like | list of path-like
        Either the root of a BIDS dataset (raw EEG, read with
        :func:`mne_bids.read_raw_bids`), or a list of FIF files named with
        BIDS entities (``sub-XX[_ses-Y]_task-T[_run-Z]..._eeg.fif``) whose
        annotations carry the cues (e.g. our ``desc-preproc`` outputs).
    task : str | None
        BIDS task to keep (``None`` keeps every task). In FIF mode, a file of
        another task is an error.
    events : dict of str to int | list of str | dict of str to str | None
        Cue names (``trial_type``) and the integer codes MOABB uses. A list
        is numbered from 1. A mapping of str to str maps the dataset's own
        ``trial_type`` values to class names (``{"auditory/left":
        "left_hand"}``): the cues are renamed as the runs are read (raw BIDS
        mode; FIF files are taken to carry class names already, as our
        preprocessing writes them), the classes numbered from 1 in order.
        Default: :data:`DEFAULT_EVENTS`.
    interval : tuple of float, shape (2,)
        Imagery period relative to the cue, in seconds (MOABB's
        ``dataset.interval``; paradigms epoch ``tmin``/``tmax`` inside it).
    subjects : list of (str | int) | None
        Subjects to keep, as BIDS labels (``"01"``) or numbers (``1``).
        ``None`` keeps all.
    code : str
        MOABB dataset code (CamelCase, dashes allowed); names the dataset in
        MOABB's results.
    datatype : str
        BIDS datatype/suffix of the recordings (raw BIDS mode).
    description : str | None
        BIDS ``desc`` entity to keep (raw BIDS mode, e.g. for a derivatives
        root). ``None`` keeps all.

    Attributes
    ----------
    subject_labels : dict of int to str
        MOABB subject number -> BIDS subject label.
    mode : str
        ``"bids"`` or ``"fif"``.
    """

    def __init__(
        self,
        source,
        *,
        task="imagery",
        events=None,
        interval=(0.0, 4.0),
        subjects=None,
        code="BIDSMotorImagery",
        datatype="eeg",
        description=None,
    ):
        self.source = source
        self.task = task
        self.datatype = datatype
        self.description = description
        self.rename = _rename_mapping(events)
        events = _event_mapping(list(dict.fromkeys(self.rename.values())) if self.rename else events)
        interval = _check_interval(interval)

        if isinstance(source, (list, tuple)):
            self.mode = "fif"
            records = _records_from_fif(source, task)
        else:
            validate_type(source, (str, os.PathLike), "source", "path-like or list of paths")
            self.mode = "bids"
            root = check_file(source, "BIDS root")
            if not root.is_dir():
                raise input_error(root, "expected a BIDS root folder or a list of FIF files")
            records = _records_from_bids(root, task, datatype, description)

        labels = sorted({r.subject for r in records})
        self.subject_labels = _number_subjects(labels)
        self._records = records
        numbers = sorted(self.subject_labels)
        selected = None
        if subjects is not None:
            selected = [self._subject_number(s) for s in subjects]
        kept = selected if selected is not None else numbers
        n_sessions = min(
            len({r.session for r in records if r.subject == self.subject_labels[n]})
            for n in kept
        )
        super().__init__(
            subjects=numbers,
            sessions_per_subject=n_sessions,
            events=events,
            code=code,
            interval=list(interval),
            paradigm="imagery",
            doi=None,
            unit_factor=1e6,  # files are in volts; MOABB works in microvolts
            selected_subjects=selected,
        )

    # -- subjects -------------------------------------------------------------
    def _subject_number(self, subject):
        """Map a BIDS label (``"01"``) or a number (``1``) to the MOABB subject number."""
        if isinstance(subject, str):
            for number, label in self.subject_labels.items():
                if label == subject:
                    return number
            raise ValueError(
                f"Unknown subject {subject!r}: this dataset has subjects "
                f"{sorted(self.subject_labels.values())}."
            )
        if isinstance(subject, bool) or not isinstance(subject, int):
            raise TypeError(
                f"subject must be a BIDS label (str) or a number (int), got {subject!r}."
            )
        if subject not in self.subject_labels:
            raise ValueError(
                f"Unknown subject number {subject}: this dataset has "
                f"{sorted(self.subject_labels)} (labels {sorted(self.subject_labels.values())})."
            )
        return subject

    def subject_label(self, subject):
        """Return the BIDS label of a MOABB subject number (or of a label)."""
        return self.subject_labels[self._subject_number(subject)]

    def _subject_records(self, subject):
        label = self.subject_label(subject)
        return [r for r in self._records if r.subject == label]

    # -- what MOABB calls -----------------------------------------------------
    def _download_subject(self, subject, path, force_update, update_path, verbose):
        # Local data: nothing to download, the "download" root is the source.
        if self.mode == "bids":
            return str(self.source)
        return str(Path(os.path.commonpath([str(r.path.parent) for r in self._records])))

    def bids_paths(self, subject, path=None, force_update=False, update_path=None, verbose=None):
        """Return the :class:`mne_bids.BIDSPath` of every run of ``subject`` (raw BIDS mode)."""
        if self.mode != "bids":
            raise RuntimeError(
                "This dataset was built from a list of FIF files, which has no BIDS "
                "root; use data_path(subject) for the file paths."
            )
        return [r.bids_path for r in self._subject_records(subject)]

    def data_path(self, subject, path=None, force_update=False, update_path=None, verbose=None):
        """Return the paths of the recordings of ``subject`` (list of str)."""
        return [str(r.path) for r in self._subject_records(subject)]

    def _get_single_subject_data(self, subject):
        """Read every run of one subject: ``{session: {run: raw}}`` (keys are MOABB-valid str)."""
        records = self._subject_records(subject)
        session_keys = _moabb_keys([r.session for r in records])
        data = {}
        for session in sorted(session_keys, key=lambda s: (s is None, s)):
            in_session = [r for r in records if r.session == session]
            run_keys = _moabb_keys([r.run for r in in_session])
            runs = {}
            for record in in_session:
                key = run_keys[record.run]
                if key in runs:
                    raise input_error(
                        record.path,
                        f"two recordings map to session {session!r}, run {record.run!r} of "
                        f"subject {record.subject!r}; give each run its own run- entity",
                    )
                runs[key] = self._read_run(record)
            data[session_keys[session]] = runs
        return data

    def _read_run(self, record):
        # MOABB reads every run before it fits anything: one line per run in the step's log
        logger.info("reading %s", record.path.name)
        if record.bids_path is not None:
            raw = mne_bids.read_raw_bids(record.bids_path, verbose="error")
        else:
            raw = mne.io.read_raw_fif(record.path, preload=False, verbose="error")
        # MOABB filters in place: the data must be in memory.
        raw.load_data(verbose="error")
        if self.rename and record.bids_path is not None:
            ann = raw.annotations
            raw.set_annotations(mne.Annotations(
                ann.onset, ann.duration, [self.rename.get(d, d) for d in ann.description],
                orig_time=ann.orig_time, ch_names=ann.ch_names))
        found = set(raw.annotations.description)
        if not found & set(self.event_id):
            where = "trial_type in events.tsv" if record.bids_path is not None else "annotations"
            raise input_error(
                record.path,
                f"no cue among {sorted(self.event_id)} ({where}); found "
                f"{sorted(found)[:10] if found else 'no events at all'}",
            )
        stim = mne.pick_types(raw.info, meg=False, stim=True)
        if len(stim):
            # With a stim channel MOABB reads events from it, not from the
            # annotations that carry our cues: drop it.
            raw.drop_channels([raw.ch_names[i] for i in stim])
        return raw

    def get_additional_metadata(self, subject, session, run):
        """Rows of ``events.tsv`` for the cues of one run (raw BIDS mode), else ``None``.

        Returns
        -------
        metadata : pandas.DataFrame | None
            Columns of ``events.tsv`` plus ``subject``, ``session`` and ``run``.
        """
        if self.mode != "bids":
            return None
        records = self._subject_records(subject)
        session_keys = _moabb_keys([r.session for r in records])
        for r in records:
            run_keys = _moabb_keys([x.run for x in records if x.session == r.session])
            if session_keys[r.session] == session and run_keys[r.run] == run:
                events_tsv = r.bids_path.find_matching_sidecar(
                    suffix="events", extension=".tsv", on_error="ignore"
                )
                if events_tsv is None:
                    return None
                table = pd.read_csv(events_tsv, sep="\t", na_values="n/a", dtype={"trial_type": str})
                if self.rename:
                    table["trial_type"] = table["trial_type"].map(lambda t: self.rename.get(t, t))
                table = table[table["trial_type"].isin(list(self.event_id))]
                return table.assign(subject=subject, session=session, run=run)
        return None


def _rename_mapping(events):
    """``{dataset trial_type: class name}`` when ``events`` is such a mapping, else ``{}``."""
    if not isinstance(events, dict) or not events or not all(isinstance(v, str) for v in events.values()):
        return {}
    bad = [k for k, v in events.items() if not isinstance(k, str) or not v]
    if bad:
        raise ValueError(f"events must map trial_type values (str) to class names (str), got {events!r}.")
    return dict(events)


def _event_mapping(events):
    if events is None:
        return dict(DEFAULT_EVENTS)
    if isinstance(events, (list, tuple)):
        if not events or not all(isinstance(e, str) for e in events):
            raise ValueError(f"events must be a non-empty list of cue names, got {events!r}.")
        return {name: i + 1 for i, name in enumerate(events)}
    validate_type(events, dict, "events", "dict of str to int or list of str")
    if not events:
        raise ValueError("events must name at least one cue (trial_type), got an empty dict.")
    bad = {k: v for k, v in events.items() if isinstance(v, bool) or not isinstance(v, int)}
    if bad or not all(isinstance(k, str) for k in events):
        raise ValueError(f"events must map cue names (str) to integer codes, got {events!r}.")
    if len(set(events.values())) != len(events):
        raise ValueError(f"events codes must be distinct, got {events!r}.")
    return dict(events)


def _check_interval(interval):
    try:
        tmin, tmax = (float(t) for t in interval)
    except (TypeError, ValueError):
        raise ValueError(
            f"interval must be two numbers (tmin, tmax) in seconds, got {interval!r}."
        ) from None
    if not tmax > tmin:
        raise ValueError(f"interval must have tmax > tmin, got {interval!r}.")
    return tmin, tmax


def _records_from_bids(root, task, datatype, description):
    search = dict(datatypes=datatype, suffixes=datatype, extensions=list(EEG_RAW_EXTENSIONS))
    if task is not None:
        search["tasks"] = task
    if description is not None:
        search["descriptions"] = description
    paths = BaseBIDSDataset._find_matching_paths(root=root, **search)
    if not paths:
        raise input_error(
            root,
            f"no {datatype} recordings found for task {task!r}"
            + (f" and desc {description!r}" if description else "")
            + " (expected sub-*/[ses-*/]" + f"{datatype}/sub-*_task-{task}_*_{datatype}.<ext>)",
        )
    return [
        _Record(p.subject, p.session, p.run, Path(p.fpath), p) for p in paths
    ]


def _records_from_fif(files, task):
    if not files:
        raise ValueError("source is an empty list: give a BIDS root or at least one FIF file.")
    records = []
    for f in files:
        path = check_file(f, "FIF recording")
        if not path.name.endswith(".fif"):
            raise input_error(path, "expected a .fif file (or give a BIDS root folder instead)")
        entities = mne_bids.get_entities_from_fname(path.name, on_error="ignore")
        if not entities.get("subject"):
            raise input_error(path, "file name has no sub-<label> entity")
        if task is not None and entities.get("task") != task:
            raise input_error(path, f"file is for task {entities.get('task')!r}, expected {task!r}")
        records.append(
            _Record(entities["subject"], entities.get("session"), entities.get("run"), path, None)
        )
    return records


def _number_subjects(labels):
    """MOABB wants integer subjects: use the numeric labels when they are distinct, else 1..N."""
    if all(label.isdigit() for label in labels) and len({int(x) for x in labels}) == len(labels):
        return {int(label): label for label in labels}
    return {i + 1: label for i, label in enumerate(labels)}


def _moabb_keys(labels):
    """Map BIDS session/run labels (or ``None``) to keys MOABB accepts.

    MOABB wants "integer + optional letters" with distinct integers. Labels
    that already qualify are kept (``"1"``, ``"2"``); otherwise every label gets
    its rank in front (``"pre" -> "0pre"``, ``"post" -> "1post"``). A missing
    entity becomes ``"0"`` as in MOABB's own BIDS reader.
    """
    unique = sorted({x for x in labels if x is not None})
    has_none = None in labels
    indices = [int(m.group(1)) for m in map(_MOABB_KEY.fullmatch, unique) if m]
    if len(indices) == len(unique) and len(set(indices) | ({0} if has_none else set())) == len(
        unique
    ) + has_none:
        keys = {x: x for x in unique}
    else:
        offset = int(has_none)
        # an "x" keeps a label that starts with a digit from merging into the rank
        keys = {
            x: f"{i + offset}{'x' if x[0].isdigit() else ''}{x}" for i, x in enumerate(unique)
        }
    if has_none:
        keys[None] = "0"
    return keys

# MOABB datasets by name: their own module, imported last (it builds BIDSMotorImagery).
from .moabb_datasets import get_dataset, moabb_subject_labels, offline_guard, resolve_subject  # noqa: E402,F401
