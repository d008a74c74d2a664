"""Resting-state fMRI: ROI signals from a network model, voxels, motion, confounds.

The model, from the inside out:

1. **Networks.** Each of the 7 networks has a slow latent process; the
   latents are correlated with a subject-specific network correlation matrix.
   Every ROI is its network's latent (loading ``w_network * lambda_roi``) plus
   its own independent process, so within-network ROI correlation is about
   ``w**2``. The loadings and the between-network correlations depend on age
   and sex (:data:`AGE_EFFECTS`, :data:`SEX_EFFECTS`): default-mode and
   control coupling weaken with age, default-mode anticorrelations with the
   attention networks fade with age (dedifferentiation), and the
   visual-somatomotor coupling differs by sex. Each subject adds its own
   random deviation, so demographics explain only part of the FC.
2. **BOLD dynamics.** Latent processes are Gaussian noise band-limited to
   0.01-0.1 Hz (2nd-order Butterworth magnitude in the Fourier domain).
3. **Voxels.** Every voxel of parcel ``k`` carries ROI ``k``'s signal, weighted
   by its grey-matter probability, on an EPI-like baseline image; plus a
   white-matter and a CSF physiological signal, a global drift, scanner drift,
   thermal noise, and head motion. Motion acts through the baseline image's
   spatial gradient (``dS = -grad(S0) . displacement``), so it hits the brain's
   edges, and spikes add a short global signal drop (spin history).
4. **Confounds.** fMRIPrep-like columns: the realignment parameters (true
   motion plus estimation noise), Power's framewise displacement (50 mm
   head radius, ``n/a`` in the first row), and global, CSF and white-matter
   means computed from the simulated images themselves.

Everything is in MNI space on the 6 mm grid of :mod:`.atlas`; the image is
stored as int16 with zeros outside the brain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .atlas import NETWORKS, VOXEL_MM

_N = len(NETWORKS)
_IDX = {name: i for i, name in enumerate(NETWORKS)}

#: Within-network loading ``w`` of each network at age 49 (female).
BASE_LOADING = {
    "Vis": 0.74,
    "SomMot": 0.72,
    "DorsAttn": 0.64,
    "SalVentAttn": 0.62,
    "Limbic": 0.50,
    "Cont": 0.62,
    "Default": 0.74,
}
#: Between-network latent correlations at age 49 (female); others are 0.
BASE_COUPLING = {
    ("Vis", "SomMot"): 0.25,
    ("Vis", "DorsAttn"): 0.35,
    ("SomMot", "SalVentAttn"): 0.30,
    ("DorsAttn", "Cont"): 0.25,
    ("SalVentAttn", "Cont"): 0.30,
    ("Cont", "Default"): 0.15,
    ("DorsAttn", "Default"): -0.25,
    ("SalVentAttn", "Default"): -0.15,
    ("Limbic", "Default"): 0.25,
}
#: Change per standardised age unit (``(age - 49) / 18``): loadings ("w", net)
#: and couplings ("r", net1, net2).
AGE_EFFECTS = {
    ("w", "Default"): -0.07,
    ("w", "Cont"): -0.05,
    ("w", "DorsAttn"): -0.03,
    ("w", "SomMot"): 0.02,
    ("r", "Cont", "Default"): 0.08,
    ("r", "DorsAttn", "Default"): 0.08,
    ("r", "SalVentAttn", "Default"): 0.05,
}
#: Difference male minus female.
SEX_EFFECTS = {
    ("r", "Vis", "SomMot"): 0.22,
    ("r", "Limbic", "Default"): -0.15,
    ("w", "SomMot"): 0.05,
    ("w", "Limbic"): -0.05,
}
#: Standard deviation of each subject's own deviation from the population model.
SUBJECT_LOADING_SD = 0.05
SUBJECT_COUPLING_SD = 0.08
AGE_CENTRE, AGE_SCALE = 49.0, 18.0


@dataclass(frozen=True)
class NetworkModel:
    """One subject's true network parameters.

    Attributes
    ----------
    loadings : ndarray, shape (7,)
        Within-network loading ``w`` per network (order of :data:`NETWORKS`).
    coupling : ndarray, shape (7, 7)
        Correlation matrix of the network latents (SPD, unit diagonal).
    """

    loadings: np.ndarray
    coupling: np.ndarray


def network_model(age, sex, rng):
    """Draw one subject's network parameters from its demographics.

    Parameters
    ----------
    age : float
        Age in years.
    sex : {"M", "F"}
        Sex.
    rng : numpy.random.Generator
        Source of the subject's own deviation.

    Returns
    -------
    model : NetworkModel
    """
    az = (age - AGE_CENTRE) / AGE_SCALE
    male = 1.0 if sex == "M" else 0.0
    w = np.array([BASE_LOADING[n] for n in NETWORKS])
    r = np.eye(_N)
    for (a, b), v in BASE_COUPLING.items():
        r[_IDX[a], _IDX[b]] = r[_IDX[b], _IDX[a]] = v
    for effects, scale in ((AGE_EFFECTS, az), (SEX_EFFECTS, male)):
        for key, v in effects.items():
            if key[0] == "w":
                w[_IDX[key[1]]] += v * scale
            else:
                i, j = _IDX[key[1]], _IDX[key[2]]
                r[i, j] += v * scale
                r[j, i] = r[i, j]
    w = np.clip(w + rng.normal(0.0, SUBJECT_LOADING_SD, _N), 0.2, 0.92)
    noise = np.triu(rng.normal(0.0, SUBJECT_COUPLING_SD, (_N, _N)), 1)
    r = r + noise + noise.T
    return NetworkModel(loadings=w, coupling=_nearest_correlation(r))


def _nearest_correlation(r, floor=0.05):
    """Clip eigenvalues at ``floor`` and rescale to a unit diagonal (SPD)."""
    vals, vecs = np.linalg.eigh((r + r.T) / 2)
    r = (vecs * np.maximum(vals, floor)) @ vecs.T
    d = np.sqrt(np.diag(r))
    return r / d[:, None] / d[None, :]


def bold_noise(rng, n_times, tr, n_series, low=0.01, high=0.1):
    """Gaussian noise band-limited like BOLD fluctuations.

    White noise shaped in the Fourier domain by the magnitude response of a
    2nd-order Butterworth band-pass, on twice the length (then cropped) so the
    start and end of the series are not circularly tied.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_times : int
        Number of samples (volumes).
    tr : float
        Sampling period in seconds.
    n_series : int
        Number of independent series.
    low, high : float
        Band edges in Hz.

    Returns
    -------
    x : ndarray, shape (n_times, n_series)
        Zero mean, unit variance per series.
    """
    n_fft = 2 * n_times
    freqs = np.fft.rfftfreq(n_fft, d=tr)
    with np.errstate(divide="ignore"):
        gain = 1.0 / np.sqrt(1.0 + (low / freqs) ** 4) / np.sqrt(1.0 + (freqs / high) ** 4)
    gain[0] = 0.0
    spec = rng.standard_normal((freqs.size, n_series)) + 1j * rng.standard_normal(
        (freqs.size, n_series)
    )
    x = np.fft.irfft(spec * gain[:, None], n=n_fft, axis=0)[:n_times]
    x -= x.mean(axis=0)
    x /= x.std(axis=0)
    return x


def roi_loading_scale(n_parcels):
    """Fixed per-ROI scale ``lambda`` of the network loading, shape (n_parcels,).

    A property of the model, not of the seed: some parcels are more typical
    of their network than others (hubs versus border parcels).
    """
    return np.random.default_rng(20240607).uniform(0.85, 1.08, n_parcels)


def simulate_roi_timeseries(rng, model, parcel_networks, n_volumes, tr):
    """ROI signals of one run from a subject's network model.

    Parameters
    ----------
    rng : numpy.random.Generator
    model : NetworkModel
    parcel_networks : ndarray of int, shape (n_parcels,)
        Network index (into :data:`NETWORKS`) of each parcel.
    n_volumes : int
    tr : float
        Repetition time in seconds.

    Returns
    -------
    roi : ndarray, shape (n_volumes, n_parcels)
        Unit-variance ROI signals.
    """
    n_parcels = parcel_networks.size
    latents = bold_noise(rng, n_volumes, tr, _N) @ np.linalg.cholesky(model.coupling).T
    load = np.clip(model.loadings[parcel_networks] * roi_loading_scale(n_parcels), 0.0, 0.97)
    own = bold_noise(rng, n_volumes, tr, n_parcels)
    return latents[:, parcel_networks] * load + own * np.sqrt(1.0 - load**2)


def simulate_motion(rng, n_volumes, level):
    """Six rigid-body parameters: slow random walks plus occasional spikes.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_volumes : int
    level : float
        Motion scale (1 is a typical cooperative adult).

    Returns
    -------
    params : ndarray, shape (n_volumes, 6)
        ``trans_x, trans_y, trans_z`` in mm, ``rot_x, rot_y, rot_z`` in radians.
    spikes : ndarray of int
        Volumes where a sudden movement happened.
    """
    step_sd = np.array([0.02, 0.03, 0.04, 0.0004, 0.0003, 0.0003]) * level
    walk = np.cumsum(rng.normal(0.0, 1.0, (n_volumes, 6)) * step_sd, axis=0)
    # Pull the end half-way back towards the start: keeps the drift of long
    # runs bounded (people settle rather than wander off).
    walk -= np.linspace(0, 1, n_volumes)[:, None] * walk[-1] * 0.5
    n_spikes = rng.poisson(0.012 * n_volumes * level)
    spikes = np.sort(rng.choice(np.arange(1, n_volumes), size=min(n_spikes, n_volumes - 1), replace=False))
    for s in spikes:
        jump = rng.normal(0.0, 1.0, 6) * np.array([0.3, 0.4, 0.5, 0.006, 0.004, 0.004]) * level
        length = rng.integers(1, 4)  # the head goes back after 1-3 volumes
        walk[s : s + length] += jump
    return walk, spikes


def framewise_displacement(params, radius=50.0):
    """Power et al. (2012) framewise displacement.

    Parameters
    ----------
    params : ndarray, shape (n_volumes, 6)
        Translations (mm) then rotations (rad).
    radius : float
        Head radius in mm turning rotations into arc lengths.

    Returns
    -------
    fd : ndarray, shape (n_volumes,)
        ``nan`` for the first volume, as fMRIPrep writes ``n/a``.
    """
    d = np.abs(np.diff(params, axis=0))
    fd = d[:, :3].sum(axis=1) + radius * d[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def _baseline_image(atlas):
    """EPI-like baseline intensity (T2*-weighted: CSF > GM > WM), shape of the grid.

    Arbitrary units around 150: integer steps are then 0.7 % of the baseline,
    below the 0.8 % thermal noise that dithers them (the quantisation adds
    about 6 % to the noise variance), and the narrow range of values keeps the
    gzipped int16 images small (about 1 MB per 150 volumes).
    """
    from scipy.ndimage import gaussian_filter

    mask = atlas.labels > 0
    s0 = (115.0 + 40.0 * atlas.gm + 25.0 * atlas.wm + 70.0 * atlas.csf) * mask
    # Smooth slightly to get a plausible point-spread, then re-mask.
    return gaussian_filter(s0, 0.6) * mask


def simulate_bold_run(rng, atlas, roi, *, tr, motion_level=1.0, noise_level=1.0, bold_amplitude=1.0):
    """Voxel time series of one run from its ROI signals.

    Parameters
    ----------
    rng : numpy.random.Generator
    atlas : Atlas
        The demo atlas (:func:`.atlas.load_atlas`).
    roi : ndarray, shape (n_volumes, n_parcels)
        ROI signals (:func:`simulate_roi_timeseries`).
    tr : float
        Repetition time in seconds.
    motion_level : float
        Head-motion scale.
    noise_level : float
        Thermal-noise scale (1 is 0.8 % of the baseline per voxel).
    bold_amplitude : float
        Scale of the neural BOLD signal (1 is 1 % of the baseline).

    Returns
    -------
    data : ndarray of int16, shape (nx, ny, nz, n_volumes)
        Zero outside the brain.
    confounds : pandas.DataFrame, n_volumes rows
        ``trans_x ... rot_z``, ``framewise_displacement``, ``global_signal``,
        ``csf``, ``white_matter``.
    motion_spikes : ndarray of int
        Volumes with a sudden movement.
    """
    import pandas as pd

    n_volumes, _ = roi.shape
    mask = atlas.labels > 0
    parcel = atlas.labels[mask].astype(int) - 1
    n_vox = parcel.size
    s0_img = _baseline_image(atlas)
    s0 = s0_img[mask]

    # Neural signal: grey matter carries most of it, white matter little.
    weight = (0.25 + 0.75 * atlas.gm[mask]) * rng.uniform(0.8, 1.2, n_vox)
    frac = 0.01 * bold_amplitude * weight[None, :] * roi[:, parcel]

    # Physiological signals: CSF pulsation/respiration-like, WM, and a global
    # slow drift (arousal, CO2) shared by all voxels.
    phys = bold_noise(rng, n_volumes, tr, 3, low=0.005, high=0.2)
    frac += 0.03 * phys[:, [0]] * atlas.csf[mask][None, :]
    frac += 0.008 * phys[:, [1]] * atlas.wm[mask][None, :]
    frac += 0.004 * phys[:, [2]]
    t = np.linspace(-1.0, 1.0, n_volumes)[:, None]
    frac += rng.normal(0.0, 0.004) * t + rng.normal(0.0, 0.002) * (t**2 - 1 / 3)

    # Head motion through the baseline image's gradient (mm units):
    # displacement(v, t) = T(t) + omega(t) x r(v) for small angles, and
    # dS = -grad . displacement = -(T . grad + omega . (r x grad)).
    params, spikes = simulate_motion(rng, n_volumes, motion_level)
    grad = np.stack(np.gradient(s0_img, VOXEL_MM), axis=-1)[mask]  # (n_vox, 3) per mm
    xyz = np.argwhere(mask) @ atlas.affine[:3, :3].T + atlas.affine[:3, 3]
    rel = xyz - xyz.mean(axis=0)
    # Partial-volume blurring within 6 mm voxels halves the edge effect.
    d_motion = -0.5 * (params[:, :3] @ grad.T + params[:, 3:] @ np.cross(rel, grad).T)
    signal = s0[None, :] * (1.0 + frac) + d_motion
    for s in spikes:  # spin-history: a short global drop after a jerk
        signal[s : s + 2] *= 1.0 - rng.uniform(0.01, 0.03)
    signal += rng.normal(0.0, 1.0, signal.shape) * (0.008 * noise_level * s0.mean())

    signal = np.clip(np.rint(signal), 1, np.iinfo(np.int16).max).astype(np.int16)
    data = np.zeros(mask.shape + (n_volumes,), dtype=np.int16)
    data[mask] = signal.T

    # Realignment estimates: true motion plus a small estimation error.
    est = params + rng.normal(0.0, 1.0, params.shape) * np.array([0.005] * 3 + [0.00008] * 3)
    sig = signal.astype(float)
    csf_vox = atlas.csf[mask] > 0.5
    wm_vox = atlas.wm[mask] > 0.9
    confounds = pd.DataFrame(
        {
            "trans_x": est[:, 0],
            "trans_y": est[:, 1],
            "trans_z": est[:, 2],
            "rot_x": est[:, 3],
            "rot_y": est[:, 4],
            "rot_z": est[:, 5],
            "framewise_displacement": framewise_displacement(est),
            "global_signal": sig.mean(axis=1),
            "csf": sig[:, csf_vox].mean(axis=1),
            "white_matter": sig[:, wm_vox].mean(axis=1),
        }
    )
    return data, confounds.round(6), spikes


def bold_image(data, atlas, tr):
    """Wrap a 4D int16 array as a NIfTI image with TR in the header.

    Parameters
    ----------
    data : ndarray of int16, shape (nx, ny, nz, n_volumes)
    atlas : Atlas
    tr : float
        Repetition time in seconds (``pixdim[4]``).

    Returns
    -------
    img : nibabel.Nifti1Image
    """
    import nibabel as nib

    img = nib.Nifti1Image(data, atlas.affine)
    img.header.set_xyzt_units("mm", "sec")
    zooms = tuple(float(z) for z in np.abs(np.diag(atlas.affine)[:3])) + (float(tr),)
    img.header.set_zooms(zooms)
    img.header.set_qform(atlas.affine, code=4)
    img.header.set_sform(atlas.affine, code=4)
    img.header["descrip"] = b"brainpipe simulated rest BOLD"
    return img
