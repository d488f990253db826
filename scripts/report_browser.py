"""Open a study's ``report.html`` in headless Chromium through Playwright and say what a reader sees.

Used by ``scripts/screenshot_report.py`` and by the report tests. Playwright drives the system's Chromium as it is
(``executable_path``; nothing is downloaded). :func:`inspect_report` waits until every image has either decoded
or failed, then reads each figure's decoded and laid-out size, the page's tables and every request the page made;
:func:`problems` turns that into the list of things a reader would notice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

VIEWPORT = {"width": 1280, "height": 2400}
READABLE_WIDTH = 400  # px: a figure laid out narrower than this (or under 60 % of its own width) is unreadable
TABLES = ("summary", "twins")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Wait for every image to settle (decode() rejects for a broken one), then describe each as laid out.
_IMAGES = """async () => {
  const images = Array.from(document.images);
  const decoded = await Promise.allSettled(images.map((image) => image.decode()));
  return images.map((image, index) => {
    const box = image.getBoundingClientRect();
    return {alt: image.alt, decoded: decoded[index].status === "fulfilled" && image.naturalWidth > 0,
            natural: [image.naturalWidth, image.naturalHeight], shown: [box.width, box.height]};
  });
}"""


def find_chromium() -> str:
    """The Chromium to drive: ``$CHROMIUM`` if set, else the first of ``CANDIDATES`` on PATH."""
    for name in (os.environ.get("CHROMIUM"), *CANDIDATES):
        if name and shutil.which(name):
            return shutil.which(name)
    raise FileNotFoundError(f"no Chromium found: looked for $CHROMIUM and {', '.join(CANDIDATES)} on PATH")


def inspect_report(html: Path, screenshot: Path | None = None) -> dict:
    """Load ``html`` in a 1280×2400 window; return its title, images, table ids and external requests.

    With ``screenshot``, the window is saved there as PNG (written next to it first, then moved into place, so a
    failure leaves an existing file as it was).
    """
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium())
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            seen = {
                "title": page.title(),
                "images": page.evaluate(_IMAGES),
                "tables": page.eval_on_selector_all("table[id]", "tables => tables.map(t => t.id)"),
                "page_width": page.evaluate("document.documentElement.scrollWidth"),
            }
            if screenshot is not None:
                partial = Path(screenshot).with_suffix(".partial.png")
                page.screenshot(path=str(partial))
                partial.replace(screenshot)
        finally:
            browser.close()
    seen["external_requests"] = [url for url in requests if not url.startswith(("file:", "data:"))]
    return seen


def problems(seen: dict, figures: int | None = None) -> list[str]:
    """What a reader would notice: images that did not decode or are laid out too small, missing tables, a page
    wider than the window, requests to anywhere outside the page, and (given ``figures``) a number of figures other
    than expected."""
    found = []
    for image in seen["images"]:
        if not image["decoded"]:
            found.append(f"{image['alt'] or 'an image'} did not decode")
        elif (
            image["shown"][0] < min(READABLE_WIDTH, image["natural"][0])
            or image["shown"][0] < 0.6 * image["natural"][0]
        ):
            found.append(f"{image['alt']} is laid out {image['shown'][0]:.0f} px wide of its {image['natural'][0]}")
    found += [f"the {name} table is missing" for name in TABLES if name not in seen["tables"]]
    if seen["page_width"] > VIEWPORT["width"]:
        found.append(f"the page is {seen['page_width']} px wide, wider than the {VIEWPORT['width']} px window")
    found += [f"the page requested {url}" for url in seen["external_requests"]]
    if figures is not None and len(seen["images"]) != figures:
        found.append(f"{len(seen['images'])} figures instead of {figures}")
    return found
