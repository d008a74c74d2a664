"""The reports as a person sees them: the tiny workflow's HTML in a real headless Chromium.

Playwright drives the system's Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs as root; ``BRAINPIPE_CHROMIUM`` names another binary).
For the group report and every subject report it opens through the group
report's links: every image loads, no console error or failed request, the
expected sections are there in pipeline order, every figure has a caption.
Full-page screenshots of the group report and of one subject report of each
kind go to ``results/screenshots/`` (``BRAINPIPE_SCREENSHOTS`` to change it),
kept as CI artifacts.

Without Playwright or a Chromium the tests skip with the reason, unless
``BRAINPIPE_REQUIRE_BROWSER=1`` (set by ``.ci/run`` once it has installed
Chromium), where they fail instead.

The workflow's outputs come from the session-wide ``tiny_workflow`` fixture
(conftest.py), the same run as tests/test_workflow.py.
"""

import os
import shutil
from pathlib import Path

import pytest
from conftest import run_snakemake

from brainpipe.report import PIPELINE_SECTIONS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

#: The sections of the tiny demo's reports, in the order they must appear.
EEG_SUBJECT_SECTIONS = ["Summary", "EEG", "fMRI", "Structural MRI", "EEG features", "Offline BCI",
                        "Pseudo-online BCI", "BrainMAE", "DemoVAE", "TFM tokenizer", "Provenance"]
FMRI_SUBJECT_SECTIONS = ["Summary", "fMRI", "Structural MRI", "BrainMAE", "DemoVAE", "Provenance"]
GROUP_SECTIONS = ["Summary", "Subjects", "fMRI group", "Pseudo-online BCI", "BrainMAE", "DemoVAE",
                  "TFM tokenizer", "Provenance"]
EEG_SUBJECTS = ("01", "02")  # .test/config: n_eeg_subjects: 2 of 8

#: Fixed bars would be drawn over the middle of a full-page screenshot.
SCREENSHOT_CSS = ".fixed-bottom, .fixed-top {position: static !important}"


def _chromium():
    for candidate in (os.environ.get("BRAINPIPE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (shutil.which(candidate) or Path(candidate).is_file()):
            return shutil.which(candidate) or candidate
    return None


def _unavailable(reason):
    if os.environ.get("BRAINPIPE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BRAINPIPE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; it drives the system Chromium)")
    exe = _chromium()
    if exe is None:
        _unavailable("no Chromium found (as root on Debian: apt-get install chromium; or set BRAINPIPE_CHROMIUM)")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        except Exception as err:  # a broken install: say which binary and why
            _unavailable(f"{exe} could not be started by playwright: {err}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots():
    out = Path(os.environ.get("BRAINPIPE_SCREENSHOTS", REPO / "results" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


class Page:
    """One browser tab that records console errors, page errors and failed requests."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        self.problems = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("requestfailed", lambda req: self.problems.append(f"failed request: {req.url[:120]}"))

    def _console(self, msg):
        if msg.type in ("error", "warning") and "favicon" not in msg.text:
            self.problems.append(f"console {msg.type}: {msg.text[:300]}")

    def open(self, path):
        self.page.goto(Path(path).resolve().as_uri(), wait_until="load")
        return self

    def sections(self):
        return self.page.eval_on_selector_all(
            "#content > .accordion-item.section > .accordion-header span.me-auto",
            "els => els.map(e => e.innerText.trim())")

    def broken_images(self):
        return self.page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 80))")

    def uncaptioned_figures(self):
        return self.page.eval_on_selector_all(
            "#content figure",
            "figs => figs.filter(f => !(f.querySelector('figcaption') && "
            "f.querySelector('figcaption').innerText.trim().length > 20)).map(f => f.querySelector('img').alt)")

    def n_figures(self):
        return self.page.eval_on_selector_all("#content figure img", "imgs => imgs.length")

    def screenshot(self, path):
        self.page.add_style_tag(content=SCREENSHOT_CSS)
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _check(page, expected_sections, where):
    assert page.sections() == expected_sections, where
    assert page.n_figures() >= 2, where
    assert page.broken_images() == [], where
    assert page.uncaptioned_figures() == [], f"{where}: figures without a caption"
    assert page.problems == [], where


def test_sections_follow_the_pipeline():
    ranks = [PIPELINE_SECTIONS[s] for s in EEG_SUBJECT_SECTIONS[1:-1]]
    assert ranks == sorted(ranks)


def test_group_report_and_its_links_in_chromium(tiny_workflow, browser, screenshots):
    res = tiny_workflow / "results"
    group = Page(browser).open(res / "group/group_report.html")
    _check(group, GROUP_SECTIONS, "group report")
    text = group.page.inner_text("#content")
    for needle in ("Offline vs pseudo-online per pipeline", "Prediction from connectivity",
                   "Downstream probes", "Decorrelation of latents and demographics", "Harmonization",
                   "How this report was made", "config hash"):
        assert needle in text, needle
    group.screenshot(screenshots / "group_report.png")

    links = group.page.eval_on_selector_all("a.subject-report", "as => as.map(a => a.innerText.trim())")
    assert links == [f"sub-{i:02d}" for i in range(1, 9)]
    shot = {"sub-01": "sub-01_report.png", "sub-03": "sub-03_report.png"}
    for label in links:
        group.page.click(f"a.subject-report:text-is('{label}')")
        group.page.wait_for_load_state("load")
        assert group.page.url.endswith(f"/{label}/{label}_report.html"), group.page.url
        assert group.page.title().endswith(label)
        sub = label.removeprefix("sub-")
        _check(group, EEG_SUBJECT_SECTIONS if sub in EEG_SUBJECTS else FMRI_SUBJECT_SECTIONS, label)
        if label in shot:
            group.screenshot(screenshots / shot[label])
        group.page.go_back(wait_until="load")
    assert group.problems == []


def test_subject_report_shows_eeg_before_after_and_provenance(tiny_workflow, browser):
    report = tiny_workflow / "results/sub-01/sub-01_report.html"
    page = Page(browser).open(report)
    eeg = page.page.inner_text("#EEG")
    assert eeg.count("power spectrum before and after preprocessing") == 4  # one per run
    assert "Bad channels (flat or noisy)" in eeg
    footer = page.page.inner_text("#Provenance")
    for needle in ("brainpipe", "config hash", "sha256", "sub-01_ses-1_task-imagery_run-1_eeg.eeg"):
        assert needle in footer, needle
    # "a few MB": every report of the tiny demo, images embedded
    res = tiny_workflow / "results"
    reports = [*res.glob("sub-*/sub-*_report.html"), res / "group/group_report.html"]
    sizes = {p.name: p.stat().st_size for p in reports}
    assert len(sizes) == 9 and max(sizes.values()) < 4_000_000, sizes


@pytest.fixture(scope="module")
def snakemake_report(tiny_workflow):
    """``snakemake --report results/snakemake_report.html`` on the tiny workflow's run."""
    out = tiny_workflow / "results/snakemake_report.html"
    proc = run_snakemake(tiny_workflow, "--report", "results/snakemake_report.html", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ERROR" not in proc.stderr, proc.stderr[-3000:]  # docutils errors of a caption file
    return out


def test_snakemake_report_has_the_tagged_figures(snakemake_report):
    text = snakemake_report.read_text()
    for category in ("EEG", "BCI", "fMRI", "Structural MRI", "Models"):
        assert f'"{category}"' in text, category
    for name in ("desc-psd_eeg.png", "desc-offline_scores.png", "desc-mosaic_T1w.png", "desc-prediction_scores.png",
                 "desc-brainmaeprobe_plot.png", "desc-demovaecorr_plot.png", "desc-tfm_reconstruction.png"):
        assert name in text, name


def test_snakemake_report_in_chromium(snakemake_report, browser, screenshots):
    page = Page(browser).open(snakemake_report)
    page.page.wait_for_selector("text=Structural MRI")
    page.screenshot(screenshots / "snakemake_report.png")
    # EEG > sub-01 lists one spectrum per run; the eye button shows the first
    page.page.click("text=EEG")
    page.page.click("text=sub-01")
    row = page.page.locator("tr", has_text="sub-01_ses-1_task-imagery_run-1_desc-psd_eeg.png")
    row.locator("a[iconname=eye]").click()
    page.page.wait_for_function("[...document.images].some(i => i.src.includes('desc-psd_eeg.png') "
                                "&& i.complete && i.naturalWidth > 0)")
    assert page.page.locator("tr", has_text="desc-psd_eeg.png").count() == 4
    assert page.broken_images() == []
    # Snakemake's bundled Tailwind warns about itself on every page; anything else is a problem
    problems = [p for p in page.problems if "cdn.tailwindcss.com should not be used" not in p]
    assert problems == []
    page.screenshot(screenshots / "snakemake_report_eeg.png")
