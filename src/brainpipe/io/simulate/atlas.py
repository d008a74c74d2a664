"""The demo parcellation ``atlas-demo100``: 100 parcels in 7 networks on a 6 mm grid.

Built from nilearn's bundled MNI152 (2009a symmetric) brain mask, with no
download: the mask is resampled to 6 mm, the left hemisphere is cut into 50
parcels by k-means on voxel coordinates, and the right hemisphere takes the
mirror image of those parcels (the template is symmetric), so homologous
parcels exist for every region. Each parcel joins one of the 7 networks of
Yeo et al. (2011) through the nearest of a few canonical MNI seed points per
network.

The atlas does not depend on the simulation seed: like a real atlas it is the
same file for every demo dataset. The simulated fMRI uses these very parcels
(every voxel of parcel k carries ROI k's signal).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Voxel size of the demo fMRI grid and atlas, in mm.
VOXEL_MM = 6.0
#: Grid: 32 x 38 x 31 voxels of 6 mm whose x centres are +-3, +-9, ... mm, so
#: that no voxel sits on the midline and the hemispheres split cleanly.
GRID_SHAPE = (32, 38, 31)
GRID_AFFINE = np.array(
    [
        [VOXEL_MM, 0.0, 0.0, -93.0],
        [0.0, VOXEL_MM, 0.0, -129.0],
        [0.0, 0.0, VOXEL_MM, -69.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
#: Template space of the grid (nilearn ships the ICBM 2009a symmetric template).
SPACE = "MNI152NLin2009aSym"
ATLAS_NAME = "demo100"
N_PARCELS_PER_HEMI = 50

#: Yeo-7 network names in the order used everywhere in the simulation.
NETWORKS = ("Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default")

# Canonical left-hemisphere MNI seed points (mm) per network; a parcel joins
# the network of its nearest seed. Approximate centres of the Yeo-7 networks
# (visual cortex, pre/postcentral and auditory, intraparietal sulcus and FEF,
# insula/ACC/supramarginal, orbitofrontal and temporal pole, dlPFC and
# inferior parietal, PCC/mPFC/angular/lateral temporal/hippocampus).
_NETWORK_SEEDS = {
    "Vis": [(-10, -90, 0), (-26, -82, -12), (-12, -70, 8), (-42, -76, -8), (-20, -60, -20)],
    "SomMot": [(-38, -24, 58), (-56, -12, 30), (-10, -22, 68), (-50, -22, 12), (-20, -50, -40)],
    "DorsAttn": [(-26, -60, 56), (-44, -40, 46), (-26, -8, 56), (-50, -64, -2)],
    "SalVentAttn": [(-36, 16, 2), (-6, 18, 38), (-58, -42, 30), (-14, -6, 6)],
    "Limbic": [(-24, 12, -32), (-8, 36, -20), (-44, 6, -36), (-24, -10, -10)],
    "Cont": [(-44, 30, 30), (-40, 50, 8), (-48, -52, 46), (-8, -66, 40), (-30, -66, -44)],
    "Default": [(-6, -54, 28), (-6, 52, 2), (-46, -68, 32), (-60, -20, -16), (-24, -24, -18), (-8, 56, 30)],
}


@dataclass(frozen=True)
class Atlas:
    """The demo parcellation on the 6 mm grid.

    Attributes
    ----------
    labels : ndarray of int16, shape (32, 38, 31)
        Parcel index per voxel, 0 outside the brain, 1..100 inside.
    affine : ndarray, shape (4, 4)
        Voxel-to-MNI affine of the grid.
    names : tuple of str, length n_parcels
        ``LH_<network>_<k>`` / ``RH_<network>_<k>`` names; ``names[k - 1]`` is label k.
    networks : tuple of str, length n_parcels
        Network of each parcel (one of :data:`NETWORKS`).
    gm, wm, csf : ndarray of float, shape (32, 38, 31)
        Tissue probability maps on the same grid (CSF is what is left of the
        brain mask after grey and white matter).
    """

    labels: np.ndarray
    affine: np.ndarray
    names: tuple
    networks: tuple
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray

    @property
    def n_parcels(self):
        return len(self.names)

    @property
    def network_index(self):
        """ndarray of int, shape (n_parcels,): index into :data:`NETWORKS` per parcel."""
        return np.array([NETWORKS.index(n) for n in self.networks])

    def table(self):
        """The ``dseg.tsv`` table: columns ``index``, ``name``, ``network``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "index": np.arange(1, self.n_parcels + 1),
                "name": list(self.names),
                "network": list(self.networks),
            }
        )

    def to_nifti(self):
        """The label image as a ``nibabel.Nifti1Image`` (int16)."""
        import nibabel as nib

        img = nib.Nifti1Image(self.labels.astype(np.int16), self.affine)
        img.header.set_xyzt_units("mm")
        img.header.set_qform(self.affine, code=4)  # 4 = MNI152
        img.header.set_sform(self.affine, code=4)
        return img


def _resample_to_grid(img, interpolation="linear"):
    import nibabel as nib
    from nilearn.image import resample_img

    # Probabilities and masks alike are resampled as float images; a mask is
    # thresholded afterwards (partial-volume aware, unlike nearest neighbour).
    img = nib.Nifti1Image(np.asarray(img.get_fdata(), dtype=np.float32), img.affine)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Resampling binary images")
        out = resample_img(
            img,
            target_affine=GRID_AFFINE,
            target_shape=GRID_SHAPE,
            interpolation=interpolation,
            force_resample=True,
            copy_header=True,
        )
    return np.asarray(out.get_fdata(), dtype=float)


def _voxel_mm(shape=GRID_SHAPE, affine=GRID_AFFINE):
    """MNI coordinates (mm) of every voxel centre, shape (*shape, 3)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


@lru_cache(maxsize=1)
def load_atlas():
    """Build (once per process) and return the demo :class:`Atlas`.

    Returns
    -------
    atlas : Atlas
        Labels 1..100: left hemisphere 1..50, right hemisphere 51..100, with
        parcel ``50 + k`` the mirror image of parcel ``k``.
    """
    from nilearn import datasets
    from scipy.cluster.vq import kmeans2

    # Read at 1 mm (no resampling inside nilearn) and resample once to 6 mm.
    mask = _resample_to_grid(datasets.load_mni152_brain_mask(resolution=1)) > 0.5
    gm = np.clip(_resample_to_grid(datasets.load_mni152_gm_template(resolution=1)), 0, 1) * mask
    wm = np.clip(_resample_to_grid(datasets.load_mni152_wm_template(resolution=1)), 0, 1) * mask
    csf = np.clip(1.0 - gm - wm, 0, 1) * mask

    xyz = _voxel_mm()
    left = mask & (xyz[..., 0] < 0)
    right = mask & (xyz[..., 0] > 0)
    # k-means on left-hemisphere coordinates with a fixed seed: the atlas is a
    # constant of the package, not of the simulation seed. scipy's kmeans2 is
    # single-threaded, so the result does not depend on thread scheduling.
    centres, left_lab = kmeans2(xyz[left], N_PARCELS_PER_HEMI, iter=100, minit="++", seed=0)

    # Order parcels by network, then front to back, so that labels read well.
    seeds = np.array([s for net in NETWORKS for s in _NETWORK_SEEDS[net]], dtype=float)
    seed_net = np.array([i for i, net in enumerate(NETWORKS) for _ in _NETWORK_SEEDS[net]])
    nearest = np.argmin(((centres[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    net_of = seed_net[nearest]
    order = np.lexsort((-centres[:, 1], net_of))  # network first, then anterior first
    rank = np.empty(N_PARCELS_PER_HEMI, dtype=int)
    rank[order] = np.arange(N_PARCELS_PER_HEMI)

    labels = np.zeros(GRID_SHAPE, dtype=np.int16)
    labels[left] = rank[left_lab] + 1
    # Right hemisphere: nearest mirrored centre (mirror x of the centres).
    mirrored = centres * np.array([-1.0, 1.0, 1.0])
    right_lab = np.argmin(((xyz[right][:, None, :] - mirrored[None]) ** 2).sum(-1), axis=1)
    labels[right] = rank[right_lab] + 1 + N_PARCELS_PER_HEMI

    names, networks = [], []
    for hemi in ("LH", "RH"):
        counts = dict.fromkeys(NETWORKS, 0)
        for k in order:
            net = NETWORKS[net_of[k]]
            counts[net] += 1
            names.append(f"{hemi}_{net}_{counts[net]}")
            networks.append(net)
    return Atlas(
        labels=labels,
        affine=GRID_AFFINE.copy(),
        names=tuple(names),
        networks=tuple(networks),
        gm=gm,
        wm=wm,
        csf=csf,
    )
