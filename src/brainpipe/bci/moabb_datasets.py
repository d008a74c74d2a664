"""MOABB datasets by name, with one clear line instead of retries when offline.

:func:`get_dataset` turns the workflow's dataset setting (a MOABB class
name, a BIDS folder, a list of FIF files, or a dataset object) into a
MOABB dataset; :func:`offline_guard` makes a download that fails for want of
internet stop at once naming the dataset, the host and ``MNE_DATA``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import mne
from moabb.datasets.base import BaseDataset

from .._check import BrainpipeInputError, input_error, validate_type
from ..io.offline import no_internet_guard
from .dataset import BIDSMotorImagery

__all__ = ["get_dataset", "offline_guard", "moabb_subject_labels", "resolve_subject"]


def get_dataset(source, **params):
    """Return a MOABB dataset: ours from a path (or FIF list), or MOABB's by name.

    Parameters
    ----------
    source : str | path-like | list of path-like
        A BIDS root folder or a list of FIF files (-> :class:`BIDSMotorImagery`),
        or the class name of a MOABB dataset (``"BNCI2014_001"``,
        ``"FakeDataset"``, ...). MOABB datasets download their data when first
        read, into ``MNE_DATA``.
    **params
        Keyword arguments of the dataset class (e.g. ``task=``, ``events=`` for
        ours; ``n_subjects=``, ``event_list=`` for ``FakeDataset``).

    Returns
    -------
    dataset : moabb.datasets.base.BaseDataset
    """
    if isinstance(source, (list, tuple)):
        return BIDSMotorImagery(list(source), **params)
    validate_type(
        source, (str, os.PathLike), "source", "path-like, list of paths or MOABB dataset name"
    )
    if Path(source).exists():
        return BIDSMotorImagery(source, **params)
    if isinstance(source, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source):
        import moabb.datasets

        cls = getattr(moabb.datasets, source, None)
        if isinstance(cls, type) and issubclass(cls, BaseDataset):
            return _guarded(cls(**params), source)
        raise ValueError(
            f"{source!r} is neither an existing path nor a MOABB dataset class name "
            "(e.g. 'BNCI2014_001', 'FakeDataset'; see moabb.datasets)."
        )
    raise input_error(source, "dataset path does not exist")


def offline_guard(name, subject=None):
    """A context in which a MOABB download without internet stops at once with one line.

    The line names the dataset and subject, the host tried, and says that
    ``MNE_DATA`` can point at a copy downloaded elsewhere
    (:func:`brainpipe.io.offline.no_internet_guard`).

    Parameters
    ----------
    name : str
        The MOABB dataset.
    subject : int | list of int | None
        The subject(s) being fetched.
    """
    if isinstance(subject, (list, tuple)):
        subject = ", ".join(map(str, subject))
    where = os.environ.get("MNE_DATA") or mne.get_config("MNE_DATA") or "unset"
    what = f"MOABB dataset {name}" + (f" subject {subject}" if subject is not None else "")
    return no_internet_guard(what, f"download it where there is internet and point MNE_DATA (now {where}) "
                             "at that copy")


def _guarded(dataset, name):
    """``dataset`` whose downloading methods run inside :func:`offline_guard`."""
    for method in ("get_data", "data_path", "download"):
        bound = getattr(dataset, method, None)
        if bound is None:
            continue

        def wrapper(*args, _bound=bound, **kwargs):
            subjects = args[0] if args else kwargs.get("subjects", kwargs.get("subject"))
            with offline_guard(name, subjects):
                return _bound(*args, **kwargs)

        setattr(dataset, method, wrapper)
    return dataset


def moabb_subject_labels(name, params=None, subjects="all"):
    """Subject labels (``"01"``, ...) of a MOABB dataset by name, without downloading.

    Parameters
    ----------
    name : str
        MOABB dataset class name (``"BNCI2014_001"``).
    params : dict | None
        Keyword arguments of the class (e.g. ``n_subjects`` of ``FakeDataset``).
    subjects : "all" | list of str
        The workflow's ``subjects``: labels or numbers as strings.

    Returns
    -------
    labels : list of str
        Two-digit labels of the kept subject numbers.

    Raises
    ------
    BrainpipeInputError
        When ``name`` is no MOABB dataset or a subject is not in it.
    """
    import moabb.datasets

    cls = getattr(moabb.datasets, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, BaseDataset)):
        raise BrainpipeInputError(f"config eeg.dataset: {name!r} is not a MOABB dataset class name "
                                  "(e.g. BNCI2014_001, FakeDataset; see moabb.datasets)")
    numbers = list(cls(**(params or {})).subject_list)
    if subjects not in (None, "all"):
        unknown = [s for s in subjects if not str(s).isdigit() or int(s) not in numbers]
        if unknown:
            raise BrainpipeInputError(f"config subjects: {unknown} are not subjects of {name} ({numbers})")
        numbers = [n for n in numbers if n in {int(s) for s in subjects}]
    return [f"{n:02d}" for n in numbers]


def resolve_subject(dataset, subject):
    """Return the MOABB subject number of ``subject`` for ``dataset``.

    Parameters
    ----------
    dataset : moabb.datasets.base.BaseDataset
    subject : int | str
        A number, or a BIDS label (``"01"``; for MOABB's own datasets a
        numeric label is read as the number).
    """
    if isinstance(dataset, BIDSMotorImagery):
        return dataset._subject_number(subject)
    if isinstance(subject, str) and subject.isdigit():
        subject = int(subject)
    known = isinstance(subject, int) and not isinstance(subject, bool)
    if not known or subject not in dataset.all_subjects:
        raise ValueError(
            f"Unknown subject {subject!r} for dataset {dataset.code}: "
            f"subjects are {dataset.all_subjects}."
        )
    return subject
