"""The recordings: EEG runs (events, integrity, samples), BOLD and T1w NIfTI images."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import MAX_READ_BYTES, MAX_TR, _get, _number, _read_tsv
from .tree import _events_problems

def _metadata(path):
    """The file's JSON metadata with BIDS inheritance; {} when a sidecar is broken
    (the tree check reports which)."""
    from ..layout import sidecar_metadata

    try:
        return sidecar_metadata(path)
    except ValueError:
        return {}


def _eeg_info(rec):
    """Channel count and rate from the header or sidecar (None when unknown)."""
    sfreq = _metadata(rec).get("SamplingFrequency")
    channels = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_channels.tsv")
    n_chan = None
    if channels.exists():
        table = _read_tsv(channels, [])
        if table is not None and "type" in table.columns:
            n_chan = int((table["type"].astype(str).str.upper() == "EEG").sum()) or None
    return (float(sfreq) if _number(sfreq) and sfreq > 0 else None), n_chan


def _check_eeg(rec, config, problems, read_data):
    """Check one EEG recording; return a summary dict for the config checks."""
    from ..._check import BrainpipeInputError as Err
    from ...eeg.integrity import check_recording

    info = {"path": rec, "sfreq": None, "n_chan": None, "min_task_s": None, "trial_types": None,
            "events": None, "ch_names": None, "zero_durations": False}
    events = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_events.tsv")
    if not events.exists():
        problems.append(f"{rec}: no events file ({events.name})")
        return info
    n_before = len(problems)
    ev = _events_problems(events, problems)
    info["sfreq"], info["n_chan"] = _eeg_info(rec)
    if ev is not None:
        info["events"] = events
        info["trial_types"] = set(ev["trial_type"].dropna().astype(str))
        dur = pd.to_numeric(ev.get("duration", pd.Series(dtype=float)), errors="coerce")
        info["zero_durations"] = bool(len(dur) and not (dur > 0).any())
    if ev is not None and "duration" in ev.columns:
        dur = pd.to_numeric(ev["duration"], errors="coerce")
        task = ~ev["trial_type"].astype(str).str.startswith(("BAD", "EDGE", "n/a")) & (dur > 0)
        info["min_task_s"] = float(dur[task].min()) if task.any() else None
    wanted = _get(config or {}, "eeg", "events")
    if ev is not None and isinstance(wanted, dict) and wanted:
        found = set(ev["trial_type"].dropna().astype(str))
        if not found & set(map(str, wanted)):
            problems.append(f"{events}: none of the configured eeg.events {sorted(map(str, wanted))} occurs "
                            f"(trial_type values: {sorted(found)[:10]})")
    if len(problems) > n_before:
        return info
    try:
        check_recording(rec)
    except Err as err:
        problems.append(str(err))
        return info
    if read_data:
        _check_eeg_samples(rec, config, problems, info)
    return info


def _check_eeg_samples(rec, config, problems, info):
    import mne

    try:
        raw = mne.io.read_raw(rec, preload=True, verbose="error")
    except Exception as err:  # MNE readers raise many types: name the file
        problems.append(f"{rec}: could not be read ({type(err).__name__}: {err})")
        return
    info["sfreq"] = float(raw.info["sfreq"])
    picks = mne.pick_types(raw.info, eeg=True, exclude=[])
    if len(picks) == 0:
        problems.append(f"{rec}: has no EEG channels")
        return
    info["n_chan"] = len(picks)
    info["ch_names"] = [raw.ch_names[i] for i in picks]
    channels = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_channels.tsv")
    table = _read_tsv(channels, []) if channels.exists() else None
    if table is not None and "name" in table.columns:
        listed = [str(n) for n in table["name"]]
        if sorted(listed) != sorted(raw.ch_names):
            missing = sorted(set(raw.ch_names) - set(listed))[:5]
            extra = sorted(set(listed) - set(raw.ch_names))[:5]
            problems.append(f"{channels}: lists {len(listed)} channels, {rec.name} has {len(raw.ch_names)}; "
                            f"not listed: {missing}, not in the recording: {extra}")
    data = raw.get_data(picks=picks)
    finite = np.isfinite(data)
    if not finite.all():
        bad = [raw.ch_names[picks[i]] for i in np.where(~finite.all(axis=1))[0]]
        problems.append(f"{rec}: NaN or infinite samples in channels {bad}")
        return
    threshold = _get(config or {}, "eeg", "preprocess", "flat_threshold", default=1e-7)
    std = data.std(axis=1)
    flat = [raw.ch_names[picks[i]] for i in np.where(std < threshold)[0]]
    if len(flat) > len(picks) // 2:
        problems.append(f"{rec}: {len(flat)} of {len(picks)} EEG channels are flat (SD < {threshold:g} V): "
                        f"{flat[:10]}")


def _nifti_problems(path, problems, read_data):
    """Load a NIfTI header (and stream its data); return the image or None."""
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as err:  # nibabel raises several types: name the file
        problems.append(f"{path}: not a readable NIfTI image ({type(err).__name__}: {err})")
        return None
    expected = int(np.prod(img.shape)) * img.get_data_dtype().itemsize + int(img.dataobj.offset)
    try:
        if str(path).endswith(".gz"):
            if not read_data:
                return img
            size = 0
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    size += len(chunk)
        else:
            size = Path(path).stat().st_size
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        problems.append(f"{path}: the compressed data are corrupt or truncated ({type(err).__name__}: {err})")
        return None
    if size < expected:
        problems.append(f"{path}: truncated: {size} bytes of data, the header's shape {img.shape} needs {expected}")
        return None
    if read_data and expected < MAX_READ_BYTES:
        try:
            data = np.asanyarray(img.dataobj)
        except Exception as err:  # nibabel/zlib raise several types: name the file
            problems.append(f"{path}: the image data cannot be read ({type(err).__name__}: {err})")
            return None
        if not np.all(np.isfinite(data)):
            problems.append(f"{path}: {int((~np.isfinite(data)).sum())} voxel values are NaN or infinite")
        elif data.size and data.min() == data.max():
            problems.append(f"{path}: every voxel has the value {float(data.flat[0])!r}: an empty image")
    return img


def _check_bold(bold, problems, read_data):
    info = {"path": bold, "tr": None, "n_vols": None, "img": None}
    img = _nifti_problems(bold, problems, read_data)
    sidecar = bold.with_name(bold.name.split(".nii")[0] + ".json")
    tr = _metadata(bold).get("RepetitionTime")
    if tr is None:
        problems.append(f"{bold}: no RepetitionTime in {sidecar.name} or in a sidecar above it that applies "
                        "(BIDS inheritance, e.g. task-<label>_bold.json at the root; TR is needed for filtering)")
    elif not _number(tr) or tr <= 0:
        problems.append(f"{sidecar}: RepetitionTime must be a positive number of seconds, got {tr!r}")
    elif tr > MAX_TR:
        problems.append(f"{sidecar}: RepetitionTime {tr!r} s is implausible (> {MAX_TR:g} s): "
                        "BIDS gives it in seconds, not milliseconds")
    else:
        info["tr"] = float(tr)
    if img is None:
        return info
    shape = img.shape
    if len(shape) != 4 or shape[3] < 2:
        problems.append(f"{bold}: expected a 4D NIfTI with at least 2 volumes, got shape {shape}")
        return info
    info["n_vols"], info["img"] = int(shape[3]), img
    zooms = img.header.get_zooms()
    units = img.header.get_xyzt_units()[1]
    header_tr = float(zooms[3]) * (1e-3 if units == "msec" else 1.0) if len(zooms) > 3 else 0.0
    if info["tr"] and header_tr > 0 and not math.isclose(header_tr, info["tr"], rel_tol=0.01):
        problems.append(f"{bold}: the NIfTI header's TR ({header_tr:g} s) differs from RepetitionTime "
                        f"{info['tr']:g} s in {sidecar.name}")
    return info


def _check_t1(t1, problems, read_data):
    img = _nifti_problems(t1, problems, read_data)
    if img is not None and len([s for s in img.shape if s > 1]) != 3:
        problems.append(f"{t1}: expected a 3D image, got shape {img.shape}")


def _run_consistency(eeg):
    """Every EEG run of a subject has the first run's rate and channels."""
    problems, first = [], {}
    for e in eeg:
        sub = next((p.name for p in Path(e["path"]).parents if p.name.startswith("sub-")), "?")
        if e["sfreq"] is None:
            continue
        ref = first.setdefault(sub, e)
        if ref is e:
            continue
        if not math.isclose(e["sfreq"], ref["sfreq"], rel_tol=1e-6):
            problems.append(f"{e['path']}: sampled at {e['sfreq']:g} Hz, {Path(ref['path']).name} at "
                            f"{ref['sfreq']:g} Hz: the runs of {sub} must share one rate")
        elif e["ch_names"] and ref["ch_names"] and e["ch_names"] != ref["ch_names"]:
            problems.append(f"{e['path']}: its EEG channels differ from {Path(ref['path']).name}'s "
                            f"({sorted(set(e['ch_names']) ^ set(ref['ch_names']))[:6]} differ, or their order)")
    return problems


