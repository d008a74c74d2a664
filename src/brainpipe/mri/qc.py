"""Quality control of one T1w image: brain mask, tissues, MRIQC-style metrics.

Worker :func:`t1_qc` reads the T1, computes head, brain, tissue and air
masks from the image itself (:mod:`.segment`), the image-quality metrics
(:mod:`.iqms`), and writes the brain mask, a one-row metrics TSV, mosaics and
a report fragment (section "Structural MRI").

The motion-artefact score is the ghost-to-signal ratio along the
phase-encode axis (``gsr_<axis>``): head motion during the acquisition puts
ghosts of the head on the phase-encode lines that cross it. When the axis is
unknown (no ``PhaseEncodingDirection`` in the sidecar and none given) the
largest of the three axes is used.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, check_option, input_error
from ..io.atomic import all_or_nothing, atomic_path, write_sidecar, write_tsv
from ..io.fragments import fragment_item, write_fragment
from . import iqms
from .segment import LABELS, air_mask, brain_mask, head_mask, segment_tissues

SECTION = "Structural MRI"
SECTION_ORDER = 20

#: Air backgrounds smaller than this (voxels) are not used for noise estimates.
MIN_AIR_VOXELS = 1000

_AXES = "xyz"
#: BIDS PhaseEncodingDirection -> array axis.
_PE_AXIS = {"i": 0, "j": 1, "k": 2, "i-": 0, "j-": 1, "k-": 2}


def load_t1(path):
    """Load a 3D T1w image or raise naming the file.

    Returns
    -------
    img : nibabel.Nifti1Image
    data : ndarray of float, shape (nx, ny, nz)
    """
    import nibabel as nib

    path = check_file(path, "T1w image")
    try:
        img = nib.load(path)
    except Exception as exc:
        raise input_error(path, f"cannot be read as NIfTI ({exc})") from exc
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise input_error(path, f"T1w image must be 3D, got shape {img.shape}")
    data = np.asarray(img.get_fdata(dtype=np.float32), dtype=float).reshape(shape)
    if not np.isfinite(data).all():
        raise input_error(path, "T1w image has NaN or infinite values")
    if data.min() < 0:
        # magnitude images are non-negative; a small negative floor is a
        # rescaling artefact, anything else is not a T1w magnitude image
        if data.min() < -0.01 * data.max():
            raise input_error(path, f"T1w image has negative intensities (min {data.min():g})")
        data = np.clip(data, 0, None)
    if np.ptp(data) == 0:
        raise input_error(path, "T1w image is constant")
    if min(shape) < 16:
        raise input_error(path, f"T1w image is too small for QC, shape {shape}")
    return img, data


def phase_encode_axis(t1_path):
    """Array axis of the phase-encode direction from the BIDS sidecar, or None."""
    name = Path(t1_path).name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            side = Path(t1_path).with_name(name[: -len(ext)] + ".json")
            if side.exists():
                try:
                    meta = json.loads(side.read_text())
                except json.JSONDecodeError:
                    return None
                return _PE_AXIS.get(meta.get("PhaseEncodingDirection"))
    return None


def compute_iqms(data, zooms=(1.0, 1.0, 1.0), pe_axis=None):
    """Masks and image-quality metrics of a T1w array.

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    zooms : tuple of float
        Voxel size in mm.
    pe_axis : int | None
        Phase-encode axis for the motion score (max over axes when None).

    Returns
    -------
    metrics : dict of str -> float
    masks : dict of str -> ndarray of bool or uint8, shape (nx, ny, nz)
        ``head``, ``brain``, ``air``, ``artifacts``, ``seg`` (0-3 labels).
    """
    data = np.asarray(data, dtype=float)
    head = head_mask(data, zooms)
    brain = brain_mask(data, head, zooms)
    if brain.sum() * np.prod(zooms) < 100_000:  # 100 mL: no brain was found
        raise ValueError(f"brain mask is only {brain.sum() * np.prod(zooms) / 1000:.0f} mL")
    seg, _ = segment_tissues(data, brain)
    air = air_mask(data, head, zooms)
    have_air = air.sum() >= MIN_AIR_VOXELS
    art = iqms.artifact_mask(data, air) if have_air else np.zeros_like(air)
    clean_air = air & ~art

    stats = {}
    for name, label in LABELS.items():
        if label == 0:
            continue
        vals = data[seg == label]
        stats[name] = (float(vals.mean()), float(vals.std()), int(vals.size))
    sigma_air = float(data[clean_air].std()) if have_air else float("nan")
    (mu_wm, sd_wm, _), (mu_gm, sd_gm, _) = stats["wm"], stats["gm"]

    m = {}
    for name, (mu, sd, n) in stats.items():
        m[f"snr_{name}"] = iqms.snr(mu, sd, n)
    m["snr_total"] = float(np.mean([m["snr_csf"], m["snr_gm"], m["snr_wm"]]))
    for name, (mu, _, _) in stats.items():
        m[f"snrd_{name}"] = iqms.snr_dietrich(mu, sigma_air)
    m["snrd_total"] = float(np.mean([m["snrd_csf"], m["snrd_gm"], m["snrd_wm"]]))
    # without an air background (zeroed by the provider) the CNR keeps only
    # the tissue variances; ``air_voxels`` tells the two cases apart
    m["cnr"] = iqms.cnr(mu_wm, mu_gm, sigma_air if have_air else 0.0, sd_wm, sd_gm)
    m["cjv"] = iqms.cjv(mu_wm, mu_gm, sd_wm, sd_gm)
    m["efc"] = iqms.efc(data)
    m["fber"] = iqms.fber(data, head, air) if have_air else float("nan")
    m["wm2max"] = iqms.wm2max(data, seg == LABELS["wm"])
    m["qi_1"] = iqms.art_qi1(clean_air, art) if have_air else float("nan")
    for ax in range(3):
        m[f"gsr_{_AXES[ax]}"] = (
            iqms.ghost_ratio(data, head, air, brain, ax) if have_air else float("nan")
        )
    if pe_axis is not None:
        m["motion_score"] = m[f"gsr_{_AXES[pe_axis]}"]
    else:
        gsrs = [m[f"gsr_{a}"] for a in _AXES if math.isfinite(m[f"gsr_{a}"])]
        m["motion_score"] = max(gsrs) if gsrs else float("nan")
    n_brain = brain.sum()
    for name, label in LABELS.items():
        if label:
            m[f"icvs_{name}"] = float((seg == label).sum() / n_brain)
    m["brain_volume_ml"] = float(n_brain * np.prod(zooms) / 1000.0)
    m["air_voxels"] = int(air.sum())
    for name, (mu, sd, _) in stats.items():
        m[f"summary_{name}_mean"] = mu
        m[f"summary_{name}_stdv"] = sd
    m["summary_bg_mean"] = float(data[clean_air].mean()) if have_air else float("nan")
    m["summary_bg_stdv"] = sigma_air
    masks = {"head": head, "brain": brain, "air": air, "artifacts": art, "seg": seg}
    return m, masks


def t1_qc(
    t1,
    out_mask,
    out_metrics_tsv,
    *,
    out_dseg=None,
    phase_encoding_axis=None,
    figure=None,
    figure_background=None,
    fragment=None,
):
    """Brain mask, tissue classes and image-quality metrics of one T1w image.

    Parameters
    ----------
    t1 : path-like
        3D T1w NIfTI, shape (nx, ny, nz).
    out_mask : path-like
        Brain mask NIfTI (uint8, 1 = brain), same grid as ``t1``.
    out_metrics_tsv : path-like
        One-row TSV of the metrics (MRIQC names: ``snr_wm``, ``snrd_total``,
        ``cnr``, ``cjv``, ``efc``, ``fber``, ``qi_1``, ``wm2max``, ...) plus
        ``gsr_x/y/z`` and ``motion_score``; NaN written as ``n/a``.
    out_dseg : path-like | None
        Tissue segmentation NIfTI (0 background, 1 CSF, 2 GM, 3 WM).
    phase_encoding_axis : {None, "i", "j", "k", 0, 1, 2}
        Axis for the motion score; read from the sidecar's
        ``PhaseEncodingDirection`` when None.
    figure : path-like | None
        Mosaic PNG of the T1 with the brain mask contour.
    figure_background : path-like | None
        Mosaic PNG with the contrast stretched to the background (artefacts).
    fragment : path-like | None
        Report fragment (section "Structural MRI").

    Returns
    -------
    metrics : dict of str -> float
    """
    import nibabel as nib

    img, data = load_t1(t1)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    if phase_encoding_axis is None:
        pe_axis = phase_encode_axis(t1)
    elif isinstance(phase_encoding_axis, str):
        pe_axis = _PE_AXIS[check_option("phase_encoding_axis", phase_encoding_axis, tuple(_PE_AXIS))]
    else:
        pe_axis = check_option("phase_encoding_axis", phase_encoding_axis, (0, 1, 2))
    try:
        metrics, masks = compute_iqms(data, zooms, pe_axis)
    except ValueError as exc:
        raise input_error(t1, f"T1w QC failed: {exc}") from exc

    mask_img = nib.Nifti1Image(masks["brain"].astype(np.uint8), img.affine)
    mask_img.header.set_xyzt_units("mm")
    with all_or_nothing(out_mask, out_metrics_tsv, out_dseg, figure, figure_background, fragment):
        with atomic_path(out_mask) as tmp:
            nib.save(mask_img, tmp)
        write_sidecar(out_mask, [t1], Type="Brain", Description="brain mask computed from the T1w")
        if out_dseg is not None:
            with atomic_path(out_dseg) as tmp:
                nib.save(nib.Nifti1Image(masks["seg"], img.affine), tmp)
            write_sidecar(out_dseg, [t1], Labels={str(v): k for k, v in LABELS.items()},
                          Description="3-class k-means of the brain intensities")
        row = pd.DataFrame([{"source": Path(t1).name, **metrics}])
        write_tsv(out_metrics_tsv, row)
        write_sidecar(
            out_metrics_tsv, [t1],
            PhaseEncodingAxis=None if pe_axis is None else _AXES[pe_axis],
            AirBackground="present" if metrics["air_voxels"] >= MIN_AIR_VOXELS
            else "absent or zeroed: snrd, fber, qi_1, gsr are n/a and cnr uses tissue noise only",
            MotionScore="ghost-to-signal ratio along the phase-encode axis "
            "(largest over axes when unknown)",
        )
        if figure is not None:
            from .figures import plot_mask_mosaic

            plot_mask_mosaic(img, mask_img, figure, title=Path(t1).name)
        if figure_background is not None:
            from .figures import plot_background_mosaic

            plot_background_mosaic(data, figure_background)
        if fragment is not None:
            _write_fragment(fragment, metrics, figure, figure_background, out_metrics_tsv)
    return metrics


def _write_fragment(fragment, m, figure, figure_background, table):
    def fmt(v):
        return "n/a" if not math.isfinite(v) else f"{v:.3g}"

    keys = ["snr_total", "snrd_total", "cnr", "cjv", "efc", "fber", "qi_1", "wm2max",
            "motion_score", "brain_volume_ml"]
    rows = "".join(f"<tr><td>{k}</td><td>{fmt(m[k])}</td></tr>" for k in keys)
    items = [fragment_item(
        "html", "Image-quality metrics",
        html=f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"
        "<p>MRIQC definitions; higher SNR/CNR/FBER and lower CJV/EFC/QI1/motion score "
        "are better.</p>",
    )]
    if figure is not None:
        items.append(fragment_item("image", "T1w and brain mask", path=figure,
                                   caption="Axial and coronal slices of the T1w with the brain mask "
                                           "outlined in red: the mask should follow the brain's surface, "
                                           "without cutting cortex or taking in the skull."))
    if figure_background is not None:
        items.append(fragment_item("image", "Background noise", path=figure_background,
                                   caption="Contrast stretched to the background: ghosts "
                                   "and ringing from head motion show up here."))
    items.append(fragment_item("table", "All metrics", path=table))
    write_fragment(fragment, SECTION, items, order=SECTION_ORDER)
