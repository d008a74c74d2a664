"""The config against the fMRI data: filters, dynamic FC, atlas, confounds, prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._common import _get, _number, _read_tsv
from .plan import MIN_SUBJECTS
from .recordings import _nifti_problems

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
        # dynamic FC is a group step: checked where it runs (from MIN_SUBJECTS subjects)
        dyn_runs = sim.get("enabled") or len(bold) >= MIN_SUBJECTS["dynamic"]
        if dyn.get("enabled") and dyn_runs and _number(dyn.get("window_s")):
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
    # fmri_predict runs from MIN_SUBJECTS subjects on (else it is skipped with a note): only then
    # must its columns exist
    runs = sim.get("enabled") or len(bold) >= MIN_SUBJECTS["prediction"]
    if pred.get("enabled") and participants is not None and runs:
        missing = [t for t in pred.get("targets") or [] if t not in participants.columns]
        if missing:
            problems.append(f"config fmri.prediction.targets: {missing} are not columns of participants.tsv")
        site = pred.get("site_column")
        if site and site not in participants.columns:
            problems.append(f"config fmri.prediction.site_column: {site!r} is not a column of participants.tsv "
                            "(site-aware cross-validation needs it; name your site column, or set "
                            "fmri.prediction.enabled: false)")
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
                            "field of view: the atlas and the BOLD are not in the same space (brainpipe does not "
                            "register images: the BOLD must already be in the atlas space, e.g. fMRIPrep's "
                            "space-MNI152NLin2009cAsym output, or give an atlas in the BOLD's space)")
    return problems


def _confounds_problems(fm, bold):
    problems = []
    conf = fm.get("confounds") or {}
    root, columns = conf.get("root"), conf.get("columns") or []
    if not root or conf.get("columns", True) == []:
        return problems  # no confound regression
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


