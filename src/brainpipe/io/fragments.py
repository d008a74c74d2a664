"""Report fragments: what each stage leaves for the report to assemble.

A stage never edits the report and never imports :mod:`brainpipe.report`. It
writes its figures and small tables next to its outputs and one fragment (a
small JSON file) that lists them under a section title, through the two
functions here. The per-subject ``report`` step reads the fragments it is
given (:func:`brainpipe.report.fragments.read_fragment`) and adds each to an
:class:`mne.Report`; adding a section to the report is one function that
writes a fragment plus one rule input.

A fragment looks like::

    {"section": "Offline BCI",
     "order": 40,
     "items": [{"kind": "image", "path": "sub-01_..._scores.png",
                "title": "Scores per pipeline", "caption": "..."},
               {"kind": "table", "path": "sub-01_..._scores.tsv",
                "title": "Scores"},
               {"kind": "html", "html": "<p>...</p>", "title": "Notes"}]}

Paths are relative to the fragment's folder so that results can be moved.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._check import check_option
from .atomic import write_json

__all__ = ["ITEM_KINDS", "fragment_item", "write_fragment"]

ITEM_KINDS = ("image", "table", "html")


def fragment_item(kind, title, *, path=None, html=None, caption=""):
    """Build one fragment item (an image file, a TSV table or an HTML snippet)."""
    check_option("kind", kind, ITEM_KINDS)
    item = {"kind": kind, "title": str(title), "caption": str(caption)}
    if kind == "html":
        if html is None:
            raise ValueError("An 'html' fragment item needs html=...")
        item["html"] = str(html)
    else:
        if path is None:
            raise ValueError(f"An '{kind}' fragment item needs path=...")
        item["path"] = str(path)
    return item


def write_fragment(path, section, items, order=50):
    """Write a report fragment JSON at ``path``.

    Parameters
    ----------
    path : path-like
        Where to write the fragment (``*_fragment.json`` by convention).
    section : str
        Section title in the report (e.g. ``"EEG"``, ``"Offline BCI"``).
    items : list of dict
        Items built with :func:`fragment_item`. Item paths may be absolute or
        relative; they are stored relative to the fragment's folder.
    order : int
        Sections are sorted by this number in the report (lower first).
    """
    path = Path(path)
    stored = []
    for item in items:
        item = dict(item)
        if "path" in item:
            p = Path(item["path"])
            if p.is_absolute() or p.exists():
                item["path"] = str(_relpath(p, path.parent))
        stored.append(item)
    return write_json(path, {"section": section, "order": int(order), "items": stored})


def _relpath(p, start):
    return Path(os.path.relpath(Path(p).resolve(), Path(start).resolve()))
