"""Report fragments and the per-subject mne.Report assembly."""

import json
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from brainpipe._check import BrainpipeInputError
from brainpipe.report import build_subject_report, fragment_item, read_fragment, write_fragment


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs = 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs += 1


def _png(path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return path


def test_fragment_paths_are_relative(tmp_path):
    (tmp_path / "figs").mkdir()
    png = _png(tmp_path / "figs" / "a.png")
    frag = tmp_path / "figs" / "x_fragment.json"
    write_fragment(frag, "EEG", [fragment_item("image", "A", path=png)])
    stored = json.loads(frag.read_text())
    assert stored["items"][0]["path"] == "a.png"
    assert read_fragment(frag)["items"][0]["path"] == str(png.resolve())


def test_fragment_item_checks_kind():
    with pytest.raises(ValueError, match="'kind' parameter"):
        fragment_item("video", "x", path="a.mp4")
    with pytest.raises(ValueError, match="needs html"):
        fragment_item("html", "x")


def test_report_has_sections_images_and_tables(tmp_path):
    png = _png(tmp_path / "a.png")
    tsv = tmp_path / "t.tsv"
    pd.DataFrame({"pipeline": ["ts_svm"], "score": [0.812345]}).to_csv(tsv, sep="\t", index=False)
    f1 = write_fragment(tmp_path / "b_fragment.json", "Offline BCI", [fragment_item("table", "Scores", path=tsv)], order=40)
    f2 = write_fragment(
        tmp_path / "a_fragment.json",
        "EEG",
        [fragment_item("image", "PSD", path=png),
         fragment_item("html", "Note", html="<p>hello</p>", caption="What the note says & why")],
        order=20,
    )
    out = tmp_path / "sub-01_report.html"
    build_subject_report("01", [f1, f2], out)
    text = out.read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.imgs >= 1
    assert "0.812" in text and "hello" in text
    # an HTML snippet's caption is shown (escaped), above the snippet
    assert "<p>What the note says &amp; why</p>" in text
    assert text.index("What the note says") < text.index("hello")
    assert text.index("PSD") < text.index("Scores")  # ordered by fragment order, not input order


def test_report_missing_item_names_fragment(tmp_path):
    frag = write_fragment(tmp_path / "f_fragment.json", "EEG", [fragment_item("image", "gone", path="missing.png")])
    with pytest.raises(BrainpipeInputError, match="f_fragment.json.*missing.png"):
        build_subject_report("01", [frag], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _sections(text):
    """Section titles of an mne.Report page, in order (the table of contents)."""
    import re

    return re.findall(r'<a class="nav-link[^"]*" href="#[^"]*"\s+data-mne-tags="[^"]*">([^<]+)</a>', text)


def test_sections_in_pipeline_order_whatever_the_fragment_numbers(tmp_path):
    png = _png(tmp_path / "a.png")
    # stage numbers that disagree with the pipeline: the report's table wins
    frags = [
        write_fragment(tmp_path / f"{name}_fragment.json", section, [fragment_item("image", name, path=png,
                                                                                  caption="what it shows")],
                       order=order)
        for name, section, order in (("mri", "Structural MRI", 20), ("eeg", "EEG", 20), ("mae", "BrainMAE", 60),
                                     ("off", "Offline BCI", 40), ("feat", "EEG features", 30), ("new", "New stage", 99))
    ]
    out = tmp_path / "r.html"
    build_subject_report("01", frags, out)
    assert _sections(out.read_text()) == ["Summary", "EEG", "Structural MRI", "EEG features", "Offline BCI",
                                          "BrainMAE", "New stage", "Provenance"]


def test_provenance_footer_checksums_inputs(tmp_path):
    import hashlib

    from brainpipe.report import config_hash

    vhdr = tmp_path / "sub-01_task-x_eeg.vhdr"
    vhdr.write_text("header")
    (tmp_path / "sub-01_task-x_eeg.eeg").write_bytes(b"\x00\x01data")
    png = _png(tmp_path / "a.png")
    frag = write_fragment(tmp_path / "f_fragment.json", "EEG", [fragment_item("image", "A", path=png, caption="c")])
    out = tmp_path / "r.html"
    h = config_hash({"b": 1, "a": {"c": [1, 2]}})
    assert h == config_hash({"a": {"c": [1, 2]}, "b": 1}) and h != config_hash({"b": 2, "a": {"c": [1, 2]}})
    build_subject_report("01", [frag], out, inputs=[vhdr], config_hash=h)
    text = out.read_text()
    assert "Provenance" in text and h in text
    for f in (vhdr, tmp_path / "sub-01_task-x_eeg.eeg"):  # the header brings its data file
        assert hashlib.sha256(f.read_bytes()).hexdigest()[:16] in text
    with pytest.raises(BrainpipeInputError, match="gone.vhdr"):
        build_subject_report("01", [frag], tmp_path / "r2.html", inputs=[tmp_path / "gone.vhdr"])


def test_fragment_cannot_claim_trusted_html(tmp_path):
    frag = tmp_path / "f_fragment.json"
    frag.write_text(json.dumps({"section": "EEG", "order": 1,
                                "items": [{"kind": "trusted", "title": "x", "html": "<script>1</script>"}]}))
    with pytest.raises(BrainpipeInputError, match="unknown kind"):
        build_subject_report("01", [frag], tmp_path / "r.html")


def test_large_png_embedded_smaller(tmp_path):
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 6))
    ax.imshow(np.random.default_rng(0).normal(size=(200, 200)), cmap="RdBu_r")
    big = tmp_path / "big.png"
    fig.savefig(big, dpi=120)
    plt.close(fig)
    frag = write_fragment(tmp_path / "f_fragment.json", "fMRI", [fragment_item("image", "A", path=big, caption="c")])
    out = tmp_path / "r.html"
    build_subject_report("01", [frag], out)
    assert big.stat().st_size > 60_000
    from brainpipe.report.subject import compact_png

    (tmp_path / "tmp").mkdir()
    small = compact_png(big, tmp_path / "tmp")
    assert small != big and small.stat().st_size < big.stat().st_size
    assert out.stat().st_size < 1_500_000


def test_group_report_rows_links_and_pipelines(tmp_path):
    from brainpipe.report import build_group_report
    from brainpipe.report.group import subject_rows

    res = tmp_path / "results"
    for sub in ("01", "02"):
        (res / f"sub-{sub}/eeg").mkdir(parents=True)
        (res / f"sub-{sub}/sub-{sub}_report.html").write_text("<html></html>")
        pd.DataFrame({"evaluation": ["within-session", "within-session"], "pipeline": ["a", "b"], "score": [0.6, 0.9]}).to_csv(
            res / f"sub-{sub}/eeg/sub-{sub}_task-mi_desc-offline_scores.tsv", sep="\t", index=False)
        pd.DataFrame({"subject": [sub] * 4, "evaluation": ["within-session"] * 4, "pipeline": ["a", "a", "b", "b"],
                      "mode": ["offline", "pseudo-online"] * 2, "smoothing": [1] * 4,
                      "nmcc": [0.8, 0.6, 0.7, 0.65], "itr": [1.0, 10.0, 2.0, 12.0]}).to_csv(
            res / f"sub-{sub}/eeg/sub-{sub}_task-mi_desc-pseudoonline_scores.tsv", sep="\t", index=False)
    tables = sorted(res.glob("sub-*/eeg/*.tsv"))
    reports = sorted(res.glob("sub-*/sub-*_report.html"))
    out = res / "group/group_report.html"
    rows = subject_rows(tables, reports, out)
    assert list(rows["subject"]) == ["sub-01", "sub-02"]
    assert rows.loc[0, "report"] == "../sub-01/sub-01_report.html"
    assert rows.loc[0, "offline best (within-session)"] == "b 0.90"
    assert rows.loc[0, "pseudo-online best nMCC"] == "b 0.65"
    png = _png(tmp_path / "a.png")
    frag = write_fragment(tmp_path / "g_fragment.json", "DemoVAE", [fragment_item("image", "A", path=png, caption="c")])
    build_group_report([frag], out, tables=tables, subject_reports=reports)
    text = out.read_text()
    assert "href='../sub-02/sub-02_report.html'" in text
    assert "Offline vs pseudo-online per pipeline" in text
    assert _sections(text) == ["Summary", "Subjects", "Pseudo-online BCI", "DemoVAE", "Provenance"]
    with pytest.raises(BrainpipeInputError, match="not a table the group report reads"):
        build_group_report([frag], out, tables=[png])


def test_eeg_psd_before_after_marks_bad_channels():
    import matplotlib.colors as mcolors
    import mne
    import numpy as np

    from brainpipe.eeg.figures import BAD_COLOR, psd_before_after_figure

    names = ["C3", "Cz", "C4", "FCz", "CPz", "Pz"]
    info = mne.create_info(names, 250.0, "eeg")
    data = np.random.default_rng(0).normal(scale=1e-5, size=(len(names), 250 * 20))
    data[2] *= 30  # a noisy C4
    raw = mne.io.RawArray(data, info, verbose="error").set_montage(mne.channels.make_standard_montage("colin27_1020"))
    before = raw.compute_psd(fmax=60, verbose="error")
    after = raw.copy().filter(1.0, 40.0, verbose="error").compute_psd(fmax=60, verbose="error")
    fig = psd_before_after_figure(before, after, raw.info, ["C4"], l_freq=1.0, h_freq=40.0, notch=[50.0])
    ax_before, ax_after, ax_sensors = fig.axes[:3]
    red = mcolors.to_rgba(BAD_COLOR)
    for ax in (ax_before, ax_after):
        reds = [line for line in ax.get_lines() if mcolors.to_rgba(line.get_color()) == red]
        assert len(reds) == 1  # the bad channel, drawn over the others
        assert "C4" in [t.get_text() for t in ax.texts]
    assert "C4" in ax_sensors.get_title()
    assert {t.get_text() for t in ax_after.texts} >= {"notch 50 Hz", "high-pass 1 Hz", "low-pass 40 Hz"}
