"""T1-weighted images: the MNI152 template with per-subject acquisition flaws.

Starting from nilearn's bundled MNI152 2009a template at 2 mm (a head image,
scalp included), each subject gets

- a smooth multiplicative intensity bias field (a random quadratic
  polynomial in the coordinates, exponentiated; RF inhomogeneity),
- optionally a motion artefact: the head moves during the acquisition, so a
  random subset of phase-encode lines (along the anterior-posterior axis) is
  acquired with the head shifted, which in image space gives ghosts and
  ringing along that axis,
- Rician noise (Gaussian noise on the real and imaginary channels, then the
  magnitude), so the background is noise, as in a real magnitude image.

The image is stored as int16 in MNI152NLin2009aSym space.
"""

from __future__ import annotations

import numpy as np

#: Intensity of the template's maximum in the simulated image. The template
#: itself is 8-bit; a small scale keeps the int16 files small (gzip) and the
#: bias field's headroom unclipped.
INTENSITY_SCALE = 250.0
#: Phase-encode axis of the simulated acquisition (1 = anterior-posterior).
PHASE_ENCODE_AXIS = 1


def load_template():
    """Return the bundled MNI152 template at 2 mm.

    Returns
    -------
    data : ndarray, shape (99, 117, 95)
        Intensities scaled to [0, 1].
    affine : ndarray, shape (4, 4)
        nilearn's 2 mm MNI grid.
    """
    from nilearn import datasets
    from nilearn.image import resample_img

    # The 1 mm file resampled linearly onto nilearn's 2 mm grid: the same grid
    # as load_mni152_template(resolution=2), at a third of its (cubic) cost.
    img = datasets.load_mni152_template(resolution=1)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-98.0, -134.0, -72.0)
    img = resample_img(
        img,
        target_affine=affine,
        target_shape=(99, 117, 95),
        interpolation="linear",
        force_resample=True,
        copy_header=True,
    )
    data = np.clip(np.asarray(img.get_fdata(), dtype=float), 0.0, None)
    return data / data.max(), affine


def bias_field(rng, shape, strength):
    """Smooth multiplicative bias field, shape ``shape``, geometric mean about 1.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
    strength : float
        Standard deviation of the log field over the volume (0.1 is +-10 %).

    Returns
    -------
    field : ndarray, shape ``shape``
    """
    # A quadratic polynomial in (x, y, z) in [-1, 1], built by broadcasting the
    # 1-D axes (9 terms: 3 linear, 3 cross, 3 centred squares).
    x, y, z = (
        np.linspace(-1.0, 1.0, n).reshape([-1 if i == axis else 1 for i in range(3)])
        for axis, n in enumerate(shape)
    )
    c = rng.normal(0.0, 1.0, 9)
    log_field = (
        (c[0] * x + c[6] * (x**2 - 1 / 3))
        + (c[1] * y + c[7] * (y**2 - 1 / 3))
        + (c[2] * z + c[8] * (z**2 - 1 / 3))
        + c[3] * x * y
        + c[4] * x * z
        + c[5] * y * z
    )
    log_field = log_field - log_field.mean()
    log_field *= strength / log_field.std()
    return np.exp(log_field)


def motion_ghosting(rng, data, fraction=0.3, max_shift_mm=6.0, voxel_mm=2.0, axis=PHASE_ENCODE_AXIS):
    """Simulate in-scan head motion as ghosting along the phase-encode axis.

    A random ``fraction`` of the k-space lines along ``axis`` is acquired with
    the head translated by a random shift (up to ``max_shift_mm``) along that
    axis: those lines get the linear phase ramp of the shift theorem. The
    magnitude of the inverse transform shows ghosts and ringing.

    Parameters
    ----------
    rng : numpy.random.Generator
    data : ndarray, shape (nx, ny, nz)
        Real, non-negative image.
    fraction : float
        Fraction of the phase-encode lines acquired while displaced.
    max_shift_mm : float
    voxel_mm : float
    axis : int

    Returns
    -------
    out : ndarray, shape (nx, ny, nz)
        Magnitude image with the artefact.
    """
    n = data.shape[axis]
    k = np.fft.fftfreq(n)  # cycles per voxel
    spectrum = np.fft.fft(data, axis=axis)
    moved = rng.random(n) < fraction
    shift = np.zeros(n)
    shift[moved] = rng.uniform(0.4, 1.0, moved.sum()) * max_shift_mm / voxel_mm
    shape = [1] * data.ndim
    shape[axis] = n
    spectrum *= np.exp(-2j * np.pi * k * shift).reshape(shape)
    return np.abs(np.fft.ifft(spectrum, axis=axis))


def simulate_t1(rng, template, *, noise_level, bias_strength, motion_artifact):
    """One subject's T1w image.

    Parameters
    ----------
    rng : numpy.random.Generator
    template : ndarray, shape (nx, ny, nz)
        Template intensities in [0, 1] (:func:`load_template`).
    noise_level : float
        Rician noise standard deviation as a fraction of the template maximum
        (0.01-0.05 covers good to poor scanners).
    bias_strength : float
        See :func:`bias_field`.
    motion_artifact : bool
        Whether to add ghosting (:func:`motion_ghosting`).

    Returns
    -------
    data : ndarray of int16, shape (nx, ny, nz)
    """
    img = template * bias_field(rng, template.shape, bias_strength)
    if motion_artifact:
        img = motion_ghosting(rng, img)
    sigma = noise_level
    real = img + rng.normal(0.0, sigma, img.shape)
    imag = rng.normal(0.0, sigma, img.shape)
    mag = np.sqrt(real**2 + imag**2) * INTENSITY_SCALE
    return np.clip(np.rint(mag), 0, np.iinfo(np.int16).max).astype(np.int16)


def t1_image(data, affine):
    """Wrap a T1 array as a NIfTI image (int16, MNI sform).

    Parameters
    ----------
    data : ndarray of int16, shape (nx, ny, nz)
    affine : ndarray, shape (4, 4)

    Returns
    -------
    img : nibabel.Nifti1Image
    """
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_qform(affine, code=4)
    img.header.set_sform(affine, code=4)
    img.header["descrip"] = b"brainpipe simulated T1w"
    return img


def ghosting_ratio(data, axis=PHASE_ENCODE_AXIS, threshold=0.1):
    """A simple motion-artefact score: background in the head's shadow vs elsewhere.

    Ghosts of a shift along ``axis`` stay on the lines (along ``axis``) that
    cross the head, while lines missing the head hold only noise. The ratio
    of the mean background intensity on head-crossing lines to that on
    head-free lines is about 1 for a clean image and larger with ghosting,
    whatever the noise level.

    Parameters
    ----------
    data : ndarray, shape (nx, ny, nz)
    axis : int
        Phase-encode axis.
    threshold : float
        Head mask threshold as a fraction of the 99th intensity percentile.

    Returns
    -------
    ratio : float
    """
    from scipy import ndimage

    data = np.asarray(data, dtype=float)
    head = data > threshold * np.percentile(data, 99)
    head = ndimage.binary_opening(head, iterations=2)
    head = ndimage.binary_dilation(head, iterations=3)
    crosses = head.any(axis=axis, keepdims=True) & np.ones_like(head)
    background = ~head
    shadow = data[background & crosses]
    free = data[background & ~crosses]
    return float(shadow.mean() / free.mean())
