"""Provenance of a report: what made it, from which inputs, with which config.

Every report ends with a "Provenance" section built here: the brainpipe
version (and the versions of the main libraries), the hash of the run's
configuration, the SHA-256 checksum of every input file and the date. Two
reports with the same config hash and the same checksums were made from the
same data with the same settings.
"""

from __future__ import annotations

import hashlib
import html
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .._check import check_file

#: Libraries whose versions the footer lists (read from the installed
#: package metadata; none of them is imported).
LIBRARIES = ("mne", "numpy", "scipy", "scikit-learn", "pyriemann", "nilearn", "torch", "snakemake")

#: Files that belong to a listed input and are checksummed with it
#: (BrainVision: the header names the marker and data files).
COMPANIONS = {".vhdr": (".vmrk", ".eeg")}


def config_hash(config):
    """SHA-256 (first 16 hex digits) of a config mapping, independent of key order.

    Parameters
    ----------
    config : dict
        The run's merged configuration (JSON-serialisable; other values are
        hashed through ``str``).

    Returns
    -------
    digest : str
    """
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_checksum(path, chunk=1 << 20):
    """SHA-256 hex digest of a file, read in chunks of ``chunk`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def input_checksums(paths):
    """Checksum rows of input files and their companions, sorted by path.

    Parameters
    ----------
    paths : sequence of path-like
        Input files (raw recordings, images, tables). A BrainVision header
        (``.vhdr``) brings its ``.vmrk`` and ``.eeg`` files where they exist.

    Returns
    -------
    rows : list of dict
        ``{"path", "bytes", "sha256"}`` per file.
    """
    files = []
    for path in paths:
        path = check_file(path, "report input")
        files.append(path)
        for ext in COMPANIONS.get(path.suffix.lower(), ()):
            if path.with_suffix(ext).exists():
                files.append(path.with_suffix(ext))
    rows = []
    for path in sorted(dict.fromkeys(files), key=str):
        rows.append({"path": str(path), "bytes": path.stat().st_size, "sha256": file_checksum(path)})
    return rows


def provenance(inputs=(), *, config_hash=None, date=None):
    """What a report footer says about how the report was made.

    Parameters
    ----------
    inputs : sequence of path-like
        Input files to checksum (see :func:`input_checksums`).
    config_hash : str | None
        Hash of the run's configuration (:func:`config_hash`), or ``None``
        when the report was built outside the workflow.
    date : datetime | None
        Build time (default: now, UTC).

    Returns
    -------
    info : dict
        ``brainpipe``, ``libraries``, ``python``, ``config_hash``, ``date``
        and ``inputs`` (rows of :func:`input_checksums`).
    """
    from .. import __version__

    date = date or datetime.now(timezone.utc)
    return {
        "brainpipe": __version__,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "python": platform.python_version(),
        "config_hash": config_hash or "n/a (built outside the workflow)",
        "date": date.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        "inputs": input_checksums(inputs),
    }


def provenance_html(info):
    """The "Provenance" section's HTML for :func:`provenance`'s ``info``."""
    libs = ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in info["libraries"].items())
    head = (
        "<table class='table table-sm'>"
        f"<tr><th>brainpipe</th><td>{html.escape(info['brainpipe'])}</td></tr>"
        f"<tr><th>config hash</th><td><code>{html.escape(info['config_hash'])}</code></td></tr>"
        f"<tr><th>built</th><td>{html.escape(info['date'])}</td></tr>"
        f"<tr><th>python</th><td>{html.escape(info['python'])}</td></tr>"
        f"<tr><th>libraries</th><td>{libs}</td></tr>"
        "</table>"
    )
    if not info["inputs"]:
        return head + "<p>No input files were checksummed.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(_short(r['path']))}</td><td>{r['bytes']:,}</td>"
        f"<td><code>{r['sha256'][:16]}</code></td></tr>"
        for r in info["inputs"]
    )
    return (
        head + f"<p>SHA-256 of the {len(info['inputs'])} input files (first 16 hex digits):</p>"
        "<table class='table table-sm'><thead><tr><th>input</th><th>bytes</th><th>sha256</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _short(path, parts=4):
    """The last ``parts`` components of a path (enough to name a BIDS file)."""
    p = Path(path).parts
    return str(Path(*p[-parts:])) if len(p) > parts else str(path)


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
