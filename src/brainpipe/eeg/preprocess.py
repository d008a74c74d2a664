"""Preprocess one continuous EEG run read from BIDS.

Steps, each with MNE: read with mne-bids (events.tsv becomes annotations),
keep EEG channels, make sure a montage is set, notch and band-pass filter,
resample, mark flat and noisy channels (and optionally interpolate them),
re-reference, then write a FIF file, an events TSV, figures and a report
fragment. The task annotations keep their duration (the task period) so that
offline epochs and pseudo-online window labels come from one source.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import all_or_nothing, atomic_path, write_sidecar, write_tsv
# re-exported: bad channels were handled here before they had their own module
from .bad_channels import check_finite, find_bad_channels, handle_bad_channels  # noqa: F401
from .integrity import check_recording

logger = logging.getLogger(__name__)

#: Annotations that are not task events (MNE and mne-bids add these).
NON_TASK_PREFIXES = ("BAD", "EDGE", "bad", "edge", "n/a")


def read_bids_eeg(path):
    """Read a BIDS EEG recording with mne-bids, annotations from events.tsv.

    Parameters
    ----------
    path : path-like
        The recording file inside a BIDS dataset (e.g. ``*_eeg.vhdr``).

    Returns
    -------
    raw : mne.io.Raw
        Loaded raw data with annotations.
    """
    import mne_bids

    path = check_file(path, "EEG recording")
    # a file cut short would be read as a shorter recording, its late
    # events dropped with a warning only: refuse it first
    check_recording(path)
    try:
        bids_path = mne_bids.get_bids_path_from_fname(path)
        bids_path.update(root=_bids_root_of(path))
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
        raw.load_data()
    except Exception as err:  # mne-bids raises many types; name the file
        raise input_error(path, f"could not be read as BIDS EEG ({err})") from err
    check_recording(path, n_samples=raw.n_times, sfreq=raw.info["sfreq"])
    return raw


def _bids_root_of(path):
    """Return the BIDS root of a file (the folder above ``sub-*``)."""
    path = Path(path).resolve()
    for parent in path.parents:
        if parent.name.startswith("sub-"):
            return parent.parent
    raise input_error(path, "is not inside a BIDS sub-<label> folder")


def _check_raw(raw, source):
    check_finite(raw, source)
    task = [d for d in raw.annotations.description if not d.startswith(NON_TASK_PREFIXES)]
    if not task:
        raise input_error(source, "has no task events (events.tsv missing or empty)")


def preprocess_eeg_run(
    source,
    out_fif,
    out_events,
    *,
    l_freq=1.0,
    h_freq=40.0,
    notch="auto",
    sfreq=None,
    reference=None,
    montage="standard_1020",
    flat_threshold=1e-7,
    noisy_z=5.0,
    interpolate_bads=True,
    task_duration=None,
    events=None,
    figure_dir=None,
    fragment=None,
):
    """Preprocess one continuous EEG run from BIDS and write it as FIF.

    Parameters
    ----------
    source : path-like
        BIDS EEG recording (``*_eeg.vhdr``, ``.edf``, ``.set``, ``.fif``).
    out_fif : path-like
        Output FIF (``*_desc-preproc_eeg.fif``).
    out_events : path-like
        Output events TSV (onset, duration, trial_type, sample).
    l_freq, h_freq : float | None
        Band-pass edges in Hz (``None`` skips that edge).
    notch : "auto" | sequence of float
        Line-noise frequencies to notch (empty to skip). ``"auto"`` notches
        the ``PowerLineFrequency`` of the recording's sidecar (read with
        BIDS inheritance), and nothing when the sidecar gives none.
    sfreq : float | None
        Resample to this rate (``None`` keeps the recording's rate).
    reference : None | "average" | list of str
        ``None`` keeps the recording reference. An average reference lowers
        the rank of the data by one, so covariance pipelines then need a
        shrinkage estimator ("oas", "lwf").
    montage : str | None
        Standard montage set when the recording has no digitisation.
    flat_threshold, noisy_z : float
        See :func:`find_bad_channels`.
    interpolate_bads : bool
        Interpolate the bad channels (spherical splines) instead of only
        marking them, so that every run keeps the same channel set.
    task_duration : float | None
        Force the duration (s) of task annotations, for datasets whose
        events.tsv gives zero durations.
    events : dict of str to str | None
        The dataset's ``trial_type`` values -> the paradigm's class names
        (the workflow's ``eeg.events``): the cues are renamed here, so the
        FIF and the events TSV carry class names for every later step.
        Task cues the mapping does not name are dropped (BAD/EDGE kept).
    figure_dir : path-like | None
        Where to write the PSD and events figures.
    fragment : path-like | None
        Report fragment to write (section "EEG").

    Returns
    -------
    raw : mne.io.Raw
        The preprocessed recording.
    """
    import mne

    raw = read_bids_eeg(source)
    raw.pick("eeg")
    if events:
        rename_cues(raw, events, source)
    _check_raw(raw, source)
    if raw.get_montage() is None and montage:
        raw.set_montage(montage, on_missing="warn")
    notch = line_frequencies(source, notch, raw.info["sfreq"])
    # a long recording takes minutes here: say what is being done
    logger.info("%s: %d EEG channels at %g Hz, %.0f s; notch %s Hz, band-pass %s-%s Hz", Path(source).name,
                len(raw.ch_names), raw.info["sfreq"], raw.times[-1], notch or "none", l_freq, h_freq)
    # the report shows the spectra before and after: the raw one is taken here
    psd_before = _psd(raw) if fragment is not None else None
    raw_info = raw.info.copy() if fragment is not None else None
    if notch:
        raw.notch_filter(list(notch), picks="eeg", verbose="error")
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq, picks="eeg", verbose="error")
    if sfreq is not None and not np.isclose(sfreq, raw.info["sfreq"]):
        raw.resample(sfreq, verbose="error")
    logger.info("%s: filtered; looking for flat and noisy channels", Path(source).name)
    bad_record = handle_bad_channels(
        raw, source, flat_threshold=flat_threshold, noisy_z=noisy_z, interpolate_bads=interpolate_bads
    )
    logger.info("%s: bad channels %s; writing outputs", Path(source).name,
                {k: v for k, v in bad_record.items() if v} or "none")
    flat, noisy = bad_record["flat"], bad_record["noisy"]
    if reference is not None:
        raw.set_eeg_reference(reference, projection=False, verbose="error")
    if task_duration is not None:
        ann = raw.annotations
        dur = np.where([d.startswith(NON_TASK_PREFIXES) for d in ann.description], ann.duration, task_duration)
        raw.set_annotations(mne.Annotations(ann.onset, dur, ann.description, orig_time=ann.orig_time))

    events = annotations_table(raw)
    figures = _figure_paths(Path(out_fif), figure_dir, fragment) if fragment is not None else ()
    with all_or_nothing(out_fif, out_events, fragment, *figures):
        with atomic_path(out_fif) as tmp:
            raw.save(tmp, overwrite=True, verbose="error")
        write_tsv(out_events, events)
        write_sidecar(
            out_fif,
            [source],
            Description="Preprocessed EEG",
            SamplingFrequency=raw.info["sfreq"],
            Filter={"l_freq": l_freq, "h_freq": h_freq, "notch": notch},
            Reference=reference if reference is not None else "recording",
            BadChannels=bad_record,
        )
        if fragment is not None:
            _write_eeg_fragment(raw, events, Path(out_fif), figure_dir, fragment, flat, noisy,
                                before=(psd_before, raw_info, bad_record, dict(l_freq=l_freq, h_freq=h_freq,
                                                                               notch=notch)))
    return raw


def rename_cues(raw, events, source):
    """Rename the task annotations of ``raw`` by ``events``, dropping unnamed cues (in place).

    Parameters
    ----------
    raw : mne.io.Raw
    events : dict of str to str
        ``trial_type`` of the dataset -> class name.
    source : path-like
        Named in the error.

    Raises
    ------
    BrainpipeInputError
        When no annotation has a name of ``events`` (a wrong mapping would
        otherwise give a run without cues, found out only at the BCI step).
    """
    import mne

    ann = raw.annotations
    found = set(ann.description)
    if not found & set(events):
        raise input_error(
            source,
            f"none of the config eeg.events names {sorted(events)} is a trial_type of this run "
            f"(it has {sorted(d for d in found if not d.startswith(NON_TASK_PREFIXES))[:10]})",
        )
    # cues the mapping does not name are not the paradigm's classes: dropped, so that no later
    # step (trial covariances, offline epochs) takes them for a class
    keep = np.array([d in events or d.startswith(NON_TASK_PREFIXES) for d in ann.description], dtype=bool)
    raw.set_annotations(mne.Annotations(
        ann.onset[keep], ann.duration[keep], [events.get(d, d) for d in np.asarray(ann.description)[keep]],
        orig_time=ann.orig_time, ch_names=[c for c, k in zip(ann.ch_names, keep) if k]))


def line_frequencies(source, notch, sfreq):
    """The notch frequencies: the config's list, or the sidecar's PowerLineFrequency for "auto".

    Parameters
    ----------
    source : path-like
        The BIDS recording (its ``*_eeg.json``, with inheritance).
    notch : "auto" | sequence of float | None
    sfreq : float
        Sampling rate: frequencies at or above Nyquist are left out.

    Returns
    -------
    freqs : list of float
    """
    if notch != "auto":
        return list(notch or [])
    from ..io.layout import sidecar_metadata

    line = sidecar_metadata(source).get("PowerLineFrequency")
    if not isinstance(line, (int, float)) or isinstance(line, bool) or not line > 0:
        logger.warning("%s: no PowerLineFrequency in its sidecar: no notch filter (set "
                       "eeg.preprocess.notch to choose one)", source)
        return []
    return [float(line)] if line < sfreq / 2 else []


def annotations_table(raw):
    """Return the task annotations of ``raw`` as a BIDS-like events table.

    Returns
    -------
    events : DataFrame
        Columns onset (s from the first sample), duration (s), trial_type and
        sample (index from the first sample).
    """
    ann = raw.annotations
    keep = [not d.startswith(NON_TASK_PREFIXES) for d in ann.description]
    onset = ann.onset[keep] - raw.first_time
    return pd.DataFrame(
        {
            "onset": np.round(onset, 6),
            "duration": np.round(ann.duration[keep], 6),
            "trial_type": np.asarray(ann.description)[keep],
            "sample": np.round(onset * raw.info["sfreq"]).astype(int),
        }
    )


def _figure_paths(out_fif, figure_dir, fragment):
    """The PSD and events figures of a run (beside the fragment by default)."""
    figure_dir = Path(figure_dir or Path(fragment).parent)
    stem = Path(out_fif).name.replace("_desc-preproc_eeg.fif", "")
    return figure_dir / f"{stem}_desc-psd_eeg.png", figure_dir / f"{stem}_desc-events_eeg.png"


def _psd(raw):
    """Welch PSD of the EEG channels up to 60 Hz (or Nyquist), bad ones included."""
    return raw.compute_psd(fmax=min(60.0, raw.info["sfreq"] / 2), picks="eeg", exclude=(), verbose="error")


def _write_eeg_fragment(raw, events, out_fif, figure_dir, fragment, flat, noisy, before=None):
    import mne

    from .figures import psd_before_after_figure

    from ..io.figures import save_figure
    from ..io.fragments import fragment_item, write_fragment

    psd_png, ev_png = _figure_paths(out_fif, figure_dir, fragment)
    psd_png.parent.mkdir(parents=True, exist_ok=True)
    stem = out_fif.name.replace("_desc-preproc_eeg.fif", "")
    psd_before, raw_info, bad_record, filt = before
    bads = sorted(set(bad_record["flat"]) | set(bad_record["noisy"]) | set(bad_record["marked"]))
    fig = psd_before_after_figure(psd_before, _psd(raw), raw_info, bads, **filt)
    save_figure(fig, psd_png, dpi=80)

    ev, event_id = mne.events_from_annotations(raw, verbose="error")
    fig = mne.viz.plot_events(ev, sfreq=raw.info["sfreq"], first_samp=raw.first_samp, event_id=event_id, show=False)
    save_figure(fig, ev_png, dpi=80)

    counts = events["trial_type"].value_counts().to_dict()
    # event and channel names come from the input files: escape them
    summary = (
        f"<p>{len(raw.ch_names)} EEG channels at {raw.info['sfreq']:g} Hz, "
        f"{raw.times[-1]:.0f} s; events: {html.escape(str(counts))}; "
        f"flat channels: {html.escape(str(flat or 'none'))}; "
        f"noisy channels: {html.escape(str(noisy or 'none'))}.</p>"
    )
    items = [
        fragment_item("html", f"{stem}: summary", html=summary),
        fragment_item("image", f"{stem}: power spectrum before and after preprocessing", path=psd_png,
                      caption=_psd_caption(bad_record, filt)),
        fragment_item("image", f"{stem}: events", path=ev_png,
                      caption="Each task cue of the run at its onset (s), one row per class: the cues should be "
                              "spread over the whole run with the expected count per class (in the legend)."),
    ]
    write_fragment(fragment, "EEG", items, order=20)


def _psd_caption(bad_record, filt):
    """What the before/after PSD figure shows, with this run's bad channels."""
    steps = []
    if filt.get("notch"):
        steps.append("notch at " + ", ".join(f"{f:g}" for f in filt["notch"]) + " Hz")
    if filt.get("l_freq") or filt.get("h_freq"):
        high = f"{filt['h_freq']:g}" if filt.get("h_freq") else "Nyquist"
        steps.append(f"band-pass {filt.get('l_freq') or 0:g}-{high} Hz")
    bads = sorted(set(bad_record["flat"]) | set(bad_record["noisy"]) | set(bad_record["marked"]))
    fate = (f"interpolated: {', '.join(bad_record['interpolated']) or 'none'}; "
            f"dropped: {', '.join(bad_record['dropped']) or 'none'}")
    return (
        "Welch power spectrum of every EEG channel (one line each) in the raw recording (left) and after "
        f"preprocessing ({'; '.join(steps) or 'no filter'}; right), dotted lines at the filter edges; "
        "right panel: the sensor layout. Bad channels (flat or noisy) are drawn in red: "
        f"{', '.join(bads) if bads else 'none found in this run'} ({fate}). Look for the line-noise peak "
        "gone after the notch, the alpha (8-12 Hz) and beta (13-30 Hz) peaks kept, and no channel far from the rest."
    )
