"""Screenshot the top of a study's ``report.html`` (1280×2400 px) with headless Chromium, for the README.

It also checks what a reader sees (:mod:`report_browser`): every figure decoded and laid out at a readable size,
the summary and gap tables present, no request outside the page; if not, it lists the problems and exits with
status 1. An existing ``OUT.png`` is replaced only with ``--force``. Needs the ``playwright`` Python package and
Chromium (``chromium``, ``chromium-browser`` or ``google-chrome`` on PATH, or ``$CHROMIUM``). Runtime: a few
seconds.

Usage::

    python scripts/screenshot_report.py runs/YYYYmmdd-HHMMSS-compare docs/report-screenshot.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from report_browser import inspect_report, problems  # this script's directory is first on sys.path


def main(argv: list[str] | None = None) -> int:
    """Take the screenshot; return the exit status (0 all good, 1 the page has problems, 2 bad arguments)."""
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
        seen = inspect_report(report, screenshot=args.out_png)
    except (FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    decoded = sum(image["decoded"] for image in seen["images"])
    print(f"{seen['title']}: {decoded}/{len(seen['images'])} figures decoded, tables: {', '.join(seen['tables'])}")
    found = problems(seen)
    for problem in found:
        print(f"problem: {problem}")
    print(args.out_png)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
