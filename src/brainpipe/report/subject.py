"""Assemble one subject's HTML report from the fragments its stages wrote."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
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
        # stages build these snippets around strings from the input files
        # (event names, channel names, pipeline names): keep only plain
        # formatting markup, everything else is shown as text
        report.add_html(sanitize_html(item["html"]), title=item["title"], section=section)
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
            # to_html escapes cells and column names (escape=True, stated here on purpose)
            caption + df.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="table",
                                 escape=True),
            title=item["title"],
            section=section,
        )


def _dict_table(rows):
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items()
    )
    return f"<table class='table'>{cells}</table>"


#: Tags kept in stage HTML snippets: text formatting, lists and tables.
ALLOWED_TAGS = frozenset(
    "p br b i em strong code pre small sub sup span div ul ol li dl dt dd hr "
    "table thead tbody tfoot tr th td caption h1 h2 h3 h4 h5 h6".split()
)
#: Attributes kept on those tags; ``style`` only with plain declarations.
ALLOWED_ATTRS = frozenset({"class", "border", "colspan", "rowspan", "style", "title"})
_SAFE_STYLE = re.compile(r"^[A-Za-z0-9 :;.,#%-]*$")


class _Sanitizer(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.out = []

    def _attrs(self, attrs):
        kept = []
        for name, value in attrs:
            value = "" if value is None else value
            if name not in ALLOWED_ATTRS:
                continue
            if name == "style" and not _SAFE_STYLE.match(value):
                continue
            kept.append(f' {name}="{html.escape(value, quote=True)}"')
        return "".join(kept)

    def handle_starttag(self, tag, attrs):
        if tag in ALLOWED_TAGS:
            self.out.append(f"<{tag}{self._attrs(attrs)}>")
        else:
            self.out.append(html.escape(self.get_starttag_text() or f"<{tag}>"))

    def handle_startendtag(self, tag, attrs):
        if tag in ALLOWED_TAGS:
            self.out.append(f"<{tag}{self._attrs(attrs)}/>")
        else:
            self.out.append(html.escape(self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>" if tag in ALLOWED_TAGS else html.escape(f"</{tag}>"))

    def handle_data(self, data):
        self.out.append(html.escape(data, quote=False))

    def handle_entityref(self, name):
        self.out.append(f"&{name};" if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name) else html.escape(f"&{name}"))

    def handle_charref(self, name):
        self.out.append(f"&#{name};" if re.fullmatch(r"[0-9]+|[xX][0-9A-Fa-f]+", name) else html.escape(f"&#{name}"))

    def handle_comment(self, data):
        self.out.append(html.escape(f"<!--{data}-->"))

    def handle_decl(self, decl):
        self.out.append(html.escape(f"<!{decl}>"))

    def handle_pi(self, data):
        self.out.append(html.escape(f"<?{data}>"))

    def unknown_decl(self, data):
        self.out.append(html.escape(f"<![{data}]>"))


def sanitize_html(text):
    """Keep the formatting markup of an HTML snippet, escape everything else.

    Tags in :data:`ALLOWED_TAGS` are kept with the attributes in
    :data:`ALLOWED_ATTRS` (values re-escaped); any other tag (``script``,
    ``img``, ``a``, ``iframe``...), comment or declaration is shown as text,
    so a string from an input file such as ``<img src=x onerror=...>`` reaches
    the report as the literal text and never runs.

    Parameters
    ----------
    text : str
        HTML snippet (a fragment item's ``html``).

    Returns
    -------
    safe : str
    """
    parser = _Sanitizer()
    parser.feed(str(text))
    parser.close()
    # text the parser holds back at the end (an unterminated "<...")
    rest = parser.rawdata if hasattr(parser, "rawdata") else ""
    return "".join(parser.out) + html.escape(rest)
