"""Writers of fMRI connectivity tables."""

from __future__ import annotations

import pandas as pd

from ..io.atomic import write_tsv


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
