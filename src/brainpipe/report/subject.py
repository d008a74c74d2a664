"""Assemble one subject's HTML report from the fragments its stages wrote."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import atomic_path
from .fragments import read_fragment


def build_subject_report(subject, fragments, out_html, *, title=None, summary=None):
    """Build the per-subject :class:`mne.Report` from report fragments.

    Parameters
    ----------
    subject : str
        Subject label without ``sub-``.
    fragments : list of path-like
        Fragment JSON files written by the stages (see
        :mod:`brainpipe.report.fragments`). Sections are ordered by each
        fragment's ``order`` then by file name, so the report is the same
        whatever order Snakemake passes them in.
    out_html : path-like
        Output HTML file (``sub-XX_report.html``).
    title : str | None
        Report title (default ``"brainpipe report: sub-<subject>"``).
    summary : dict | None
        Key/value pairs shown first, under "Data summary".

    Returns
    -------
    report : mne.Report
    """
    rows = {"subject": f"sub-{subject}", **(summary or {})}
    return assemble_report(title or f"brainpipe report: sub-{subject}", fragments, out_html, rows)


def build_group_report(fragments, out_html, *, title="brainpipe group report", summary=None):
    """Build the group :class:`mne.Report` from group-level fragments.

    Parameters are as in :func:`build_subject_report`.
    """
    return assemble_report(title, fragments, out_html, dict(summary or {}))


def assemble_report(title, fragments, out_html, rows):
    """Add ``rows`` as a summary table, then every fragment's items, and save."""
    import mne

    frags = []
    for path in fragments:
        path = check_file(path, "report fragment")
        try:
            frags.append((read_fragment(path), path))
        except (ValueError, KeyError) as err:
            raise input_error(path, f"is not a valid report fragment ({err})") from err
    frags.sort(key=lambda fp: (fp[0].get("order", 50), fp[1].name))

    report = mne.Report(title=title, verbose="error")
    rows = dict(rows)
    rows["sections"] = ", ".join(dict.fromkeys(f["section"] for f, _ in frags)) or "none"
    report.add_html(_dict_table(rows), title="Data summary", section="Summary")
    for frag, path in frags:
        for item in frag["items"]:
            _add_item(report, item, frag["section"], path)
    with atomic_path(out_html) as tmp:
        report.save(tmp, overwrite=True, open_browser=False, verbose="error")
    return report


def _add_item(report, item, section, fragment_path):
    kind = item["kind"]
    if kind == "html":
        report.add_html(item["html"], title=item["title"], section=section)
        return
    path = Path(item["path"])
    if not path.exists():
        raise input_error(fragment_path, f"lists {path}, which does not exist")
    if kind == "image":
        report.add_image(path, title=item["title"], caption=item.get("caption") or None, section=section)
    elif kind == "table":
        df = pd.read_csv(path, sep="\t")
        caption = f"<p>{html.escape(item['caption'])}</p>" if item.get("caption") else ""
        report.add_html(
            caption + df.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="table"),
            title=item["title"],
            section=section,
        )


def _dict_table(rows):
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items()
    )
    return f"<table class='table'>{cells}</table>"
