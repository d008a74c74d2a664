"""Assemble one subject's HTML report from the fragments its stages wrote.

The report has one section per stage that ran, in pipeline order
(:data:`PIPELINE_SECTIONS`), between a "Summary" and a "Provenance" section
(:mod:`brainpipe.report.provenance`). Images are embedded in the HTML; large
PNGs are re-encoded with a 256-colour palette on the way in so that a
subject's report stays a few MB (the files on disk are left as the stages
wrote them).
"""

from __future__ import annotations

import html
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from .._check import check_file, input_error
from ..io.atomic import atomic_path
from .fragments import read_fragment
from .provenance import provenance, provenance_html

#: Report sections in the order the pipeline makes them: preprocessing of each
#: modality, features, BCI evaluation, then the deep models. A section not
#: listed here (a new stage) goes by its fragment's own ``order`` on the same
#: scale. Within a section, fragments go by their ``order`` then file name.
PIPELINE_SECTIONS = {
    "Subjects": 10,  # the group report's table of subjects
    "EEG": 20,
    "fMRI": 30,
    "Structural MRI": 35,
    "EEG features": 40,
    "fMRI group": 45,
    "Offline BCI": 50,
    "Pseudo-online BCI": 55,
    "BrainMAE": 60,
    "DemoVAE": 65,
    "TFM tokenizer": 70,
}

#: Spacing for the tables stages write without Bootstrap's classes (added once, in the summary).
TABLE_STYLE = ("<style>#content table td, #content table th {padding: 0.15rem 0.6rem; vertical-align: top}"
               " #content figcaption {font-size: 0.9rem}</style>")

#: Item kinds a fragment file may hold (the report's own blocks are "trusted").
FRAGMENT_KINDS = ("image", "table", "html")

#: PNGs larger than this (bytes) are embedded as 256-colour palette PNGs.
COMPACT_PNG_BYTES = 60_000


def build_subject_report(subject, fragments, out_html, *, title=None, summary=None, inputs=(),
                         config_hash=None, tfm_tokenizer=None, scores=()):
    """Build the per-subject :class:`mne.Report` from report fragments.

    Parameters
    ----------
    subject : str
        Subject label without ``sub-``.
    fragments : list of path-like
        Fragment JSON files written by the stages (see
        :mod:`brainpipe.io.fragments`). Sections are in pipeline order
        (:data:`PIPELINE_SECTIONS`), so the report is the same whatever order
        Snakemake passes them in.
    out_html : path-like
        Output HTML file (``sub-XX_report.html``).
    title : str | None
        Report title (default ``"brainpipe report: sub-<subject>"``).
    summary : dict | None
        Key/value pairs shown first, under "Data summary".
    inputs : sequence of path-like
        The subject's raw input files, checksummed in the provenance footer.
    config_hash : str | None
        Hash of the run's configuration (:func:`brainpipe.report.provenance.config_hash`).
    tfm_tokenizer : path-like | None
        The group TFM tokenizer, when it ran: adds a "TFM tokenizer" section
        (:func:`tfm_subject_html`).
    scores : sequence of path-like
        The subject's BCI score tables, for that section.

    Returns
    -------
    report : mne.Report
    """
    rows = {"subject": f"sub-{subject}", **(summary or {})}
    extra = []
    if tfm_tokenizer is not None:
        extra.append(("TFM tokenizer", 70, "This subject's EEG through the group tokenizer",
                      tfm_subject_html(tfm_tokenizer, scores)))
    return assemble_report(title or f"brainpipe report: sub-{subject}", fragments, out_html, rows, extra=extra,
                           provenance=provenance(inputs, config_hash=config_hash))


def tfm_subject_html(tokenizer, scores=()):
    """The subject's "TFM tokenizer" section: the group tokenizer's diagnostics
    (from its JSON sidecar) and this subject's ``tfm_transformer`` scores.

    Parameters
    ----------
    tokenizer : path-like
        The group tokenizer (``*_desc-tfm_tokenizer.pt``); its ``.json``
        sidecar is read.
    scores : sequence of path-like
        The subject's offline and pseudo-online score tables (rows of
        pipelines other than ``tfm_transformer`` are ignored).

    Returns
    -------
    html : str
    """
    import json

    side = check_file(Path(tokenizer).with_suffix(".json"), "TFM tokenizer sidecar")
    meta = json.loads(side.read_text())
    diag, info = meta.get("Diagnostics", {}), meta.get("Info", {})
    facts = {
        "codes used": f"{diag.get('codes_used', 'n/a')} of {diag.get('codebook_size', 'n/a')}",
        "perplexity": f"{diag['perplexity']:.1f}" if "perplexity" in diag else "n/a",
        "masked reconstruction MSE / baseline": f"{diag['mse_ratio']:.2f}" if "mse_ratio" in diag else "n/a",
        "tokens-labels mutual information p": f"{diag['mi_p']:.3f}" if "mi_p" in diag else "n/a",
        "parameters": f"{info['parameters']:,}" if "parameters" in info else "n/a",
        "trained on": f"{info.get('n_windows', 'n/a')} windows of {info.get('window_s', 'n/a')} s, all EEG subjects",
    }
    parts = [
        "<p>The group TFM tokenizer (self-supervised on every preprocessed EEG run, no labels) turns each "
        "channel's spectrogram into discrete tokens; the <code>tfm_transformer</code> pipeline decodes this "
        "subject's motor imagery from them. Its figures (token usage, reconstruction, per-class tokens) are in "
        "the group report.</p>",
        _dict_table(facts),
    ]
    for path in scores:
        df = pd.read_csv(check_file(path, "score table"), sep="\t", dtype={"subject": str})
        df = df[df.get("pipeline", pd.Series(dtype=str)) == "tfm_transformer"]
        if df.empty:
            continue
        if "mode" in df:  # pseudo-online table: offline and pseudo-online nMCC
            table = df.groupby(["evaluation", "mode", "smoothing"])[["nmcc", "itr"]].mean().reset_index()
            what = "Pseudo-online evaluation (nMCC, 0.5 = chance; ITR in bit/min)"
        else:
            table = df.groupby(["evaluation", "session"])["score"].mean().reset_index()
            what = "Offline evaluation (MOABB score per session)"
        parts.append(f"<p>{what}:</p>" + _scroll(table.to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                                                 border=0, classes="table table-sm", escape=True)))
    return "".join(parts)


def section_rank(section, order):
    """Sort key of a fragment: its section's pipeline rank, then its own order."""
    return (PIPELINE_SECTIONS.get(section, order), order)


def read_fragments(fragments):
    """Read fragment files, sorted in pipeline order; errors name the file.

    Returns
    -------
    frags : list of (dict, Path)
    """
    frags = []
    for path in fragments:
        path = check_file(path, "report fragment")
        try:
            frag = read_fragment(path)
            kinds = [item["kind"] for item in frag["items"]]
            frag["section"] = str(frag["section"])
        except (ValueError, KeyError, TypeError) as err:
            raise input_error(path, f"is not a valid report fragment ({err})") from err
        unknown = sorted(set(kinds) - set(FRAGMENT_KINDS))
        if unknown:
            raise input_error(path, f"has items of unknown kind {unknown} (allowed: {list(FRAGMENT_KINDS)})")
        frags.append((frag, path))
    frags.sort(key=lambda fp: (*section_rank(fp[0]["section"], fp[0].get("order", 50)), fp[1].name))
    return frags


def assemble_report(title, fragments, out_html, rows, *, extra=(), provenance=None):
    """Add ``rows`` as a summary table, then every fragment's items, and save.

    Parameters
    ----------
    title : str
    fragments : list of path-like
    out_html : path-like
    rows : dict
        The "Data summary" table.
    extra : sequence of (section, order, title, html)
        Trusted HTML blocks made by the report itself (the group report's
        subject table), placed among the fragments by section and order;
        not sanitised.
    provenance : dict | None
        :func:`brainpipe.report.provenance.provenance` output, added last.

    Returns
    -------
    report : mne.Report
    """
    import mne

    frags = read_fragments(fragments)
    for section, order, block_title, block_html in extra:
        frags.append(({"section": section, "order": order,
                       "items": [{"kind": "trusted", "title": block_title, "html": block_html}]}, Path("")))
    frags.sort(key=lambda fp: (*section_rank(fp[0]["section"], fp[0].get("order", 50)), fp[1].name))
    report = mne.Report(title=title, verbose="error")
    rows = dict(rows)
    rows["sections"] = ", ".join(dict.fromkeys(f["section"] for f, _ in frags)) or "none"
    report.add_html(TABLE_STYLE + _dict_table(rows), title="Data summary", section="Summary")
    with tempfile.TemporaryDirectory(prefix="brainpipe-report-") as tmp:
        for frag, path in frags:
            for item in frag["items"]:
                _add_item(report, item, frag["section"], path, Path(tmp))
        if provenance is not None:
            report.add_html(provenance_html(provenance), title="How this report was made", section="Provenance")
        with atomic_path(out_html) as out:
            report.save(out, overwrite=True, open_browser=False, verbose="error")
    return report


def compact_png(path, tmp_dir, limit=COMPACT_PNG_BYTES):
    """``path``, or a smaller 256-colour copy of it in ``tmp_dir`` when ``path`` is a PNG over ``limit`` bytes.

    Figures of lines, text and colour maps lose nothing visible; the copy is
    used only when it is smaller.
    """
    path = Path(path)
    if path.suffix.lower() != ".png" or path.stat().st_size <= limit:
        return path
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    small = Path(tmp_dir) / f"{len(list(Path(tmp_dir).iterdir())):04d}_{path.name}"
    rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(small, optimize=True)
    return small if small.stat().st_size < path.stat().st_size else path


def _add_item(report, item, section, fragment_path, tmp_dir):
    kind = item["kind"]
    if kind == "trusted":  # made by the report itself, never read from a fragment file
        report.add_html(item["html"], title=item["title"], section=section)
        return
    if kind == "html":
        # stages build these snippets around strings from the input files
        # (event names, channel names, pipeline names): keep only plain
        # formatting markup, everything else is shown as text
        # a caption is shown above the snippet, as for tables
        caption = f"<p>{html.escape(item['caption'])}</p>" if item.get("caption") else ""
        report.add_html(caption + _scroll(sanitize_html(item["html"])), title=item["title"], section=section)
        return
    path = Path(item["path"])
    if not path.exists():
        raise input_error(fragment_path, f"lists {path}, which does not exist")
    if kind == "image":
        report.add_image(compact_png(path, tmp_dir), title=item["title"], caption=item.get("caption") or None,
                         section=section)
    elif kind == "table":
        df = pd.read_csv(path, sep="\t")
        caption = f"<p>{html.escape(item['caption'])}</p>" if item.get("caption") else ""
        report.add_html(
            # to_html escapes cells and column names (escape=True, stated here on purpose)
            caption + _scroll(df.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0,
                                         classes="table", escape=True)),
            title=item["title"],
            section=section,
        )


def _scroll(block):
    """Wrap a block so that a wide table scrolls inside the page instead of widening it."""
    return f"<div style='overflow-x:auto'>{block}</div>"


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
