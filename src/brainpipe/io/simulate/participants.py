"""Demographics and the per-subject ground truth of the demo dataset.

Ages are stratified over 18-80 years (one draw per equal-width age bin, in
random order) so that even a handful of subjects spans the range; sex is
balanced and sites rotate, both in random order. Every per-subject
acquisition parameter (noise levels, motion, EEG effect strength) is drawn
here too and written to ``derivatives/simulation/truth.tsv``, so tests can
check what a stage measures against what was simulated.
"""

from __future__ import annotations

import numpy as np

AGE_RANGE = (18.0, 80.0)
SITES = ("A", "B", "C")
#: Per-site scanner properties: thermal noise scale and BOLD amplitude
#: (a scanner/site effect that harmonisation methods can remove).
SITE_NOISE = {"A": 1.0, "B": 1.3, "C": 0.85}
SITE_BOLD = {"A": 1.0, "B": 0.9, "C": 1.1}
#: Fraction of subjects whose T1 has a motion artefact (at least one subject).
T1_ARTIFACT_FRACTION = 0.2
#: Range of the EEG event-related desynchronisation strength across subjects;
#: tuned so CSP+LDA / tangent space score about 0.7-0.9 within session.
ERD_STRENGTH_RANGE = (0.18, 0.5)

# Codes for independent random streams: numpy's SeedSequence accepts a list,
# so each (seed, stream, subject, ...) gets its own generator and adding
# subjects does not change the data of the others.
STREAM_DEMOGRAPHICS = 1
STREAM_TRUTH = 2
STREAM_FMRI = 3
STREAM_T1 = 4
STREAM_EEG = 5


def rng_for(seed, *keys):
    """An independent ``numpy.random.Generator`` for ``(seed, *keys)``."""
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])


def subject_ids(n_subjects):
    """Zero-padded labels ``"01"``, ``"02"``, ... (at least two digits)."""
    width = max(2, len(str(n_subjects)))
    return [f"{i:0{width}d}" for i in range(1, n_subjects + 1)]


def draw_participants(seed, n_subjects, n_eeg_subjects):
    """Demographics and ground truth of every subject.

    Parameters
    ----------
    seed : int
    n_subjects : int
    n_eeg_subjects : int
        Subjects ``1..n_eeg_subjects`` have EEG.

    Returns
    -------
    table : pandas.DataFrame, n_subjects rows
        ``participant_id, age, sex, site`` (the participants.tsv columns),
        then the truth columns: ``t1_motion_artifact`` (0/1),
        ``t1_noise_level``, ``t1_bias_strength``, ``fmri_motion_level``,
        ``fmri_noise_level``, ``fmri_bold_amplitude``, ``eeg_erd_strength``
        (NaN without EEG).
    """
    import pandas as pd

    rng = rng_for(seed, STREAM_DEMOGRAPHICS)
    n = n_subjects
    lo, hi = AGE_RANGE
    ages = lo + (hi - lo) * (rng.permutation(n) + rng.uniform(0.0, 1.0, n)) / n
    sex = np.array(["F", "M"] * (n // 2 + 1))[:n][rng.permutation(n)]
    site = np.array(SITES * (n // len(SITES) + 1))[:n][rng.permutation(n)]
    n_art = max(1, int(round(T1_ARTIFACT_FRACTION * n)))
    artifact = np.zeros(n, dtype=int)
    artifact[rng.choice(n, n_art, replace=False)] = 1

    rows = []
    for i, sub in enumerate(subject_ids(n)):
        r = rng_for(seed, STREAM_TRUTH, i)
        az = (ages[i] - 49.0) / 18.0
        rows.append(
            {
                "participant_id": f"sub-{sub}",
                "age": int(np.floor(ages[i])),
                "sex": sex[i],
                "site": site[i],
                "t1_motion_artifact": int(artifact[i]),
                "t1_noise_level": round(float(r.uniform(0.008, 0.03) * SITE_NOISE[site[i]]), 5),
                "t1_bias_strength": round(float(r.uniform(0.03, 0.15)), 5),
                # Older people move a little more: a realistic confound of age.
                "fmri_motion_level": round(float(np.exp(r.normal(0.2 * az, 0.4))), 5),
                "fmri_noise_level": round(float(r.uniform(0.8, 1.2) * SITE_NOISE[site[i]]), 5),
                "fmri_bold_amplitude": round(float(r.uniform(0.85, 1.15) * SITE_BOLD[site[i]]), 5),
                "eeg_erd_strength": (
                    round(float(r.uniform(*ERD_STRENGTH_RANGE)), 5) if i < n_eeg_subjects else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


#: participants.json: descriptions of the participants.tsv columns.
PARTICIPANTS_JSON = {
    "participant_id": {"Description": "Unique participant identifier"},
    "age": {"Description": "Age of the participant at the time of scanning", "Units": "year"},
    "sex": {
        "Description": "Sex of the participant",
        "Levels": {"M": "male", "F": "female"},
    },
    "site": {
        "Description": "Acquisition site (scanner); sites differ in noise level and BOLD amplitude",
        "Levels": {s: f"site {s}" for s in SITES},
    },
}

#: truth.json: descriptions of the truth.tsv columns.
TRUTH_JSON = {
    "participant_id": {"Description": "Participant identifier, as in participants.tsv"},
    "age": {"Description": "Age used by the fMRI network model", "Units": "year"},
    "sex": {"Description": "Sex used by the fMRI network model", "Levels": {"M": "male", "F": "female"}},
    "site": {"Description": "Acquisition site"},
    "t1_motion_artifact": {
        "Description": "1 if the T1w has a simulated in-scan motion artefact (ghosting along the anterior-posterior phase-encode axis)",
        "Levels": {"0": "clean", "1": "motion artefact"},
    },
    "t1_noise_level": {"Description": "Rician noise sigma of the T1w as a fraction of the template maximum"},
    "t1_bias_strength": {"Description": "Standard deviation of the log intensity bias field of the T1w"},
    "fmri_motion_level": {"Description": "Head-motion scale of the resting-state run (1 = typical)"},
    "fmri_noise_level": {"Description": "Thermal noise scale of the BOLD images (1 = 0.8 % of baseline per voxel)"},
    "fmri_bold_amplitude": {"Description": "Neural BOLD amplitude scale (1 = 1 % of baseline)"},
    "eeg_erd_strength": {
        "Description": "Mean fractional drop of contralateral mu/beta amplitude during motor imagery (n/a without EEG)"
    },
    "fmri_mean_fd": {"Description": "Mean framewise displacement of the resting-state run", "Units": "mm"},
    "fmri_n_motion_spikes": {"Description": "Number of sudden head movements in the resting-state run"},
}
