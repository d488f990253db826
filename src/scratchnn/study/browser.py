"""Open a report in headless Chromium: check what a browser really shows, and take a screenshot.

:func:`render_in_chromium` loads a temporary copy of the page, with a short probe script appended, through
``--dump-dom``; the probe writes onto ``<body>`` how many ``<img>`` the page has, how many of them decoded
(``complete`` and ``naturalWidth > 0``) and where each decoded one was laid out (its content box, inside any
padding and border), so a broken or external image shows up as a count that falls short. The report itself stays
script-free. The copy lives in a fresh temporary directory, so any image the page tried to load by a relative path
would fail there too.

The screenshot, when asked for, is taken of the original file in a window of the same size as the probe's, so the
probe's layout tells where each image must appear in it. Headless Chromium can capture a frame before every image
is rasterised (an image's box, or some tiles of it, are then left blank), so each visible image is checked in
bands of :data:`BAND` rows: a band that is one flat colour in the screenshot where the image itself has something
there (the image is decoded from its ``data:`` URI and scaled to its box) is unpainted; for an image from elsewhere,
only a whole box of one flat colour is. A screenshot with an unpainted image is taken again, up to ``attempts``
times in all. The check assumes an image fills its content box: one drawn smaller inside it (``object-fit:
contain``), or a flat-coloured image from elsewhere, counts as unpainted (the study's report has neither).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
    "--run-all-compositor-stages-before-draw",  # paint every image tile before the screenshot is taken
)
WINDOW = (1280, 2400)  # the probe's and the screenshot's window, in CSS pixels
BAND = 32  # rows of an image checked together for paint in a screenshot
FLAT, CONTENT = 2, 16  # grey-level ranges: at most FLAT is blank; above CONTENT the image shows something
PROBE = """<script>
(function () {
  function probe() {
    var images = Array.prototype.slice.call(document.images);
    var loaded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; });
    document.body.dataset.imagesTotal = images.length;
    document.body.dataset.imagesLoaded = loaded.length;
    document.body.dataset.imageBoxes = images.map(function (image, i) {
      image.dataset.probe = i;  // pairs this box with the image's src in the dumped DOM
      if (loaded.indexOf(image) < 0) { return "-"; }
      var box = image.getBoundingClientRect(), style = getComputedStyle(image);
      function px(name) { return parseFloat(style[name]) || 0; }
      var left = px("borderLeftWidth") + px("paddingLeft"), right = px("borderRightWidth") + px("paddingRight");
      var top = px("borderTopWidth") + px("paddingTop"), bottom = px("borderBottomWidth") + px("paddingBottom");
      return [box.left + window.scrollX + left, box.top + window.scrollY + top,
              box.width - left - right, box.height - top - bottom].map(Math.round).join(",");
    }).join(" ");
  }
  probe();
  window.addEventListener("load", probe);
})();
</script>
"""


def find_chromium() -> str:
    """The path of the first of ``chromium``, ``chromium-browser``, ``google-chrome(-stable)`` on ``PATH``.

    Raises:
        FileNotFoundError: none of them is installed.
    """
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"no Chromium on PATH (looked for {', '.join(BROWSERS)}); apt-get install chromium")


class _DomSummary(HTMLParser):
    """Collects the title, the number and ``src`` of ``<img>``, the table ids and the ``<body>`` attributes."""

    def __init__(self):
        super().__init__()
        self.title, self.images, self.sources, self.table_ids, self.body = "", 0, {}, [], {}
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images += 1
            if (attrs.get("data-probe") or "").isdigit():  # an image the probe laid out (not one in a <template>)
                self.sources[int(attrs["data-probe"])] = attrs.get("src") or ""
        elif tag == "table" and attrs.get("id"):
            self.table_ids.append(attrs["id"])
        elif tag == "body":
            self.body = attrs
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _run(command: list[str], timeout: float) -> str:
    """Run ``command`` in its own process group and return its stdout; the whole group dies on a timeout.

    Raises:
        TimeoutError: it ran longer than ``timeout`` seconds.
        RuntimeError: it exited with a non-zero status (the message ends with its stderr).
    """
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise TimeoutError(f"{command[0]} did not finish within timeout={timeout} s") from None
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited with status {process.returncode}: {stderr.strip()[-2000:]}")
    return stdout


def _chromium(browser: str, args: list[str], url: str, timeout: float) -> str:
    """Run Chromium once on ``url`` with a fresh, throw-away profile; return what it printed."""
    with tempfile.TemporaryDirectory(prefix="scratchnn-chromium-", ignore_cleanup_errors=True) as profile:
        return _run([browser, *FLAGS, f"--user-data-dir={profile}", *args, url], timeout)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _in_window(box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The part of a ``(left, top, width, height)`` box inside the window, as a ``(left, top, right, bottom)`` crop;
    ``None`` if no part is."""
    x, y, width, height = box
    crop = (max(x, 0), max(y, 0), min(x + width, WINDOW[0]), min(y + height, WINDOW[1]))
    return crop if crop[2] > crop[0] and crop[3] > crop[1] else None


def _decoded(source: str, box: tuple[int, int, int, int]):
    """The image of a ``data:image/...;base64,`` URI, greyscale, scaled to ``box`` and cut to the part of it inside
    the window; ``None`` for any other source."""
    from PIL import Image  # matplotlib's own dependency, imported only where used

    head, _, data = source.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        return None
    x, y, width, height = box
    left, top, right, bottom = _in_window(box)
    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            return image.convert("L").resize((width, height)).crop((left - x, top - y, right - x, bottom - y))
    except (ValueError, OSError):  # not base64, not an image, or truncated (UnidentifiedImageError is an OSError)
        return None


def _visible_images(dom: _DomSummary) -> list[tuple[tuple[int, int, int, int], str]]:
    """``(box, src)`` of each decoded image the probe laid out at least partly inside the window; ``box`` is
    ``(left, top, width, height)`` in page pixels."""
    boxes = (dom.body.get("data-image-boxes") or "").split()
    laid_out = [(tuple(map(int, box.split(","))), dom.sources.get(i, "")) for i, box in enumerate(boxes) if box != "-"]
    return [(box, source) for box, source in laid_out if _in_window(box)]


def _spread(image) -> int:
    """The range of grey levels in a greyscale image."""
    low, high = image.getextrema()
    return high - low


def _shows(shot, crop: tuple[int, int, int, int], expected) -> bool:
    """Whether ``shot`` shows an image at ``crop``: no band of it blank where ``expected`` (the image as cut to
    ``crop``, or ``None`` if unknown) has something; with no ``expected``, the crop is not all blank."""
    shown = shot.crop(crop)
    if expected is None:
        return _spread(shown) > FLAT
    for top in range(0, shown.height, BAND):
        band = (0, top, shown.width, min(top + BAND, shown.height))
        if _spread(shown.crop(band)) <= FLAT and _spread(expected.crop(band)) > CONTENT:
            return False
    return True


def _painted(screenshot: Path, images: list) -> int:
    """How many of ``images`` (``(crop, expected)`` pairs, see :func:`_shows`) show in ``screenshot``."""
    from PIL import Image

    with Image.open(screenshot) as image:
        shot = image.convert("L")
    return sum(_shows(shot, crop, expected) for crop, expected in images)


def render_in_chromium(
    html_path: str | os.PathLike,
    screenshot_path: str | os.PathLike | None = None,
    timeout: float = 60,
    attempts: int = 3,
) -> dict:
    """Load an HTML file in headless Chromium and report what it rendered.

    Args:
        html_path: the page to open.
        screenshot_path: where to save a 1280×2400 PNG screenshot of the page's top (a file already there is
            replaced once the new one is finished); ``None`` (default) takes none.
        timeout: seconds allowed to each Chromium run. Default: 60.
        attempts: screenshots taken at most, while some visible image does not show in the last. Default: 3.

    Returns:
        A dict: ``title`` (the page's ``<title>``), ``img_tags`` (``<img>`` elements in the DOM),
        ``images_total`` and ``images_loaded`` (what the probe counted; ``None`` if it did not run),
        ``summary_table`` (whether a ``<table id="summary">`` is present), ``table_ids``, ``screenshot`` (the
        saved path or ``None``), ``images_visible`` (decoded images laid out at least partly inside the
        screenshot's window), ``images_painted`` (how many of those show in the kept screenshot, as the
        module's note explains; ``None`` without one), ``screenshots`` (how many were taken) and ``browser``
        (the executable used).

    Raises:
        FileNotFoundError: ``html_path`` does not exist, or no Chromium is installed.
        ValueError: ``attempts`` is below 1.
        TimeoutError, RuntimeError: Chromium hung or failed.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"html_path={str(html_path)!r} is not a file")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got attempts={attempts}")
    browser = find_chromium()
    window = f"--window-size={WINDOW[0]},{WINDOW[1]}"
    with tempfile.TemporaryDirectory(prefix="scratchnn-probe-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(html_path.read_text(encoding="utf-8") + PROBE, encoding="utf-8")
        dom = _DomSummary()
        dom.feed(_chromium(browser, ["--dump-dom", window], probe.as_uri(), timeout))
    visible = _visible_images(dom)
    painted, screenshots = None, 0
    if screenshot_path is not None:
        images = [(_in_window(box), _decoded(source, box)) for box, source in visible]
        screenshot_path = Path(screenshot_path).resolve()
        screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        # Shots go to a scratch directory beside the target, which is replaced only by a finished one.
        with tempfile.TemporaryDirectory(prefix=".scratchnn-shot-", dir=screenshot_path.parent) as tmp:
            while screenshots < attempts and painted != len(visible):
                shot = Path(tmp) / f"shot{screenshots}.png"
                _chromium(browser, [f"--screenshot={shot}", window], html_path.as_uri(), timeout)
                screenshots += 1
                if not shot.is_file():
                    raise RuntimeError(f"{browser} exited without writing the screenshot {screenshot_path}")
                painted = _painted(shot, images)
            os.replace(shot, screenshot_path)
    return {
        "title": dom.title.strip(),
        "img_tags": dom.images,
        "images_total": _int_or_none(dom.body.get("data-images-total")),
        "images_loaded": _int_or_none(dom.body.get("data-images-loaded")),
        "summary_table": "summary" in dom.table_ids,
        "table_ids": dom.table_ids,
        "screenshot": str(screenshot_path) if screenshot_path is not None else None,
        "images_visible": len(visible),
        "images_painted": painted,
        "screenshots": screenshots,
        "browser": browser,
    }
