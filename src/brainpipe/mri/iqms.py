"""Image-quality metrics of a T1w image in the MRIQC sense (pure array functions).

Definitions follow MRIQC's documentation (Esteban et al. 2017, PLoS ONE
12(9):e0184661) and the papers it cites:

* SNR inside a tissue: ``mu / (sigma * sqrt(n / (n - 1)))``.
* Dietrich's SNR (Dietrich et al. 2007, eq. A.12) against the air
  background, whose magnitude noise is Rayleigh: ``mu / (sqrt(2 / (4 - pi)) *
  sigma_air)``; for a Rayleigh background of scale ``s`` this is ``mu / s``.
* CNR (Magnotta & Friedman 2006): ``|mu_WM - mu_GM| / sqrt(sigma_air^2 +
  sigma_WM^2 + sigma_GM^2)``.
* CJV (Ganzetti et al. 2016): ``(sigma_WM + sigma_GM) / |mu_WM - mu_GM|``.
* EFC (Atkinson et al. 1997) normalised by its maximum (every voxel equal),
  so that a constant image has EFC 1 and one bright voxel has EFC 0.
* FBER (QAP, Shehzad et al. 2015): mean energy ``|x|^2`` inside the head over
  mean energy outside it.
* QI1 (Mortamet et al. 2009): fraction of the air background taken by
  artefacts, i.e. voxels far above the noise floor that survive a
  morphological opening (isolated noise peaks do not).
* GSR-like ghost ratio along an axis (after Giannelli et al. 2010, as MRIQC
  does for EPI): ghosts of a moving head lie on the phase-encode lines that
  cross the head, so ``(mean background on those lines - mean background on
  head-free lines) / mean brain intensity`` is about 0 for a still head.

The masks come from :mod:`brainpipe.mri.segment`; these functions only do
arithmetic so that each can be checked on hand-made arrays.
"""

from __future__ import annotations

import math

import numpy as np

#: sqrt(2 / (4 - pi)): ratio of a Rayleigh distribution's scale to its SD.
RAYLEIGH_SD_FACTOR = math.sqrt(2.0 / (4.0 - math.pi))


def snr(mu_fg, sigma_fg, n):
    """SNR inside a region: ``mu / (sigma * sqrt(n / (n - 1)))``.

    Parameters
    ----------
    mu_fg, sigma_fg : float
        Mean and (population) SD of the region's intensities.
    n : int
        Number of voxels in the region.
    """
    if n < 2 or sigma_fg <= 0:
        return float("nan")
    return float(mu_fg / (sigma_fg * math.sqrt(n / (n - 1))))


def snr_dietrich(mu_fg, sigma_air):
    """Dietrich's SNR of a region against the air background's SD."""
    if not sigma_air > 0:
        return float("nan")
    return float(mu_fg / (RAYLEIGH_SD_FACTOR * sigma_air))


def cnr(mu_wm, mu_gm, sigma_air, sigma_wm, sigma_gm):
    """Contrast-to-noise ratio of WM and GM."""
    denom = math.sqrt(sigma_air**2 + sigma_wm**2 + sigma_gm**2)
    return float(abs(mu_wm - mu_gm) / denom) if denom > 0 else float("nan")


def cjv(mu_wm, mu_gm, sigma_wm, sigma_gm):
    """Coefficient of joint variation of WM and GM (lower is better)."""
    diff = abs(mu_wm - mu_gm)
    return float((sigma_wm + sigma_gm) / diff) if diff > 0 else float("nan")


def efc(data, framemask=None):
    """Entropy focus criterion normalised to [0, 1] (lower is sharper).

    Parameters
    ----------
    data : ndarray, any shape
        Non-negative image.
    framemask : ndarray of bool, same shape | None
        Voxels to leave out (e.g. zero padding added by reorientation).

    Returns
    -------
    efc : float
        1 for a constant image, 0 when all energy is in one voxel.
    """
    x = np.abs(np.asarray(data, dtype=float))
    if framemask is not None:
        x = x[~np.asarray(framemask, dtype=bool)]
    x = x.ravel()
    n = x.size
    b_max = math.sqrt(float(np.dot(x, x)))
    if n < 2 or b_max == 0:
        return float("nan")
    e_max = math.sqrt(n) * math.log(1.0 / math.sqrt(n))  # negative
    p = x[x > 0] / b_max
    return float(np.sum(p * np.log(p)) / e_max)


def fber(data, headmask, airmask):
    """Foreground-background energy ratio: mean ``|x|^2`` in head over air.

    Returns NaN when the background has (almost) no energy, as in images
    whose background was zeroed.
    """
    data = np.asarray(data, dtype=float)
    fg = data[headmask]
    bg = data[airmask]
    if fg.size == 0 or bg.size == 0:
        return float("nan")
    bg_energy = float(np.mean(bg**2))
    if bg_energy < 1e-3:
        return float("nan")
    return float(np.mean(fg**2) / bg_energy)


def wm2max(data, wmmask):
    """Median WM intensity over the 99.95th percentile of the image."""
    top = np.percentile(data, 99.95)
    return float(np.median(data[wmmask]) / top) if top > 0 else float("nan")


def rayleigh_scale(values):
    """Robust scale ``s`` of Rayleigh-distributed background magnitudes.

    Uses the median (``s * sqrt(2 ln 2)``), which a minority of artefactual
    voxels hardly moves.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan")
    return float(np.median(values) / math.sqrt(2.0 * math.log(2.0)))


def artifact_mask(data, airmask, p_false=1e-3, opening=1):
    """Mortamet's artefact detection in the air background.

    Voxels whose intensity a Rayleigh noise floor would exceed with
    probability below ``p_false`` are candidates; a binary opening removes
    the isolated ones (noise), what survives is artefact (ghosts, ringing).

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    airmask : ndarray of bool, shape (nx, ny, nz)
    p_false : float
        Per-voxel false alarm rate of the noise threshold.
    opening : int
        Iterations of the opening with a 3x3x3 cube (blobs thinner than
        three voxels are treated as noise).

    Returns
    -------
    artmask : ndarray of bool, shape (nx, ny, nz)
    """
    from scipy import ndimage

    scale = rayleigh_scale(data[airmask])
    if not scale > 0:
        return np.zeros_like(airmask, dtype=bool)
    # Rayleigh survival: P(X > t) = exp(-t^2 / (2 s^2))
    threshold = scale * math.sqrt(-2.0 * math.log(p_false))
    candidates = airmask & (data > threshold)
    cube = np.ones((3,) * airmask.ndim, dtype=bool)
    return ndimage.binary_opening(candidates, structure=cube, iterations=opening) & airmask


def art_qi1(airmask, artmask):
    """QI1: artefact voxels over background voxels (air with the artefacts)."""
    total = int(np.count_nonzero(airmask | artmask))
    return float(np.count_nonzero(artmask) / total) if total else float("nan")


def ghost_ratio(data, headmask, airmask, brainmask, axis):
    """Ghost-to-signal ratio along ``axis`` (the phase-encode axis).

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    headmask, airmask, brainmask : ndarray of bool, shape (nx, ny, nz)
    axis : int
        Axis along which lines are acquired with the same phase encoding.

    Returns
    -------
    gsr : float
        ``(mean air on head-crossing lines - mean air on head-free lines) /
        mean brain``; NaN if either set of lines is empty.
    """
    crosses = np.broadcast_to(headmask.any(axis=axis, keepdims=True), headmask.shape)
    ghost = data[airmask & crosses]
    clear = data[airmask & ~crosses]
    if ghost.size < 50 or clear.size < 50:
        return float("nan")
    return float((ghost.mean() - clear.mean()) / data[brainmask].mean())
