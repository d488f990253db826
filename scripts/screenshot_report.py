"""Screenshot the top of a study's ``report.html`` (1280×2400 px) with headless Chromium, for the README.

It also checks what Chromium saw: every ``<img>`` decoded, every image in the window painted in the screenshot and
the summary table present; if not, it says so and exits with status 1. An existing ``OUT.png`` is replaced only
with ``--force``. Needs ``chromium`` (or ``chromium-browser`` / ``google-chrome``) on PATH. Runtime: about
3 s on 2 CPU cores.

Usage::

    python scripts/screenshot_report.py runs/compare-YYYYmmdd-HHMMSS docs/report.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scratchnn.study.browser import render_in_chromium


def main(argv: list[str] | None = None) -> int:
    """Take the screenshot; return the exit status (0 all good, 1 Chromium saw a problem, 2 bad arguments)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory of 'scratchnn compare' (holds report.html)")
    parser.add_argument("out_png", type=Path, help="where to write the PNG screenshot")
    parser.add_argument("--force", action="store_true", help="replace out_png if it exists")
    args = parser.parse_args(argv)
    report = args.run_dir / "report.html"
    if not report.is_file():
        print(f"error: {report} does not exist; pass a run directory of 'scratchnn compare'", file=sys.stderr)
        return 2
    if args.out_png.exists() and not args.force:
        print(f"error: {args.out_png} already exists; pass --force to replace it", file=sys.stderr)
        return 2
    try:
        seen = render_in_chromium(report, screenshot_path=args.out_png)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = "present" if seen["summary_table"] else "MISSING"
    print(
        f"{seen['title']}: {seen['images_loaded']}/{seen['images_total']} images loaded, "
        f"{seen['images_painted']}/{seen['images_visible']} in the window painted "
        f"({seen['screenshots']} screenshot(s)), summary table {table}"
    )
    print(seen["screenshot"])
    loaded = seen["images_total"] and seen["images_loaded"] == seen["images_total"]
    ok = seen["summary_table"] and loaded and seen["images_painted"] == seen["images_visible"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
