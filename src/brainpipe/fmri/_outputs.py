"""Small helpers shared by the fMRI and MRI steps for writing outputs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from ..io.atomic import sidecar_path, write_tsv


@contextlib.contextmanager
def all_or_nothing(*paths):
    """Remove outputs written inside the block if the block raises.

    Each file is written atomically already; this makes the *set* of outputs
    of a step atomic too, so a failure while drawing a figure does not leave
    a time series TSV that looks finished. Sidecars of the listed paths are
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


def write_relmat(path, matrix, names):
    """Write a square matrix as an XCP-D style ``*_relmat.tsv``.

    The first column is ``Node`` (region names), the header holds the same
    names, missing values are ``n/a`` (as XCP-D writes them).

    Parameters
    ----------
    path : path-like
    matrix : ndarray, shape (n_regions, n_regions)
    names : sequence of str, length n_regions
    """
    names = [str(n) for n in names]
    df = pd.DataFrame(matrix, index=pd.Index(names, name="Node"), columns=names)
    return write_tsv(path, df, index=True)
