"""Is an EEG recording complete? Checks on the files, before MNE reads them.

MNE reads a BrainVision ``.eeg`` or an EDF file that was cut short (a copy
that stopped halfway, a disk that filled up) as a shorter recording, and
mne-bids then drops the events that fall past the new end with a warning
only. Here the length of the data on disk is compared with what the header
and the BIDS sidecar (``RecordingDuration`` x ``SamplingFrequency``) say, and
every event onset (``events.tsv``, BrainVision markers) with the data's end.
Each problem is raised as a :class:`~brainpipe._check.BrainpipeInputError`
naming the file.
"""

from __future__ import annotations

import configparser
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .._check import input_error

#: Bytes per sample of the BrainVision binary formats.
BRAINVISION_FORMATS = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def recording_samples(path):
    """Number of samples per channel and sampling rate stored in a raw EEG file.

    Reads only headers and file sizes: BrainVision (``.vhdr`` + its data
    file) and EDF/BDF. Other formats return ``(None, None)``.

    Parameters
    ----------
    path : path-like
        The recording (``*_eeg.vhdr``, ``*_eeg.edf``, ``*_eeg.bdf``).

    Returns
    -------
    n_samples : int | None
        Samples per channel actually present on disk.
    sfreq : float | None
        Sampling rate from the header (Hz).

    Raises
    ------
    BrainpipeInputError
        When the header is unreadable, the data file is missing, or the data
        are shorter than the header says (cut inside a sample or a record).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".vhdr":
        return _brainvision_samples(path)
    if suffix in (".edf", ".bdf"):
        return _edf_samples(path)
    return None, None


def _brainvision_samples(vhdr):
    text = vhdr.read_bytes().decode("utf-8", errors="replace")
    # the first line is a title, not an ini entry
    body = text.split("\n", 1)[1] if "\n" in text else ""
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=(";",))
    try:
        parser.read_string(body)
        common = parser["Common Infos"]
        n_chan = int(common["NumberOfChannels"])
        interval_us = float(common["SamplingInterval"])
        data_name = common["DataFile"].strip()
    except (configparser.Error, KeyError, ValueError) as err:
        raise input_error(vhdr, f"is not a readable BrainVision header ({err!r})") from err
    if n_chan < 1 or interval_us <= 0:
        raise input_error(vhdr, f"NumberOfChannels={n_chan} and SamplingInterval={interval_us} must be positive")
    data_file = check_inside(vhdr.parent / data_name, vhdr.parent, vhdr, "DataFile")
    if not data_file.exists():
        raise input_error(vhdr, f"its DataFile {data_name} does not exist")
    fmt = parser.get("Binary Infos", "BinaryFormat", fallback="INT_16").strip().upper()
    if common.get("DataFormat", "BINARY").strip().upper() != "BINARY":
        return None, 1e6 / interval_us
    if fmt not in BRAINVISION_FORMATS:
        raise input_error(vhdr, f"BinaryFormat {fmt} is not one of {sorted(BRAINVISION_FORMATS)}")
    frame = n_chan * BRAINVISION_FORMATS[fmt]
    size = data_file.stat().st_size
    if size == 0:
        raise input_error(data_file, "is empty (0 bytes of EEG data)")
    if size % frame:
        raise input_error(
            data_file,
            f"is truncated: {size} bytes is not a whole number of samples of {n_chan} channels "
            f"x {BRAINVISION_FORMATS[fmt]} bytes ({fmt})",
        )
    n_samples = size // frame
    declared = common.get("DataPoints")
    if declared is not None and declared.strip().isdigit() and int(declared) > n_samples:
        raise input_error(
            data_file,
            f"is truncated: the header {vhdr.name} declares {int(declared)} samples, the file holds {n_samples}",
        )
    return n_samples, 1e6 / interval_us


def _edf_samples(path):
    size = path.stat().st_size
    bps = 3 if path.suffix.lower() == ".bdf" else 2
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise input_error(path, f"is truncated: {len(head)} bytes, shorter than the 256-byte EDF header")
        try:
            header_bytes = int(head[184:192].decode("ascii").strip())
            n_records = int(head[236:244].decode("ascii").strip())
            record_s = float(head[244:252].decode("ascii").strip())
            n_signals = int(head[252:256].decode("ascii").strip())
        except ValueError as err:
            raise input_error(path, f"is not a readable EDF/BDF header ({err})") from err
        signal_head = f.read(256 * n_signals)
    if n_signals < 1 or len(signal_head) < 256 * n_signals:
        raise input_error(path, f"is truncated inside its header ({n_signals} signals declared)")
    offset = n_signals * (16 + 80 + 8 * 5 + 80)
    try:
        per_record = [
            int(signal_head[offset + 8 * i: offset + 8 * (i + 1)].decode("ascii").strip())
            for i in range(n_signals)
        ]
        labels = [signal_head[16 * i: 16 * (i + 1)].decode("latin-1").strip() for i in range(n_signals)]
    except ValueError as err:
        raise input_error(path, f"is not a readable EDF/BDF signal header ({err})") from err
    record_bytes = sum(per_record) * bps
    if record_bytes <= 0:
        raise input_error(path, "declares no samples per data record")
    stored = size - header_bytes
    n_whole = stored // record_bytes
    if n_records >= 0 and n_whole < n_records:
        raise input_error(
            path,
            f"is truncated: the header declares {n_records} data records of {record_s:g} s, "
            f"the file holds {stored / record_bytes:.2f}",
        )
    if n_records < 0 and stored % record_bytes:
        raise input_error(path, "is truncated inside a data record (the header gives no record count)")
    n_records = n_whole if n_records < 0 else n_records
    # the rate of the EEG signals (not an annotations channel)
    eeg = [n for n, lab in zip(per_record, labels) if "annotation" not in lab.lower() and "status" not in lab.lower()]
    spr = max(eeg or per_record)
    sfreq = spr / record_s if record_s > 0 else None
    return n_records * spr, sfreq


def check_inside(target, root, referrer, field):
    """Return ``target`` resolved, or raise if it leaves ``root``.

    Parameters
    ----------
    target : path-like
        A path a file refers to (a header's ``DataFile``, a sidecar entry).
    root : path-like
        The folder it must stay inside.
    referrer : path-like
        The file holding the reference (named in the error).
    field : str
        The field holding the reference (named in the error).
    """
    resolved = Path(target).resolve()
    base = Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise input_error(referrer, f"its {field} points outside {base}: {target}")
    return resolved


def _sidecar(path):
    name = path.name
    stem = name.rsplit("_eeg", 1)[0]
    return path.with_name(stem + "_eeg.json"), path.with_name(stem + "_events.tsv")


def check_recording(path, *, n_samples=None, sfreq=None):
    """Raise if an EEG recording is shorter than its header or sidecar say.

    Checks, for BrainVision and EDF/BDF, that the data on disk hold every
    sample the header declares; for every format, that they are not shorter
    than ``RecordingDuration`` in the ``*_eeg.json`` sidecar, that the
    sidecar's ``SamplingFrequency`` matches the header, and that no event of
    ``*_events.tsv`` (or BrainVision marker) starts past the end.

    Parameters
    ----------
    path : path-like
        The recording inside a BIDS folder.
    n_samples, sfreq : int, float | None
        Length and rate already known (e.g. from a loaded raw) for formats
        whose headers are not parsed here.

    Returns
    -------
    n_samples : int | None
        Samples per channel on disk (None when unknown).
    """
    path = Path(path)
    disk_n, disk_sfreq = recording_samples(path)
    n_samples = disk_n if disk_n is not None else n_samples
    sfreq = disk_sfreq if disk_sfreq is not None else sfreq
    sidecar, events = _sidecar(path)
    meta = {}
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise input_error(sidecar, f"is not valid JSON ({err})") from err
        if not isinstance(meta, dict):
            raise input_error(sidecar, "must hold a JSON object")
    side_sfreq = meta.get("SamplingFrequency")
    if side_sfreq is not None and sfreq is not None:
        if not _finite_number(side_sfreq) or not math.isclose(float(side_sfreq), sfreq, rel_tol=1e-3):
            raise input_error(
                sidecar, f"SamplingFrequency {side_sfreq!r} differs from the rate of {path.name} ({sfreq:g} Hz)"
            )
    if n_samples is None or not sfreq:
        return n_samples
    if n_samples == 0:
        raise input_error(path, "holds no samples")
    end = n_samples / sfreq
    duration = meta.get("RecordingDuration")
    if _finite_number(duration) and end + 2.0 / sfreq < float(duration):
        raise input_error(
            path,
            f"is truncated: the data hold {end:.3f} s ({n_samples} samples at {sfreq:g} Hz) but "
            f"{sidecar.name} says RecordingDuration is {float(duration):g} s",
        )
    if events.exists():
        onsets = _event_onsets(events)
        late = onsets[onsets > end]
        if late.size:
            raise input_error(
                events,
                f"{late.size} event(s) start after the end of {path.name} ({end:.3f} s), the first at "
                f"{late.min():g} s: the recording is truncated or the events belong to another file",
            )
    if path.suffix.lower() == ".vhdr":
        _check_markers(path, n_samples)
    return n_samples


def _finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _event_onsets(events):
    try:
        lines = Path(events).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise input_error(events, f"is not a readable UTF-8 TSV table ({err})") from err
    if not lines:
        raise input_error(events, "is empty (a TSV needs at least a header line)")
    width = len(lines[0].split("\t"))
    for i, line in enumerate(lines[1:], start=2):
        if line and len(line.split("\t")) != width:
            raise input_error(events, f"line {i} has {len(line.split(chr(9)))} tab-separated fields, "
                                      f"the header has {width}")
    try:
        table = pd.read_csv(events, sep="\t", na_values=["n/a"], keep_default_na=False, index_col=False, quoting=3,
                            dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise input_error(events, f"is not a readable TSV table ({err})") from err
    if "onset" not in table.columns:
        raise input_error(events, f"has no 'onset' column (columns: {list(table.columns)})")
    onset = pd.to_numeric(table["onset"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(onset))
    if bad.size:
        raise input_error(
            events, f"onset must be a finite number of seconds; line {bad[0] + 2} has {table['onset'].iloc[bad[0]]!r}"
        )
    return onset


def _check_markers(vhdr, n_samples):
    text = vhdr.read_bytes().decode("utf-8", errors="replace")
    marker_name = None
    for line in text.splitlines():
        if line.strip().startswith("MarkerFile="):
            marker_name = line.split("=", 1)[1].strip()
    if not marker_name:
        return
    vmrk = check_inside(vhdr.parent / marker_name, vhdr.parent, vhdr, "MarkerFile")
    if not vmrk.exists():
        raise input_error(vhdr, f"its MarkerFile {marker_name} does not exist")
    late = []
    for line in vmrk.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.startswith("Mk") or "=" not in line:
            continue
        fields = line.split("=", 1)[1].split(",")
        if len(fields) > 2 and fields[2].strip().isdigit() and int(fields[2]) > n_samples:
            late.append(int(fields[2]))
    if late:
        raise input_error(
            vmrk,
            f"{len(late)} marker(s) lie after the last sample ({n_samples}) of the data, the first at "
            f"sample {min(late)}: the .eeg file is truncated",
        )
