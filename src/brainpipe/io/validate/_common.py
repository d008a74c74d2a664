"""Shared helpers of the checks: config access, numbers, BIDS TSV reading, limits."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..layout import LABEL  # noqa: F401  (re-exported: a BIDS label)

#: Folders inside a BIDS root that the tree checks skip: no raw data, or
#: other tools' derivatives (what the config uses from them is checked on its own).
SKIP_DIRS = {"sourcedata", "code", "stimuli", "phenotype", "derivatives"}
#: Ages outside this range (years) are refused as impossible.
AGE_RANGE = (0.0, 120.0)
#: A BOLD TR above this (s) is taken for milliseconds.
MAX_TR = 30.0
#: Images up to this size (uncompressed bytes) are read whole for NaN/empty checks.
MAX_READ_BYTES = 2 * 1024**3


def _get(config, *keys, default=None):
    node = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_tsv(path, problems, **kwargs):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}: not a readable UTF-8 TSV table ({err})")
        return None
    if lines:
        width = len(lines[0].split("\t"))
        for i, line in enumerate(lines[1:], start=2):
            if line and len(line.split("\t")) != width:
                problems.append(f"{path}: not a readable TSV table: line {i} has {len(line.split(chr(9)))} "
                                f"tab-separated fields, the header has {width}")
                return None
    try:
        # BIDS TSV has no quoting (QUOTE_NONE = 3): a quote is a character of its cell
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, index_col=False, quoting=3,
                           **kwargs)
    except pd.errors.EmptyDataError:
        problems.append(f"{path}: empty file (a TSV needs at least a header line)")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        problems.append(f"{path}: not a readable TSV table ({str(err).strip()})")
    return None


