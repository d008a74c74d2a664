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
        [fragment_item("image", "PSD", path=png), fragment_item("html", "Note", html="<p>hello</p>")],
        order=20,
    )
    out = tmp_path / "sub-01_report.html"
    build_subject_report("01", [f1, f2], out)
    text = out.read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.imgs >= 1
    assert "0.812" in text and "hello" in text
    assert text.index("PSD") < text.index("Scores")  # ordered by fragment order, not input order


def test_report_missing_item_names_fragment(tmp_path):
    frag = write_fragment(tmp_path / "f_fragment.json", "EEG", [fragment_item("image", "gone", path="missing.png")])
    with pytest.raises(BrainpipeInputError, match="f_fragment.json.*missing.png"):
        build_subject_report("01", [frag], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
