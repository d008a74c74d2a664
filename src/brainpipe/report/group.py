"""The group report: one row per subject, then the group-level stages.

It opens with a "Subjects" table (one row per subject: what ran, the key
numbers of each stage, a link to the subject's report), then, when the EEG
pseudo-online evaluation ran, the offline versus pseudo-online score of every
pipeline averaged over the subjects, then the group-level fragments (fMRI
group: connectivity-demographics prediction; the models' tables: BrainMAE
probes, DemoVAE decorrelation, synthesis and harmonization, the TFM
tokenizer), and the provenance footer.

The key numbers are read from the small tables the stages wrote
(:data:`KEY_TABLES`); nothing is recomputed.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from .._check import check_file, input_error
from .provenance import provenance
from .subject import assemble_report

_SUBJECT = re.compile(r"(?:^|_)sub-([A-Za-z0-9]+)")


def subject_of(path):
    """Subject label (without ``sub-``) of a BIDS-named file, or None."""
    match = _SUBJECT.search(Path(path).name)
    return match.group(1) if match else None


def _sidecar(path):
    """The JSON sidecar the stage wrote beside ``path``."""
    return json.loads(check_file(Path(path).with_suffix(".json"), "JSON sidecar").read_text())


def _eeg_runs(paths):
    bads = set()
    for path in paths:
        record = _sidecar(path).get("BadChannels", {})
        for key in ("flat", "noisy", "marked"):
            bads.update(record.get(key, []))
    return {"EEG runs": len(paths), "bad channels": ", ".join(sorted(bads)) or "none"}


def _best(df, score, prefer):
    """Rows of the evaluation ``prefer`` (else all), the pipeline of best mean ``score``."""
    key = "evaluation"
    if key in df and (df[key] == prefer).any():
        df = df[df[key] == prefer]
    means = df.groupby("pipeline")[score].mean()
    return means.idxmax(), means.max(), df


def _offline(paths):
    df = pd.concat([pd.read_csv(p, sep="\t") for p in paths])
    pipe, score, _ = _best(df, "score", "within-session")
    return {"offline best (within-session)": f"{pipe} {score:.2f}"}


def _pseudo_online(paths):
    df = pd.concat([pd.read_csv(p, sep="\t") for p in paths])
    df = df[(df["mode"] == "pseudo-online") & (df["smoothing"] == 1)]
    if df.empty:
        return {}
    pipe, score, rows = _best(df, "nmcc", "within-session")
    itr = rows.loc[rows["pipeline"] == pipe, "itr"].mean()
    return {"pseudo-online best nMCC": f"{pipe} {score:.2f}", "pseudo-online ITR (bit/min)": f"{itr:.1f}"}


def _fmri(paths):
    meta = _sidecar(paths[0])
    kept, total = meta.get("NumberOfKeptVolumes"), meta.get("NumberOfVolumes")
    return {"fMRI volumes kept": f"{kept}/{total}", "fMRI regions": len(meta.get("Regions", []))}


def _graph(paths):
    row = pd.read_csv(paths[0], sep="\t").iloc[0]
    return {"FC graph global efficiency": f"{row['global_efficiency']:.3f}"} if "global_efficiency" in row else {}


def _iqms(paths):
    row = pd.read_csv(paths[0], sep="\t").iloc[0]
    names = {"snr_total": "T1 SNR", "cnr": "T1 CNR", "efc": "T1 EFC", "motion_score": "T1 motion score"}
    return {label: f"{row[col]:.3g}" for col, label in names.items() if col in row}


#: The stage outputs the group report reads key numbers from: file name ending,
#: the modality it shows, and a reader of one subject's files of that kind
#: (the preprocessed EEG and the ROI time series through their JSON sidecars).
KEY_TABLES = (
    ("_desc-preproc_eeg.fif", "EEG", _eeg_runs),
    ("_desc-offline_scores.tsv", "EEG", _offline),
    ("_desc-pseudoonline_scores.tsv", "EEG", _pseudo_online),
    ("_timeseries.tsv", "fMRI", _fmri),
    ("_desc-graph_network.tsv", "fMRI", _graph),
    ("_desc-iqms_T1w.tsv", "MRI", _iqms),
)


def subject_rows(tables, subject_reports=(), out_html=None):
    """One row of key numbers per subject, from the stages' small tables.

    Parameters
    ----------
    tables : sequence of path-like
        Files matching a :data:`KEY_TABLES` ending, BIDS-named (``sub-XX_...``).
    subject_reports : sequence of path-like
        The subjects' HTML reports (linked from each row).
    out_html : path-like | None
        The group report, to make the links relative to it.

    Returns
    -------
    rows : DataFrame
        One row per subject, ``subject`` first, then ``modalities``, ``report``
        (relative link) and the key numbers; "" where a stage did not run.
    """
    by_kind = {}
    for path in tables:
        path = check_file(path, "key-number table")
        sub = subject_of(path)
        kind = next((k for k in KEY_TABLES if path.name.endswith(k[0])), None)
        if sub is None or kind is None:
            raise input_error(path, "is not a table the group report reads (a sub-XX_ file ending in one of "
                                    f"{[k[0] for k in KEY_TABLES]})")
        by_kind.setdefault((sub, kind), []).append(path)
    reports = {subject_of(p): Path(p) for p in subject_reports}
    subjects = sorted({s for s, _ in by_kind} | set(reports))
    rows = []
    for sub in subjects:
        row = {"subject": f"sub-{sub}", "modalities": [], "report": ""}
        if sub in reports and out_html is not None:
            row["report"] = os.path.relpath(reports[sub].resolve(), Path(out_html).resolve().parent)
        for ending, modality, reader in KEY_TABLES:
            paths = sorted(by_kind.get((sub, (ending, modality, reader)), []))
            if paths:
                if modality not in row["modalities"]:
                    row["modalities"].append(modality)
                try:
                    row.update(reader(paths))
                except (KeyError, ValueError, IndexError) as err:
                    raise input_error(paths[0], f"could not be read for the group table ({err!r})") from err
        row["modalities"] = " + ".join(row["modalities"])
        rows.append(row)
    columns = list(dict.fromkeys(col for row in rows for col in row))
    return pd.DataFrame([{col: str(row.get(col, "")) for col in columns} for row in rows], columns=columns)


def subjects_html(rows):
    """The "Subjects" table: one row per subject, the subject linked to its report."""
    if rows.empty:
        return "<p>No subject tables were given.</p>"
    cols = [c for c in rows.columns if c != "report"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, row in rows.iterrows():
        cells = []
        for col in cols:
            text = html.escape(str(row[col]))
            if col == "subject" and row["report"]:
                text = f"<a class='subject-report' href='{html.escape(quote(row['report']), quote=True)}'>{text}</a>"
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<p>One row per subject: the stages that ran and their key numbers; the subject opens its report. "
        "Offline scores are MOABB's (ROC-AUC for left/right imagery), pseudo-online scores the normalised "
        "MCC of every sliding window with the idle class (0.5 = chance).</p>"
        "<div style='overflow-x:auto'><table class='table table-sm table-striped'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def offline_vs_pseudo_online(tables):
    """Mean nMCC per evaluation and pipeline, offline next to pseudo-online.

    Parameters
    ----------
    tables : sequence of path-like
        Per-subject ``*_desc-pseudoonline_scores.tsv`` (others are ignored).

    Returns
    -------
    table : DataFrame | None
        Columns evaluation, pipeline, subjects, offline nMCC, pseudo-online
        nMCC (raw decisions and each smoothing), pseudo-online ITR; None when
        no such table was given.
    """
    paths = [p for p in tables if Path(p).name.endswith("_desc-pseudoonline_scores.tsv")]
    if not paths:
        return None
    df = pd.concat([pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in paths])
    keys = ["evaluation", "pipeline"]
    off = df[df["mode"] == "offline"].groupby(keys)["nmcc"].mean().rename("offline nMCC")
    on = df[df["mode"] == "pseudo-online"]
    parts = [on.groupby(keys)["subject"].nunique().rename("subjects"), off]
    for k, rows in on.groupby("smoothing"):
        label = "pseudo-online nMCC" if int(k) == 1 else f"pseudo-online nMCC (vote of {int(k)})"
        parts.append(rows.groupby(keys)["nmcc"].mean().rename(label))
    parts.append(on[on["smoothing"] == 1].groupby(keys)["itr"].mean().rename("pseudo-online ITR (bit/min)"))
    return pd.concat(parts, axis=1).reset_index()


def build_group_report(fragments, out_html, *, title="brainpipe group report", summary=None, tables=(),
                       subject_reports=(), inputs=(), config_hash=None):
    """Build the group :class:`mne.Report`.

    Parameters
    ----------
    fragments : list of path-like
        Group-level fragment JSON files (see :mod:`brainpipe.io.fragments`).
    out_html : path-like
        Output HTML (``group/group_report.html``).
    title : str
    summary : dict | None
        Extra key/value pairs for the "Data summary" table.
    tables : sequence of path-like
        Per-subject key-number tables (:data:`KEY_TABLES`).
    subject_reports : sequence of path-like
        Subject reports, linked from the "Subjects" table.
    inputs, config_hash
        As in :func:`brainpipe.report.build_subject_report` (provenance footer).

    Returns
    -------
    report : mne.Report
    """
    rows = subject_rows(tables, subject_reports, out_html)
    extra = [("Subjects", 10, "Subjects", subjects_html(rows))]
    versus = offline_vs_pseudo_online(tables)
    if versus is not None:
        extra.append((
            "Pseudo-online BCI", 44, "Offline vs pseudo-online per pipeline",
            "<p>Mean over subjects of the normalised MCC ((MCC + 1) / 2; 0.5 = chance) of each pipeline: "
            "offline on cue-locked epochs, pseudo-online on every sliding window of the continuous runs "
            "with the idle class, without and with a majority vote over the last decisions.</p>"
            + versus.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0,
                             classes="table table-sm", escape=True),
        ))
    info = {"subjects": len(rows), **(summary or {})}
    return assemble_report(title, fragments, out_html, info, extra=extra,
                           provenance=provenance(inputs, config_hash=config_hash))
