"""Atomic writes and BIDS-derivatives sidecars.

Every output is written to a temporary file in the destination folder and
renamed into place, so an interrupted or failed step never leaves a partial
file that Snakemake (or a person) could mistake for a result.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary name ends with the full name of ``path`` (``.tmpXXXX.<name>``)
    so writers that infer the format or check the name from its ending (MNE,
    nibabel, numpy) behave exactly as for the final file.
    On error the temporary file is removed and nothing is left behind.
    A process killed with SIGKILL (or by the OOM killer, or a node failure)
    cannot remove its temporary file, so the temporaries of an earlier
    attempt at the same ``path`` are removed before a new one is made: the
    rerun Snakemake starts after such a kill leaves nothing behind.
    The renamed file gets the mode an ordinary ``open(path, "w")`` would
    give it (``0o666`` less the user's umask), not the ``0o600`` of
    :func:`tempfile.mkstemp`, so a lab group can read shared results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp", suffix=f".{path.name}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove_stale_temporaries(path):
    """Remove ``.tmpXXXXXXXX.<name>`` files that an attempt killed while
    writing ``path`` left beside it (the 8 random characters are
    :func:`tempfile.mkstemp`'s, so no other file's temporary matches)."""
    pattern = re.compile(r"\.tmp[a-z0-9_]{8}\." + re.escape(path.name) + r"\Z")
    for stale in path.parent.glob(f".tmp*.{path.name}"):
        if pattern.match(stale.name):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def _umask():
    """The process umask: from /proc where it is shown (no change, thread-safe),
    else read by setting it and restoring it at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    return Path(path)


def write_tsv(path, df, index=False):
    """Write a pandas DataFrame as TSV (``n/a`` for missing values), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, na_rep="n/a")
    return Path(path)


def write_npz(path, **arrays):
    """Write arrays to a compressed ``.npz``, atomically."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return Path(path)


def sidecar_path(path):
    """Return the JSON sidecar path of a derivative file (``.tsv.gz`` aware)."""
    path = Path(path)
    name = path.name
    for ext in (".nii.gz", ".tsv.gz", ".tsv", ".npz", ".fif", ".nii", ".html", ".png"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def write_sidecar(path, sources, **fields):
    """Write the JSON sidecar of ``path`` listing its ``Sources`` and ``fields``."""
    meta = {"Sources": [str(s) for s in sources]}
    meta.update(fields)
    return write_json(sidecar_path(path), meta)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def exit_cleanly_on_sigterm():
    """Turn SIGTERM into ``SystemExit(143)`` so ``finally`` blocks run.

    Python's default for SIGTERM ends the process at once: the temporary
    files of :func:`atomic_path` and the outputs :func:`all_or_nothing` would
    remove stay behind. Snakemake, a batch system (``scancel``) or ``kill``
    send SIGTERM to the step of a job they stop; with this handler (installed
    by the ``brainpipe`` command) the step unwinds and leaves nothing partial.
    """
    import signal

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


@contextlib.contextmanager
def all_or_nothing(*paths):
    """Remove outputs written inside the block if the block raises.

    Each file is written atomically already; this makes the *set* of outputs
    of a step atomic too, so a failure while drawing a figure does not leave
    a table that looks finished (outside Snakemake, which would remove the
    outputs of a failed job itself). Sidecars of the listed paths are
    cleaned as well. Files that existed before the block are left alone.
    """
    paths = [Path(p) for p in paths if p is not None]
    paths += [sidecar_path(p) for p in paths]
    existed = {p for p in paths if p.exists()}
    try:
        yield
    except BaseException:
        for p in paths:
            if p not in existed and p.exists():
                p.unlink()
        raise
