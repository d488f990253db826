"""The study report: files written, self-contained HTML, the numbers in its tables, escaping, and a real browser."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from scratchnn.study import write_report
from scratchnn.study.browser import find_chromium, render_in_chromium

MODELS = ("cnn-scratch", "cnn-torch", "mlp-scratch", "mlp-torch")
PLOTS = {
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


def test_twin_section_shows_the_gaps_and_what_they_mean(written_report):
    html = written_report.html.read_text(encoding="utf-8")
    assert "<h2>scratch vs torch.nn</h2>" in html
    rows = {row[0]: row for row in _tables(html)["twins"][1:]}
    for arch, gap in written_report.result["twin_gap"].items():
        assert rows[arch][1:] == [
            f"{gap['max_test_loss_gap']:.2e}",
            f"{gap['max_train_loss_gap']:.2e}",
            f"{100 * gap['max_test_accuracy_gap']:.2f} pp",
            f"{gap['final_max_param_diff']:.2e}",
        ]
    assert "up to rounding" in html


def test_both_reports_carry_config_environment_and_attribution(written_report):
    for path in (written_report.html, written_report.md):
        text = path.read_text(encoding="utf-8")
        for needle in ("lr.cnn-scratch", "2.13.0", "2026-11-25T14:00:00", "embedded 10k MNIST subset"):
            assert needle in text.replace("\\", ""), (path.name, needle)
        assert "Yann LeCun, Corinna Cortes and Christopher J.C. Burges" in text
        assert "CC BY-SA 3.0" in text
        assert text.count("Figure 7.") >= 1 and "Figure 8." not in text


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
    assert "Figure 5. Label distribution." in md_path.read_text(encoding="utf-8")


def test_find_chromium_names_what_it_looked_for(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(FileNotFoundError, match="chromium-browser"):
        find_chromium()


@pytest.fixture
def chromium():
    try:
        return find_chromium()
    except FileNotFoundError:
        pytest.skip("chromium not installed: apt-get install chromium")


def test_chromium_loads_every_image_and_the_summary(chromium, written_report, tmp_path):
    shot = tmp_path / "shot.png"
    seen = render_in_chromium(written_report.html, screenshot_path=shot)
    assert seen["img_tags"] == seen["images_total"] == seen["images_loaded"] == len(PLOTS)
    assert seen["summary_table"] and seen["title"].startswith("scratchnn study")
    assert seen["screenshot"] == str(shot) and shot.stat().st_size > 20_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 100
        bottom = image.convert("L").crop((0, 2300, 1280, 2400))  # the page runs on: painted to the last row
        assert bottom.getextrema()[0] < 200


def test_chromium_probe_counts_images_that_fail(chromium, written_report, tmp_path):
    good = base64.b64encode((written_report.run_dir / "plots" / "filters.png").read_bytes()).decode()
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        f'<img src="data:image/png;base64,{good}"><img src="data:image/png;base64,AAAA">'
        '<img src="plots/filters.png"></body></html>',
        encoding="utf-8",
    )
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "filters.png").write_bytes(base64.b64decode(good))
    seen = render_in_chromium(page)
    assert seen["img_tags"] == seen["images_total"] == 3 and seen["images_loaded"] == 1
    assert not seen["summary_table"] and seen["title"] == "t"
