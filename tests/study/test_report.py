"""The study report: files written, self-contained HTML, the numbers in its tables, escaping, and a real browser."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_result
from scratchnn.study import plots, write_report

MODELS = ("cnn-scratch", "cnn-torch", "mlp-scratch", "mlp-torch")
PLOTS = {
    "twin_gap.png",
    "loss_curves.png",
    "test_loss.png",
    "test_accuracy.png",
    "confusion.png",
    "filters.png",
    "feature_maps.png",
    "label_distribution.png",
}
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


class _Tables(HTMLParser):
    """The text of every cell of every ``<table id=...>``, as rows of strings, keyed by the table's id."""

    def __init__(self):
        super().__init__()
        self.tables, self._id, self._cell = {}, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._id:
            self.tables[self._id][-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def test_writes_both_reports_and_every_plot(written_report):
    assert written_report.html == written_report.run_dir / "report.html"
    assert written_report.md == written_report.run_dir / "report.md"
    assert written_report.html.stat().st_size > 100_000
    assert {path.name for path in (written_report.run_dir / "plots").iterdir()} == PLOTS


def test_html_is_self_contained(written_report):
    html = written_report.html.read_text(encoding="utf-8")
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert len(sources) == len(PLOTS)
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert 'src="http' not in html and 'src="plots/' not in html
    assert "<script" not in html and "<link" not in html and "url(" not in html and "@import" not in html


def test_embedded_images_are_the_plots_and_decode(written_report):
    html = written_report.html.read_text(encoding="utf-8")
    embedded = [base64.b64decode(data) for data in DATA_URI.findall(html)]
    on_disk = {path.read_bytes() for path in (written_report.run_dir / "plots").iterdir()}
    assert len(embedded) == len(PLOTS) and set(embedded) == on_disk
    for png in embedded:
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.format == "PNG"
            assert 400 <= image.width <= 2000 and 150 <= image.height <= 1500, image.size


def test_summary_table_shows_mean_and_std_of_every_model(written_report):
    table = _tables(written_report.html.read_text(encoding="utf-8"))["summary"]
    rows = {row[0]: row for row in table[1:]}
    assert set(rows) == set(MODELS)
    for key in MODELS:
        s = written_report.result["summary"][key]
        assert rows[key][1] == f"{s['params']:,}"
        assert rows[key][2] == f"{s['test_loss_mean']:.4f} ± {s['test_loss_std']:.4f}"
        assert rows[key][3] == f"{100 * s['test_accuracy_mean']:.2f} ± {100 * s['test_accuracy_std']:.2f} %"
        assert rows[key][4] == f"{s['wall_time_mean']:.1f} s"
    assert rows["cnn-scratch"][1] == "11,146" and rows["mlp-torch"][1] == "12,730"


def test_twin_section_shows_the_gaps_of_the_twin_and_the_control(written_report):
    html = written_report.html.read_text(encoding="utf-8")
    assert "<h2>scratch vs torch.nn</h2>" in html
    rows = {row[0]: row for row in _tables(html)["twins"][1:]}
    result = written_report.result
    for arch in ("cnn", "mlp"):
        for role, gap in (("scratch", result["twin_gap"][arch]), ("control", result["control_gap"][arch])):
            first = max(s["first_step"][role]["grad"] for s in result["twins"][arch]["seeds"])
            assert rows[f"{arch}: {role} – torch.nn"][1:] == [
                f"{first:.1e}",
                f"{gap['max_test_loss_gap']:.2e}",
                f"{gap['max_train_loss_gap']:.2e}",
                f"{100 * gap['max_test_accuracy_gap']:.2f} pp",
                f"{gap['final_max_param_diff']:.2e}",
            ]
        assert f"{arch}: Consistent with rounding" in html


def test_the_verdict_on_the_page_follows_the_numbers(tmp_path):
    """A scratch twin drifting 30 times further than the control is reported as leaving the bounds, with its
    epoch; the same page with a control as far off says it is consistent with rounding."""
    from conftest import _twins

    result = make_result(seeds=1, epochs=6)
    result["twins"]["cnn"] = _twins(np.random.default_rng(1), seeds=1, epochs=6, scratch_scale=30.0)
    html_path, _ = write_report(tmp_path / "run", result)
    text = " ".join(html_path.read_text(encoding="utf-8").split())
    epoch = result["twins"]["cnn"]["verdict"]["first_epoch_off"]
    assert epoch is not None and f"cnn: Disagrees with torch.nn from epoch {epoch}" in text
    assert "scratchnn check" in text and "mlp: Consistent with rounding" in text


def test_one_seed_shows_no_spread(tmp_path):
    result = make_result(seeds=1)
    html_path, md_path = write_report(tmp_path / "run", result)
    for text in (html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")):
        assert "±" not in text and "over 1 seeds" not in text and "min–max band" not in text
        assert "no spread to show" in text
    rows = {row[0]: row for row in _tables(html_path.read_text(encoding="utf-8"))["summary"][1:]}
    assert rows["cnn-scratch"][2] == f"{result['summary']['cnn-scratch']['test_loss_mean']:.4f}"


def _band_pixels(png: bytes) -> int:
    """Pixels of the CNN's pale blue band tint (tab:blue at 20 % over white), not of its lines."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((abs(r - 206) <= 8) & (abs(g - 225) <= 8) & (abs(b - 240) <= 8)).sum())


def test_several_seeds_promise_the_band_and_draw_it(written_report):
    """The captions promise a min–max band over seeds; the loss figure draws it, and one seed draws none."""
    html = written_report.html.read_text(encoding="utf-8")
    assert "mean over 2 seeds with the min–max band shaded" in html
    assert "Wall times are those of this run" in html
    spread = make_result(seeds=2)
    for run in spread["models"]["cnn-scratch"]["runs"][1:]:
        run["history"] = [{**row, "train_loss": row["train_loss"] * 1.5} for row in run["history"]]
    single = make_result(seeds=1)
    band, edges = _band_pixels(plots.loss_curves(spread)), _band_pixels(plots.loss_curves(single))
    assert band > 5000 and band > 20 * edges  # one seed: only the lines' anti-aliased edges have that tint


def test_both_reports_carry_config_environment_and_attribution(written_report):
    for path in (written_report.html, written_report.md):
        text = path.read_text(encoding="utf-8")
        for needle in ("lr.cnn-scratch", "2.13.0", "2026-11-25T14:00:00", "embedded 10k MNIST subset"):
            assert needle in text.replace("\\", ""), (path.name, needle)
        assert "Yann LeCun, Corinna Cortes and Christopher J.C. Burges" in text
        assert "CC BY-SA 3.0" in text
        assert text.count("Figure 8.") >= 1 and "Figure 9." not in text


def test_markdown_shows_the_plot_files(written_report):
    md = written_report.md.read_text(encoding="utf-8")
    targets = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(targets) == sorted(f"plots/{name}" for name in PLOTS)
    assert all((written_report.run_dir / target).is_file() for target in targets)
    assert "| cnn-scratch | 11,146 |" in md


def test_text_from_the_config_is_escaped(written_report):
    hostile = written_report.result["config"]["note"]
    html = written_report.html.read_text(encoding="utf-8")
    md = written_report.md.read_text(encoding="utf-8")
    assert hostile not in html and "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; | *bold*" in html
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert r"\*bold\*" in md and r"\[link\]" in md and r" \| " in md


def test_refuses_to_overwrite_a_report(written_report):
    before = written_report.html.read_bytes()
    with pytest.raises(FileExistsError, match=r"report\.html already exists"):
        write_report(written_report.run_dir, written_report.result)
    assert written_report.html.read_bytes() == before


def test_refuses_when_only_the_markdown_exists(tmp_path, fake_result):
    (tmp_path / "report.md").write_text("an earlier report\n")
    with pytest.raises(FileExistsError, match=r"report\.md"):
        write_report(tmp_path, fake_result)
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "plots").exists()


def test_figures_of_missing_artifacts_are_left_out(tmp_path, fake_result):
    del fake_result["artifacts"]
    html_path, md_path = write_report(tmp_path / "run", fake_result)
    assert len(DATA_URI.findall(html_path.read_text(encoding="utf-8"))) == len(PLOTS) - 2
    assert "filters.png" not in md_path.read_text(encoding="utf-8")
    assert "Figure 6. Label distribution." in md_path.read_text(encoding="utf-8")


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from report_browser import find_chromium, inspect_report, problems  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install -e '.[test]'")
    try:
        return find_chromium()
    except FileNotFoundError as error:
        pytest.skip(f"{error}: apt-get install chromium")


def test_a_reader_sees_every_figure_and_both_tables(browser, written_report, tmp_path):
    shot = tmp_path / "shot.png"
    seen = inspect_report(written_report.html, shot)
    assert problems(seen, figures=len(PLOTS)) == []
    assert seen["title"].startswith("scratchnn study") and {"summary", "twins"} <= set(seen["tables"])
    assert seen["images"][0]["alt"] == "Figure 1: Gap to torch.nn per epoch"
    assert all(image["decoded"] and image["shown"][0] >= 400 for image in seen["images"])
    with Image.open(shot) as image:
        assert image.size == (1280, 2400) and len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 100


def _break_an_image(html: str) -> str:
    """The second figure's PNG with its signature overwritten, as a damaged file: no browser can decode it."""
    data = DATA_URI.findall(html)[1]
    return html.replace(data, base64.b64encode(b"damaged!" + base64.b64decode(data)[8:]).decode())


BREAKAGES = {
    "broken image": (_break_an_image, "Figure 2: Loss curves per model did not decode"),
    "external image": (
        lambda html: html.replace("</main>", '<img src="https://example.com/x.png" alt="x"></main>'),
        "the page requested https://example.com/x.png",
    ),
    "squeezed figure": (
        lambda html: html.replace('<figure id="test_loss">', '<figure id="test_loss" style="width: 150px">'),
        "Figure 3: Test loss of all four models is laid out 150 px wide",
    ),
    "missing table": (lambda html: html.replace('<table id="twins">', "<table>"), "the twins table is missing"),
    "overflowing table": (
        lambda html: html.replace('<table id="twins">', '<table id="twins" style="width: 1500px">'),
        "the page is",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_copy_of_the_report_fails_the_check(browser, written_report, tmp_path, breakage):
    change, expected = BREAKAGES[breakage]
    copy = tmp_path / "report.html"
    copy.write_text(change(written_report.html.read_text(encoding="utf-8")), encoding="utf-8")
    found = problems(inspect_report(copy))
    assert any(problem.startswith(expected) for problem in found), found


def _screenshot_script(*args):
    return subprocess.run(
        [sys.executable, SCRIPTS / "screenshot_report.py", *map(str, args)], capture_output=True, text=True
    )


def test_screenshot_script_keeps_an_existing_png_without_force(written_report, tmp_path):
    out = tmp_path / "shot.png"
    out.write_bytes(b"kept")
    result = _screenshot_script(written_report.run_dir, out)
    assert result.returncode == 2 and "already exists; pass --force" in result.stderr
    assert out.read_bytes() == b"kept"
    missing = _screenshot_script(tmp_path / "no-run", tmp_path / "other.png")
    assert missing.returncode == 2 and "report.html does not exist" in missing.stderr


def test_screenshot_script_replaces_with_force_and_reports_what_it_saw(browser, written_report, tmp_path):
    out = tmp_path / "shot.png"
    out.write_bytes(b"old")
    result = _screenshot_script(written_report.run_dir, out, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(PLOTS)}/{len(PLOTS)} figures decoded" in result.stdout and "problem" not in result.stdout
    with Image.open(out) as image:
        assert image.size == (1280, 2400)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["shot.png"]  # no partial file left
