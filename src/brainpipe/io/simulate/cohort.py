"""A cohort of ROI time series with known demographic and site effects, no images.

The demo dataset writes 6-mm BOLD images for 40 subjects; model evaluations
and scale benchmarks need more subjects than that and no NIfTI round trip.
This draws the same network model (:func:`brainpipe.io.simulate.fmri.network_model`:
age and sex change network loadings and couplings) on the demo atlas's
parcel-to-network map, and adds the site effect at the ROI level: each site's
scanner adds its own share of white noise (:data:`SITE_NOISE`), which lowers
the measured correlations, as thermal noise does in the BOLD images.
"""

from __future__ import annotations

import numpy as np

from . import fmri
from .participants import SITE_NOISE, draw_participants, rng_for

__all__ = ["simulate_cohort"]

_STREAM_COHORT = 9_001
#: Share of white (scanner) noise in the ROI signal at noise level 1.
SITE_WHITE_NOISE = 0.35


def simulate_cohort(n_subjects, *, seed=0, n_volumes=200, tr=2.0, parcel_networks=None):
    """ROI time series and demographics of ``n_subjects`` simulated subjects.

    Parameters
    ----------
    n_subjects : int
    seed : int
    n_volumes : int
        Time points per subject.
    tr : float
        Repetition time (s).
    parcel_networks : ndarray of int or None
        Network index of each parcel; default: the demo atlas's 100 parcels.

    Returns
    -------
    timeseries : ndarray, shape (n_subjects, n_volumes, n_parcels)
    participants : pandas.DataFrame
        ``participant_id, age, sex, site``.
    """
    if parcel_networks is None:
        from .atlas import load_atlas

        parcel_networks = load_atlas().network_index
    table = draw_participants(seed, n_subjects, 0)[["participant_id", "age", "sex", "site"]]
    out = np.empty((n_subjects, n_volumes, len(parcel_networks)))
    for i, row in enumerate(table.itertuples()):
        model = fmri.network_model(float(row.age), row.sex, rng_for(seed, _STREAM_COHORT, i, 0))
        rng = rng_for(seed, _STREAM_COHORT, i, 1)
        roi = fmri.simulate_roi_timeseries(rng, model, parcel_networks, n_volumes, tr)
        scale = SITE_WHITE_NOISE * SITE_NOISE[row.site]
        out[i] = roi + scale * rng.standard_normal(roi.shape)
    return out, table
