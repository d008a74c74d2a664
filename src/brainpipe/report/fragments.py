"""Reading report fragments (the writing side is :mod:`brainpipe.io.fragments`).

A stage writes its figures, small tables and one fragment JSON through
:func:`brainpipe.io.fragments.write_fragment`; the report reads them here.
``fragment_item`` and ``write_fragment`` are re-exported for older callers.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.fragments import ITEM_KINDS, fragment_item, write_fragment

__all__ = ["ITEM_KINDS", "fragment_item", "read_fragment", "write_fragment"]


def read_fragment(path):
    """Read a fragment and resolve its item paths to absolute paths."""
    path = Path(path)
    frag = json.loads(path.read_text())
    for item in frag["items"]:
        if "path" in item:
            item["path"] = str((path.parent / item["path"]).resolve())
    return frag
