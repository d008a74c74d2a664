"""Motor-imagery EEG: continuous runs with left/right-hand imagery and idle periods.

Sensor signals are sums of sources projected to the 22 electrodes of a
BNCI2014_001-like montage through a smooth, distance-based forward model
(a Gaussian of the electrode-to-source distance, a crude stand-in for volume
conduction):

- **background**: 1/f (pink-to-brown) noise from a grid of sources at every
  electrode, so neighbouring channels are correlated;
- **posterior alpha** (~10 Hz) below POz, waxing and waning;
- **sensorimotor mu** (subject-specific 9-13 Hz) and **beta** (18-24 Hz)
  rhythms over the left (C3) and right (C4) hand areas, beta a little more
  anterior, plus a central mu source under Cz;
- **event-related desynchronisation**: after a ``left_hand`` cue the
  right-hemisphere (C4) mu/beta amplitude drops, after ``right_hand`` the
  left (C3) one, with a smooth onset (0.3-1.0 s after the cue), a plateau to
  the end of imagery and a smooth recovery; a weaker ipsilateral drop, a
  post-imagery beta rebound, and trial-to-trial variability (including some
  trials where the subject did not really imagine);
- **line noise** at the power-line frequency, slow electrode drifts and
  white amplifier noise.

Subject-specific: ERD strength (the decodability), rhythm frequencies and
amplitudes, source positions. Session-specific: channel gains (impedances),
background noise level, a small cap displacement (source positions move
relative to the electrodes) and a change of ERD strength, so a classifier
trained on one session does worse on the other.

A run is: an idle lead-in, then trials in random balanced order, each a cue,
``imagery_seconds`` of imagery and an idle pause drawn uniformly from
``idle_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: BNCI2014_001's 22 EEG channels (all in MNE's standard 10-20 montage).
EEG_CHANNELS = (
    "Fz", "FC3", "FC1", "FCz", "FC2", "FC4",
    "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
    "CP3", "CP1", "CPz", "CP2", "CP4",
    "P1", "Pz", "P2", "POz",
)  # fmt: skip
#: Event names and their codes in events.tsv ``value`` and the BrainVision markers.
EVENT_ID = {"left_hand": 1, "right_hand": 2}
#: Spatial spread (m) of the forward model's Gaussian kernel.
SPREAD_M = 0.03
LEAD_IN_S = 3.0
TAIL_S = 3.0


def montage():
    """The 10-20 montage (MNE's colin27/standard 10-20 positions).

    Returns
    -------
    montage : mne.channels.DigMontage
        Restricted to :data:`EEG_CHANNELS`.
    """
    import mne

    # MNE 1.13 renamed 'standard_1020' (same positions) and warns on the old name.
    name = "colin27_1020" if "colin27_1020" in mne.channels.get_builtin_montages() else "standard_1020"
    full = mne.channels.make_standard_montage(name)
    pos = full.get_positions()
    ch_pos = {ch: pos["ch_pos"][ch] for ch in EEG_CHANNELS}
    return mne.channels.make_dig_montage(
        ch_pos=ch_pos, nasion=pos["nasion"], lpa=pos["lpa"], rpa=pos["rpa"], coord_frame="head"
    )


def electrode_positions():
    """Electrode positions in head coordinates (m), shape (22, 3)."""
    pos = montage().get_positions()["ch_pos"]
    return np.array([pos[ch] for ch in EEG_CHANNELS])


def forward(source_pos, electrodes, spread=SPREAD_M):
    """Gaussian distance kernel from sources to electrodes.

    Parameters
    ----------
    source_pos : ndarray, shape (n_sources, 3)
    electrodes : ndarray, shape (n_channels, 3)
    spread : float
        Kernel width in m.

    Returns
    -------
    gain : ndarray, shape (n_channels, n_sources)
        Each column peaks at 1 on the electrode nearest the source.
    """
    d2 = ((electrodes[:, None, :] - source_pos[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2.0 * spread**2))


def _shaped_noise(rng, n_series, n_times, sfreq, amplitude):
    """Gaussian noise whose amplitude spectrum is ``amplitude(freqs)``, unit variance.

    Generated on a fast FFT length (>= ``n_times``) and cropped.
    """
    from scipy import fft

    n_fft = fft.next_fast_len(n_times, real=True)
    freqs = fft.rfftfreq(n_fft, d=1.0 / sfreq)
    amp = amplitude(freqs)
    spec = rng.standard_normal((n_series, freqs.size)) + 1j * rng.standard_normal((n_series, freqs.size))
    x = fft.irfft(spec * amp, n=n_fft, axis=-1)[:, :n_times]
    x -= x.mean(axis=-1, keepdims=True)
    return x / x.std(axis=-1, keepdims=True)


def colored_noise(rng, n_series, n_times, sfreq, exponent):
    """Gaussian noise with a ``1/f**exponent`` power spectrum (flat below 0.5 Hz).

    Returns
    -------
    x : ndarray, shape (n_series, n_times)
        Unit variance per series.
    """

    def amplitude(freqs):
        amp = 1.0 / np.maximum(freqs, 0.5) ** (exponent / 2.0)
        amp[0] = 0.0
        return amp

    return _shaped_noise(rng, n_series, n_times, sfreq, amplitude)


def narrowband(rng, n_series, n_times, sfreq, freq, bandwidth):
    """Gaussian noise with a Gaussian-shaped spectral peak: an oscillation.

    Parameters
    ----------
    freq : float | sequence of float
        Peak frequency, one for all series or one per series.
    bandwidth : float
        Standard deviation of the peak in Hz.

    Returns
    -------
    x : ndarray, shape (n_series, n_times)
        Unit variance per series; the amplitude envelope waxes and wanes
        naturally (narrow-band Gaussian noise).
    """
    peak = np.asarray(freq, dtype=float).reshape(-1, 1)
    return _shaped_noise(
        rng, n_series, n_times, sfreq, lambda f: np.exp(-0.5 * ((f - peak) / bandwidth) ** 2)
    )


def _smooth_step(t):
    """0 for t <= 0, 1 for t >= 1, raised cosine in between."""
    t = np.clip(t, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def erd_time_course(times, onset, imagery_seconds):
    """Fraction of desynchronisation over time for one trial (0 to 1).

    Rises from 0.3 s to 1.0 s after the cue, holds until the end of imagery,
    recovers over 0.8 s.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Seconds from the start of the run.
    onset : float
        Cue time (s).
    imagery_seconds : float

    Returns
    -------
    course : ndarray, shape (n_times,)
    """
    rise = _smooth_step((times - onset - 0.3) / 0.7)
    fall = 1.0 - _smooth_step((times - onset - imagery_seconds) / 0.8)
    return rise * fall


@dataclass(frozen=True)
class EEGSubject:
    """A subject's true EEG parameters (see :func:`draw_subject`)."""

    erd_strength: float
    mu_freq: float
    beta_freq: float
    mu_amp: float
    beta_amp: float
    alpha_amp: float
    background_amp: float
    source_jitter: np.ndarray  # (4, 3) m: C3 mu, C4 mu, C3 beta, C4 beta offsets


@dataclass(frozen=True)
class EEGSession:
    """A session's true parameters (see :func:`draw_session`)."""

    gains: np.ndarray  # (n_channels,)
    noise_scale: float
    erd_scale: float
    cap_shift: np.ndarray  # (3,) m
    mu_shift: float
    line_amp: float


def draw_subject(rng, erd_strength):
    """Draw a subject's rhythm parameters; ``erd_strength`` is set by the caller.

    Parameters
    ----------
    rng : numpy.random.Generator
    erd_strength : float
        Mean fractional drop of the contralateral mu/beta amplitude during
        imagery (0 = no effect, 1 = rhythm abolished).

    Returns
    -------
    subject : EEGSubject
    """
    return EEGSubject(
        erd_strength=float(erd_strength),
        mu_freq=float(rng.uniform(9.5, 12.5)),
        beta_freq=float(rng.uniform(18.0, 24.0)),
        mu_amp=float(rng.uniform(5.0, 9.0)),
        beta_amp=float(rng.uniform(2.5, 4.5)),
        alpha_amp=float(rng.uniform(6.0, 14.0)),
        background_amp=float(rng.uniform(9.0, 14.0)),
        source_jitter=rng.normal(0.0, 0.006, (4, 3)),
    )


def draw_session(rng, n_channels=len(EEG_CHANNELS)):
    """Draw a session's cap, impedance and state parameters.

    Returns
    -------
    session : EEGSession
    """
    return EEGSession(
        gains=np.clip(rng.normal(1.0, 0.08, n_channels), 0.7, 1.3),
        noise_scale=float(rng.uniform(0.85, 1.2)),
        erd_scale=float(rng.uniform(0.8, 1.1)),
        cap_shift=rng.normal(0.0, 0.006, 3),
        mu_shift=float(rng.normal(0.0, 0.4)),
        line_amp=float(rng.uniform(1.0, 5.0)),
    )


def trial_schedule(rng, trials_per_class, imagery_seconds, idle_seconds):
    """Cue onsets and classes of one run.

    Parameters
    ----------
    rng : numpy.random.Generator
    trials_per_class : int
    imagery_seconds : float
    idle_seconds : tuple of float
        (min, max) of the uniform idle pause after each imagery period.

    Returns
    -------
    onsets : ndarray, shape (n_trials,)
        Cue times in seconds from the start of the run.
    labels : ndarray of str, shape (n_trials,)
        ``left_hand`` / ``right_hand``, balanced, in random order.
    duration : float
        Run length in seconds.
    """
    labels = np.array(list(EVENT_ID) * trials_per_class)
    labels = labels[rng.permutation(labels.size)]
    pauses = rng.uniform(idle_seconds[0], idle_seconds[1], labels.size)
    starts = LEAD_IN_S + np.concatenate([[0.0], np.cumsum(imagery_seconds + pauses)[:-1]])
    onsets = np.round(starts, 3)
    duration = float(starts[-1] + imagery_seconds + pauses[-1] + TAIL_S)
    return onsets, labels, duration


def simulate_run(
    rng, subject, session, *, trials_per_class, sfreq, imagery_seconds, idle_seconds, line_freq
):
    """Simulate one continuous run.

    Parameters
    ----------
    rng : numpy.random.Generator
    subject : EEGSubject
    session : EEGSession
    trials_per_class : int
    sfreq : float
        Sampling frequency in Hz.
    imagery_seconds : float
        Length of the imagery period after each cue.
    idle_seconds : tuple of float
        Range of the uniform idle pause after each imagery period.
    line_freq : float
        Power-line frequency in Hz.

    Returns
    -------
    data : ndarray, shape (22, n_times)
        EEG in volts.
    onsets : ndarray, shape (n_trials,)
        Cue times in seconds.
    labels : ndarray of str, shape (n_trials,)
    """
    onsets, labels, duration = trial_schedule(rng, trials_per_class, imagery_seconds, idle_seconds)
    n_times = int(np.ceil(duration * sfreq))
    times = np.arange(n_times) / sfreq
    elec = electrode_positions()
    n_ch = elec.shape[0]
    shift = session.cap_shift

    # 1/f background from sources under every electrode (about 2 cm deep).
    bg_pos = elec * 0.8 + shift
    bg = forward(bg_pos, elec, spread=SPREAD_M * 1.2) @ colored_noise(rng, n_ch, n_times, sfreq, 1.6)
    bg *= subject.background_amp * session.noise_scale / bg.std(axis=1, keepdims=True).mean()

    # Rhythm sources about 1.5 cm below the electrodes they sit beneath.
    c3, c4, cz, poz = (elec[EEG_CHANNELS.index(c)] for c in ("C3", "C4", "Cz", "POz"))
    forward_shift = np.array([0.0, 0.012, 0.0])  # beta is precentral
    src = np.array(
        [
            c3 * 0.85 + subject.source_jitter[0],
            c4 * 0.85 + subject.source_jitter[1],
            c3 * 0.85 + forward_shift + subject.source_jitter[2],
            c4 * 0.85 + forward_shift + subject.source_jitter[3],
            cz * 0.85,
            poz * 0.8 + np.array([0.0, -0.01, -0.01]),
        ]
    ) + shift
    lead = forward(src, elec * 0.85)  # (n_ch, 6) evaluated on the cortical shell
    mu_f = subject.mu_freq + session.mu_shift
    rhythms = np.vstack(
        [
            narrowband(rng, 2, n_times, sfreq, [mu_f, mu_f + 0.3], 1.0) * subject.mu_amp,
            narrowband(rng, 2, n_times, sfreq, subject.beta_freq, 2.0) * subject.beta_amp,
            narrowband(rng, 1, n_times, sfreq, mu_f - 0.5, 1.0) * subject.mu_amp * 0.6,
            narrowband(rng, 1, n_times, sfreq, rng.uniform(9.0, 11.0), 1.0) * subject.alpha_amp,
        ]
    )

    # Event-related desynchronisation: amplitude modulation of the hand-area
    # sources (rows: mu C3, mu C4, beta C3, beta C4), computed on each trial's
    # own stretch of samples only.
    mod = np.ones((6, n_times))
    strength = subject.erd_strength * session.erd_scale
    span = int(np.ceil((imagery_seconds + 3.0) * sfreq))
    for onset, label in zip(onsets, labels):
        depth = strength * float(np.clip(rng.normal(1.0, 0.3), 0.2, 1.6))
        if rng.random() < 0.1:  # attention lapse: hardly any imagery
            depth *= 0.15
        depth = min(depth, 0.95)
        start = int(onset * sfreq)
        sl = slice(start, min(start + span, n_times))
        t = times[sl]
        course = erd_time_course(t, onset, imagery_seconds)
        contra, ipsi = (1, 0) if label == "left_hand" else (0, 1)  # left hand -> C4
        mod[contra, sl] -= depth * course  # mu
        mod[ipsi, sl] -= 0.25 * depth * course
        mod[2 + contra, sl] -= 0.8 * depth * course  # beta
        mod[2 + ipsi, sl] -= 0.2 * depth * course
        # post-imagery beta rebound (ERS) over the contralateral area
        end = onset + imagery_seconds
        rebound = _smooth_step((t - end - 0.3) / 0.5) * (1 - _smooth_step((t - end - 1.3) / 0.7))
        mod[2 + contra, sl] += 0.4 * depth * rebound
    data = bg + lead @ (rhythms * np.clip(mod, 0.03, None))

    # Line noise (common phase, channel-specific amplitude), drifts, amplifier noise.
    line = np.sin(2 * np.pi * line_freq * times + rng.uniform(0, 2 * np.pi))
    data += session.line_amp * rng.uniform(0.5, 1.5, (n_ch, 1)) * line
    data += colored_noise(rng, n_ch, n_times, sfreq, 3.0) * rng.uniform(3.0, 12.0, (n_ch, 1))
    data += rng.normal(0.0, 1.0, data.shape)  # 1 uV white amplifier noise
    data *= session.gains[:, None]
    return data * 1e-6, onsets, labels
