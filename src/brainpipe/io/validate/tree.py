"""The dataset as files: names, JSON/TSV parsing, references, participants, events."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import AGE_RANGE, LABEL, SKIP_DIRS, _read_tsv

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


