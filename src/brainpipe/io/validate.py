"""Up-front checks of a BIDS input dataset and of a workflow config.

``brainpipe validate BIDS_ROOT [--configfile CONFIG]`` runs them, and the
workflow runs it first (``onstart``), so that a problem visible before any
work is reported in seconds, with the file (or config key) named, instead of
minutes in, after preprocessing. What is checked (each check is a row of
``docs/bad_inputs.md``):

* the dataset: ``dataset_description.json``, every JSON and TSV file parses,
  file and folder names are valid BIDS entity values (alphanumeric labels;
  no spaces or shell syntax), no symlink or file reference (BrainVision
  ``DataFile``/``MarkerFile``, ``scans.tsv`` filenames, ``IntendedFor``)
  leaves the dataset root;
* participants.tsv: the demographic columns, unique ids, numeric and
  possible ages, every subject folder listed;
* EEG: events present, with numeric onsets and task events; the data on
  disk as long as the header and sidecar say (:mod:`brainpipe.eeg.integrity`);
  no NaN/inf samples; not mostly flat;
* BOLD and T1w: readable NIfTI (the compressed stream read to its end),
  4-D BOLD with a positive TR in seconds, 3-D T1w;
* with a config: what the configured workflow implies: filter edges below
  the Nyquist frequency of each recording, band edges and epoch windows in
  order, pipelines that exist and build, ACM orders and lags that fit the
  windows, a BOLD long enough for the high-pass and the dFC window, the
  atlas readable and overlapping the BOLD, the confounds with the configured
  columns and one row per volume, the prediction targets in participants.tsv.

The official BIDS validator (``bids-validator-deno``) runs too when asked.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import BrainpipeInputError

EEG_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".fif")
#: A BIDS label (entity value, suffix): letters and digits only.
LABEL = re.compile(r"^[A-Za-z0-9]+$")
#: Folders inside a BIDS root that the tree checks skip: no raw data, or
#: other tools' derivatives (what the config uses from them is checked on its own).
SKIP_DIRS = {"sourcedata", "code", "stimuli", "phenotype", "derivatives"}
#: Ages outside this range (years) are refused as impossible.
AGE_RANGE = (0.0, 120.0)
#: A BOLD TR above this (s) is taken for milliseconds.
MAX_TR = 30.0
#: Images up to this size (uncompressed bytes) are read whole for NaN/empty checks.
MAX_READ_BYTES = 2 * 1024**3


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
#: Mappings under these keys replace the default mapping whole instead of
#: being merged into it: a user's list of pipelines is the list that runs.
REPLACED_KEYS = ("pipelines",)


def merge_config(base, override):
    """Merge ``override`` over ``base`` as the workflow merges ``--configfile``.

    Nested dictionaries are merged key by key (Snakemake's rule), except the
    mappings named in :data:`REPLACED_KEYS` (``pipelines``), which replace the
    default mapping whole; every other value (lists included) replaces the
    base value.
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_KEYS:
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def replace_whole_mappings(config, overrides):
    """Give ``config`` (already merged by Snakemake) the user's ``pipelines`` mappings whole.

    Snakemake merges every nested mapping of a ``--configfile`` into the
    default config, so a user listing two pipelines would also run the
    defaults. For each override (a parsed config file, in order), every
    mapping under a key of :data:`REPLACED_KEYS` is copied over the merged
    value. Modifies and returns ``config``.
    """

    def walk(target, source):
        for key, value in source.items():
            if key in REPLACED_KEYS and isinstance(target, dict):
                target[key] = copy.deepcopy(value)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                walk(target[key], value)

    for override in overrides:
        if isinstance(override, dict):
            walk(config, override)
    return config


def load_config(configfiles, *, base=None):
    """Read and merge config YAML files, in order, over ``base``.

    Parameters
    ----------
    configfiles : sequence of path-like
        YAML (or JSON) files, later ones winning.
    base : dict | path-like | None
        Config (or file) the others are merged over, e.g. the workflow's
        ``config/config.yaml``.

    Returns
    -------
    config : dict
    """
    import yaml

    def read(path):
        path = Path(path)
        if not path.is_file():
            raise BrainpipeInputError(f"{path}: config file does not exist")
        try:
            # JSON through json: PyYAML reads JSON's 1e-07 as a string
            value = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            raise BrainpipeInputError(f"{path}: not valid YAML/JSON ({err})") from err
        if not isinstance(value, dict):
            raise BrainpipeInputError(f"{path}: a config must be a mapping of keys to values")
        return value

    config = read(base) if isinstance(base, (str, os.PathLike)) else dict(base or {})
    for path in configfiles:
        config = merge_config(config, read(path))
    return config


def _get(config, *keys, default=None):
    node = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------
def _walk(root):
    """Every file and folder under ``root`` except hidden ones and SKIP_DIRS."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not (Path(dirpath) == root and d in SKIP_DIRS)
        )
        for name in [*dirnames, *sorted(filenames)]:
            if not name.startswith("."):
                yield Path(dirpath) / name


def name_problems(path):
    """Problems of one file or folder name as BIDS entity values, or ``[]``.

    ``sub-``/``ses-`` folders and every ``key-value_..._suffix.ext`` name
    starting with ``sub-`` must use alphanumeric labels. Names elsewhere
    must not hold whitespace, quotes or shell syntax.
    """
    name = path.name
    if re.search(r"[\s'\"`$;&|<>(){}\\*?!\[\]]", name) or any(ord(c) < 32 for c in name):
        return [f"{path}: the name holds whitespace, quotes or shell syntax; BIDS names use only "
                "letters, digits, '-', '_' and '.'"]
    if path.is_dir():
        if name.startswith(("sub-", "ses-")) and not LABEL.match(name.split("-", 1)[1]):
            return [f"{path}: '{name.split('-', 1)[1]}' is not a valid BIDS label (letters and digits only)"]
        return []
    if not name.startswith("sub-"):
        return []
    stem = name.split(".", 1)[0]
    parts = stem.split("_")
    problems = []
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if not sep or not LABEL.match(key) or not LABEL.match(value):
            problems.append(f"{path}: '{part}' is not a valid BIDS entity (key-label, letters and digits only)")
    if not LABEL.match(parts[-1]):
        problems.append(f"{path}: '{parts[-1]}' is not a valid BIDS suffix (letters and digits only)")
    return problems


def _check_tree(root, problems):
    for path in _walk(root):
        problems.extend(name_problems(path))
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            if target != root and root not in target.parents:
                problems.append(f"{path}: symlink points outside the dataset root, to {target}")
            elif not target.exists():
                problems.append(f"{path}: broken symlink (to {target})")
            continue
        if not path.is_file():
            continue
        if path.suffix == ".json":
            try:
                value = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                problems.append(f"{path}: not valid JSON ({err})")
                continue
            except OSError as err:
                problems.append(f"{path}: cannot be read ({err.strerror or err})")
                continue
            if isinstance(value, dict):
                _check_intended_for(path, value, root, problems)
        elif path.suffix == ".tsv":
            _read_tsv(path, problems)
        if path.name.endswith("_scans.tsv"):
            _check_scans(path, root, problems)


def _check_intended_for(path, meta, root, problems):
    targets = meta.get("IntendedFor")
    if targets is None:
        return
    for target in [targets] if isinstance(targets, str) else list(targets):
        if not isinstance(target, str):
            problems.append(f"{path}: IntendedFor entries must be strings, got {target!r}")
            continue
        if target.startswith("bids::"):
            resolved = (root / target[len("bids::"):]).resolve()
        else:  # legacy: relative to the subject folder
            sub = next((p for p in path.parents if p.name.startswith("sub-")), root)
            resolved = (sub / target).resolve()
        if resolved != root and root not in resolved.parents:
            problems.append(f"{path}: IntendedFor {target!r} points outside the dataset root")


def _check_scans(path, root, problems):
    table = _read_tsv(path, [])
    if table is None or "filename" not in table.columns:
        return
    for name in table["filename"].astype(str):
        resolved = (path.parent / name).resolve()
        if resolved != root and root not in resolved.parents:
            problems.append(f"{path}: filename {name!r} points outside the dataset root")


def _read_tsv(path, problems, **kwargs):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}: not a readable UTF-8 TSV table ({err})")
        return None
    if lines:
        width = len(lines[0].split("\t"))
        for i, line in enumerate(lines[1:], start=2):
            if line and len(line.split("\t")) != width:
                problems.append(f"{path}: not a readable TSV table: line {i} has {len(line.split(chr(9)))} "
                                f"tab-separated fields, the header has {width}")
                return None
    try:
        # BIDS TSV has no quoting (QUOTE_NONE = 3): a quote is a character of its cell
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, index_col=False, quoting=3,
                           **kwargs)
    except pd.errors.EmptyDataError:
        problems.append(f"{path}: empty file (a TSV needs at least a header line)")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        problems.append(f"{path}: not a readable TSV table ({str(err).strip()})")
    return None


def _check_participants(root, demographics, problems):
    part = root / "participants.tsv"
    if not part.exists():
        if demographics:
            problems.append(f"{part}: missing (demographics {list(demographics)} are needed)")
        return None
    df = _read_tsv(part, problems, dtype=str)
    if df is None:
        return None
    missing = [c for c in ("participant_id", *demographics) if c not in df.columns]
    if missing:
        problems.append(f"{part}: missing columns {missing}")
    if "participant_id" in df.columns:
        dup = sorted(df.loc[df["participant_id"].duplicated(), "participant_id"].astype(str).unique())
        if dup:
            problems.append(f"{part}: participant_id listed more than once: {dup}")
        listed = set(df["participant_id"].astype(str))
        for sub in sorted(p for p in root.glob("sub-*") if p.is_dir()):
            if sub.name not in listed:
                problems.append(f"{part}: {sub.name} has data but no row (its demographics are unknown)")
    if "participant_id" in df.columns:
        with_data = {p.name for p in root.glob("sub-*") if p.is_dir()}
        for column in demographics:
            if column not in df.columns:
                continue
            empty = df.loc[df[column].isna() & df["participant_id"].isin(with_data), "participant_id"]
            if len(empty):
                problems.append(f"{part}: column {column!r} is n/a or empty for {sorted(empty)[:10]}, "
                                "who have data")
    if "age" in df.columns:
        values = df["age"].dropna()
        age = pd.to_numeric(values, errors="coerce")
        junk = values[age.isna()]
        if len(junk):
            problems.append(
                f"{part}: column 'age' must be numeric (years); row {junk.index[0] + 2} has {junk.iloc[0]!r}"
            )
        bad = values[(age < AGE_RANGE[0]) | (age > AGE_RANGE[1]) | ~np.isfinite(age.fillna(0))]
        if len(bad):
            problems.append(
                f"{part}: impossible age {bad.iloc[0]!r} (row {bad.index[0] + 2}); ages must lie in "
                f"[{AGE_RANGE[0]:g}, {AGE_RANGE[1]:g}] years"
            )
    return df


def _events_problems(events, problems, non_task=("BAD", "EDGE", "bad", "edge", "n/a")):
    ev = _read_tsv(events, problems, dtype={"trial_type": str})
    if ev is None:
        return None
    if "onset" not in ev.columns or "trial_type" not in ev.columns:
        problems.append(f"{events}: needs 'onset' and 'trial_type' columns (has {list(ev.columns)})")
        return None
    if ev.empty:
        problems.append(f"{events}: no events (at least one task event is needed)")
        return None
    onset = pd.to_numeric(ev["onset"], errors="coerce")
    bad = ev["onset"][onset.isna() | ~np.isfinite(onset.fillna(0)) | (onset < 0)]
    if len(bad):
        problems.append(f"{events}: onset must be a finite number of seconds >= 0; row {bad.index[0] + 2} "
                        f"has {bad.iloc[0]!r}")
    if "duration" in ev.columns:
        dur = pd.to_numeric(ev["duration"], errors="coerce")
        bad = ev["duration"][(dur < 0) | (ev["duration"].notna() & dur.isna())]
        if len(bad):
            problems.append(f"{events}: duration must be a number of seconds >= 0 or n/a; row "
                            f"{bad.index[0] + 2} has {bad.iloc[0]!r}")
    names = ev["trial_type"].dropna().astype(str)
    task = sorted({n for n in names if not n.startswith(non_task)})
    if not task:
        problems.append(f"{events}: no task events: every trial_type is empty, n/a or a BAD/EDGE marker")
    return ev


def _eeg_info(rec):
    """Channel count and rate from the header or sidecar (None when unknown)."""
    sidecar = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_eeg.json")
    sfreq = None
    if sidecar.exists():
        try:
            sfreq = json.loads(sidecar.read_text()).get("SamplingFrequency")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            sfreq = None
    channels = rec.with_name(rec.name.rsplit("_eeg", 1)[0] + "_channels.tsv")
    n_chan = None
    if channels.exists():
        table = _read_tsv(channels, [])
        if table is not None and "type" in table.columns:
            n_chan = int((table["type"].astype(str).str.upper() == "EEG").sum()) or None
    return (float(sfreq) if _number(sfreq) and sfreq > 0 else None), n_chan


def _check_eeg(rec, config, problems, read_data):
    """Check one EEG recording; return a summary dict for the config checks."""
    from .._check import BrainpipeInputError as Err
    from ..eeg.integrity import check_recording

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
    tr = None
    if sidecar.exists():
        try:
            tr = json.loads(sidecar.read_text()).get("RepetitionTime")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            tr = None  # reported by the tree check
    if tr is None:
        problems.append(f"{bold}: no RepetitionTime in {sidecar.name} (TR is needed for filtering)")
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


def find_problems(bids_root, *, demographics=("age", "sex"), config=None, read_data=True):
    """List the problems of a BIDS dataset (and config) that brainpipe cannot work around.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str
        Columns participants.tsv must have (used by group models).
    config : dict | None
        The workflow config (merged as Snakemake merges it); adds the checks
        of :func:`config_problems` and restricts the data checks to the
        configured tasks and enabled stages.
    read_data : bool
        Also read the samples (NaN/inf and flat EEG channels, compressed
        NIfTI streams read to the end); False checks headers and sizes only.

    Returns
    -------
    problems : list of str
        One ``"<file or config key>: <problem>"`` line per problem; empty
        when all is well.
    """
    root = Path(bids_root)
    if not root.is_dir():
        return [f"{root}: BIDS root does not exist or is not a folder"]
    root = root.resolve()
    problems = []
    desc = root / "dataset_description.json"
    if not desc.exists():
        problems.append(f"{desc}: missing (every BIDS dataset needs one)")
    _check_tree(root, problems)
    participants = _check_participants(root, demographics, problems)

    cfg = config or {}
    eeg_task = _get(cfg, "eeg", "task")
    fmri_task = _get(cfg, "fmri", "task")
    subjects = _get(cfg, "subjects", default="all")
    keep = None if subjects in (None, "all") else {f"sub-{s}" for s in subjects}

    def wanted(path, task, stage):
        if keep is not None and not any(p.name in keep for p in path.parents):
            return False
        if config is not None and not _get(cfg, stage, "enabled", default=True):
            return False
        return task is None or f"_task-{task}_" in path.name

    eeg = [_check_eeg(rec, config, problems, read_data)
           for rec in sorted(root.glob("sub-*/**/eeg/*_eeg.*"))
           if rec.suffix in EEG_EXTENSIONS and not name_problems(rec) and wanted(rec, eeg_task, "eeg")]
    bold = [_check_bold(b, problems, read_data)
            for b in sorted(root.glob("sub-*/**/func/*_bold.nii*"))
            if not name_problems(b) and wanted(b, fmri_task, "fmri")]
    for t1 in sorted(root.glob("sub-*/**/anat/*_T1w.nii*")):
        if not name_problems(t1) and wanted(t1, None, "mri"):
            _check_t1(t1, problems, read_data)
    problems += _run_consistency(eeg)
    if config is not None:
        problems += _task_problems(config, root, eeg, bold)
        problems += config_problems(config, eeg=eeg, bold=bold, participants=participants, root=root)
    return problems


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


def _task_problems(config, root, eeg, bold):
    """A configured task that matches no file (the stage would silently do nothing)."""
    problems = []
    for stage, datatype, pattern, found in (("eeg", "eeg", "*_eeg.*", eeg), ("fmri", "func", "*_bold.nii*", bold)):
        task = _get(config, stage, "task")
        if not _get(config, stage, "enabled", default=True) or found or not task:
            continue
        present = sorted({m.group(1) for p in root.glob(f"sub-*/**/{datatype}/{pattern}")
                          if (m := re.search(r"_task-([A-Za-z0-9]+)_", p.name))})
        if present and task not in present:
            problems.append(f"config {stage}.task: no {datatype} recording of task {task!r} in {root} "
                            f"(tasks found: {present}); set {stage}.task or {stage}.enabled: false")
    return problems


# --------------------------------------------------------------------------
# the config against the data
# --------------------------------------------------------------------------
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

    from ..bci.pipelines import PIPELINES, make_pipeline

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

    from ..bci.pipelines import PIPELINES

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


def config_problems(config, *, eeg=(), bold=(), participants=None, root=None):
    """Problems of a workflow config: settings that cannot work on these data.

    Parameters
    ----------
    config : dict
        The merged workflow config.
    eeg, bold : list of dict
        What :func:`find_problems` learnt of each recording (rate, channels,
        shortest task period; TR, volumes, image).
    participants : DataFrame | None
        participants.tsv.
    root : Path | None
        The BIDS root (for messages and the subjects list).

    Returns
    -------
    problems : list of str
        One ``"config <key>: <problem>"`` line per problem.
    """
    problems = []
    sub_list = _get(config, "subjects", default="all")
    if root is not None and isinstance(sub_list, list) and not _get(config, "simulate", "enabled"):
        for s in sub_list:
            if not (root / f"sub-{s}").is_dir():
                problems.append(f"config subjects: sub-{s} is not in {root}")
    problems += _eeg_config_problems(config, eeg)
    problems += _fmri_config_problems(config, bold, participants)
    return problems


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
    if eeg_on and po.get("enabled"):
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


def _cue_problems(config, eeg):
    """The cue names the enabled BCI stages look for must be in each run's events.tsv."""
    from ..bci.dataset import DEFAULT_EVENTS

    problems = []
    if not _get(config, "eeg", "enabled", default=True):
        return problems
    stages = []
    if _get(config, "bci", "offline", "enabled"):
        stages.append(("bci.offline.dataset.events", _get(config, "bci", "offline", "dataset", "events")))
    if _get(config, "bci", "pseudo_online", "enabled"):
        stages.append(("bci.pseudo_online.events", _get(config, "bci", "pseudo_online", "events")))
    for key, cues in stages:
        cues = sorted(map(str, cues)) if cues else sorted(DEFAULT_EVENTS)
        per_subject = {}
        for e in eeg:
            if e["trial_types"] is None:
                continue
            sub = next((p.name for p in Path(e["path"]).parents if p.name.startswith("sub-")), "?")
            found = e["trial_types"] & set(cues)
            per_subject.setdefault(sub, set()).update(found)
            if not found:
                problems.append(f"{e['events']}: none of the cue names {cues} the BCI evaluation looks for "
                                f"occurs (trial_type values: {sorted(e['trial_types'])[:10]}); name the cues "
                                f"with config {key}")
        for sub, found in sorted(per_subject.items()):
            if len(found) == 1:
                problems.append(f"config {key}: {sub} has only the cue {sorted(found)[0]!r} of {cues} in its "
                                "events: a BCI evaluation needs at least two classes")
    return problems


def _fmri_config_problems(config, bold, participants):
    problems = []
    fm = _get(config, "fmri", default={}) or {}
    if not fm.get("enabled", True):
        return problems
    sim = _get(config, "simulate", default={}) or {}
    runs = [(b["path"], b["tr"], b["n_vols"]) for b in bold if b["tr"] and b["n_vols"]]
    if sim.get("enabled") and not bold:
        runs = [("the simulated BOLD", float(sim.get("tr", 2.0)), int(sim.get("n_volumes", 150)))]
    hp, lp = fm.get("high_pass"), fm.get("low_pass")
    if _number(hp) and _number(lp) and hp >= lp:
        problems.append(f"config fmri.high_pass/low_pass: high_pass ({hp:g} Hz) must be below low_pass ({lp:g} Hz)")
    dyn = fm.get("dynamic") or {}
    for path, tr, n_vols in runs:
        nyq = 0.5 / tr
        duration = tr * n_vols
        if _number(lp) and lp >= nyq:
            problems.append(f"config fmri.low_pass: {lp:g} Hz is at or above the Nyquist frequency ({nyq:g} Hz) "
                            f"of {path} (TR {tr:g} s)")
        if _number(hp) and hp >= nyq:
            problems.append(f"config fmri.high_pass: {hp:g} Hz is at or above the Nyquist frequency ({nyq:g} Hz) "
                            f"of {path} (TR {tr:g} s)")
        if _number(hp) and duration < 1.0 / hp:
            problems.append(f"{path}: {n_vols} volumes x TR {tr:g} s = {duration:g} s is shorter than one period "
                            f"of the high-pass (config fmri.high_pass {hp:g} Hz: {1 / hp:g} s)")
        if dyn.get("enabled") and _number(dyn.get("window_s")):
            if dyn["window_s"] > duration:
                problems.append(f"config fmri.dynamic.window_s: {dyn['window_s']:g} s is longer than {path} "
                                f"({duration:g} s)")
            elif dyn["window_s"] < 2 * tr:
                problems.append(f"config fmri.dynamic.window_s: {dyn['window_s']:g} s holds fewer than 2 volumes "
                                f"of {path} (TR {tr:g} s)")
    atlas = fm.get("atlas") or {}
    if not sim.get("enabled"):
        problems += _atlas_problems(atlas, bold)
        problems += _confounds_problems(fm, bold)
    pred = fm.get("prediction") or {}
    if pred.get("enabled") and participants is not None:
        missing = [t for t in pred.get("targets") or [] if t not in participants.columns]
        if missing:
            problems.append(f"config fmri.prediction.targets: {missing} are not columns of participants.tsv")
    return problems


def _atlas_problems(atlas, bold):
    import nibabel as nib

    problems = []
    maps, labels = atlas.get("maps"), atlas.get("labels")
    if not maps:
        return problems
    maps = Path(maps)
    if not maps.is_file():
        return [f"config fmri.atlas.maps: {maps} does not exist"]
    img = _nifti_problems(maps, problems, True)
    if img is None:
        return problems
    if len([s for s in img.shape if s > 1]) != 3:
        return problems + [f"{maps}: an atlas must be a 3D labels image, got shape {img.shape}"]
    data = np.asarray(img.dataobj).reshape(img.shape[:3])
    if not np.all(np.isfinite(data)) or not np.allclose(data, np.round(data)):
        return problems + [f"{maps}: an atlas labels image must hold integer labels"]
    found = set(np.unique(data).astype(int)) - {0}
    if labels:
        table = _read_tsv(Path(labels), problems) if Path(labels).is_file() else None
        if not Path(labels).is_file():
            problems.append(f"config fmri.atlas.labels: {labels} does not exist")
        elif table is not None:
            if "index" not in table.columns or "name" not in table.columns:
                problems.append(f"{labels}: needs columns index and name (has {list(table.columns)})")
            else:
                idx = set(pd.to_numeric(table["index"], errors="coerce").dropna().astype(int))
                missing = sorted(found - idx)
                if missing:
                    problems.append(f"{labels}: labels {missing[:10]} of {maps.name} have no row")
    # the atlas must overlap each BOLD's field of view (same space)
    for b in bold:
        if b["img"] is None:
            continue
        bimg = b["img"]
        ijk = np.argwhere(data > 0)
        if not len(ijk):
            continue
        ijk = ijk[:: max(1, len(ijk) // 5000)]
        world = nib.affines.apply_affine(img.affine, ijk)
        vox = nib.affines.apply_affine(np.linalg.inv(bimg.affine), world)
        inside = np.all((vox > -0.5) & (vox < np.asarray(bimg.shape[:3]) - 0.5), axis=1).mean()
        if inside < 0.5:
            problems.append(f"{b['path']}: only {inside:.0%} of the atlas {maps.name} lies inside this BOLD's "
                            "field of view: the atlas and the BOLD are not in the same space")
    return problems


def _confounds_problems(fm, bold):
    problems = []
    conf = fm.get("confounds") or {}
    root, columns = conf.get("root"), conf.get("columns") or []
    if not root:
        return problems
    for b in bold:
        bpath = Path(b["path"])
        sub = next((p for p in bpath.parents if p.name.startswith("sub-")), None)
        if sub is None:
            continue
        rel = bpath.parent.relative_to(sub.parent)
        path = Path(root) / rel / (bpath.name.split("_bold")[0] + "_desc-confounds_timeseries.tsv")
        if not path.exists():
            problems.append(f"{path}: confounds file missing (config fmri.confounds.root); set the root to "
                            "null for no confound regression")
            continue
        table = _read_tsv(path, problems)
        if table is None:
            continue
        missing = [c for c in columns if c not in table.columns]
        if missing:
            problems.append(f"{path}: missing the configured confound columns {missing} "
                            "(config fmri.confounds.columns)")
        if b["n_vols"] and len(table) != b["n_vols"]:
            problems.append(f"{path}: {len(table)} rows, the BOLD {bpath.name} has {b['n_vols']} volumes")
        values = table[[c for c in columns if c in table.columns]].apply(pd.to_numeric, errors="coerce")
        if values.iloc[1:].isna().any().any():
            bad = values.columns[values.iloc[1:].isna().any()].tolist()
            problems.append(f"{path}: non-numeric or missing values in confound columns {bad}")
    return problems


# --------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------
def run_bids_validator(bids_root, timeout=300):
    """Run the official BIDS validator (``bids-validator-deno``).

    Returns
    -------
    ok : bool | None
        True when the validator reports no errors, False otherwise, None when
        the validator is not installed.
    output : str
        What the validator printed.
    """
    import sys

    # on PATH, or installed beside this Python (a venv that is not activated)
    exe = shutil.which("bids-validator-deno") or shutil.which(
        "bids-validator-deno", path=str(Path(sys.executable).parent))
    if exe is None:
        return None, "bids-validator-deno is not installed"
    proc = subprocess.run([exe, str(bids_root)], capture_output=True, text=True, timeout=timeout)
    return proc.returncode == 0, proc.stdout + proc.stderr


def validator_errors(output, limit=20):
    """The errors in ``bids-validator-deno`` output, one line each (code, message, files).

    Parameters
    ----------
    output : str
        What the validator printed.
    limit : int
        At most this many errors (a last line says how many were left out).

    Returns
    -------
    errors : list of str
    """
    errors, current = [], None
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("[ERROR]"):
            current = [text[len("[ERROR]"):].strip(), []]
            errors.append(current)
        elif text.startswith("["):
            current = None
        elif current is not None and text.startswith("/"):
            current[1].append(text)
    lines = [f"{msg} ({', '.join(files[:3])}{' ...' if len(files) > 3 else ''})" if files else msg
             for msg, files in errors]
    if not lines:
        return [output.strip()[-2000:] or "errors (no details printed)"]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more errors"]
    return lines


def validate_bids(bids_root, *, demographics=("age", "sex"), official=False, config=None, read_data=True):
    """Raise :class:`BrainpipeInputError` listing every problem found.

    Parameters
    ----------
    bids_root : path-like
        Root of the BIDS dataset.
    demographics : sequence of str
        Columns participants.tsv must have.
    official : bool
        Also run the official BIDS validator when it is installed.
    config : dict | None
        The workflow config; see :func:`find_problems`.
    read_data : bool
        See :func:`find_problems`.
    """
    problems = find_problems(bids_root, demographics=demographics, config=config, read_data=read_data)
    if official:
        ok, out = run_bids_validator(bids_root)
        if ok is False:
            problems += [f"{bids_root}: the BIDS validator reports {line}" for line in validator_errors(out)]
        elif ok is None:
            import logging

            logging.getLogger(__name__).warning("bids-validator-deno is not installed: the official "
                                                "BIDS validator was not run")
    if problems:
        raise BrainpipeInputError(
            f"{len(problems)} problem(s) in the input dataset:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def validate_config(config):
    """Raise :class:`BrainpipeInputError` if the config alone cannot work.

    For runs whose data do not exist yet (the simulated demo): the checks of
    :func:`config_problems` with the simulation's rate, channels and TR.
    """
    problems = config_problems(config)
    if problems:
        raise BrainpipeInputError(
            f"{len(problems)} problem(s) in the config:\n" + "\n".join(f"  - {p}" for p in problems)
        )
