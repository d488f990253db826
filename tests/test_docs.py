"""The documentation (README.md and docs/*.md): facts about the software, links that resolve, code that runs.

The Python blocks themselves run as tests of their own: pytest-markdown-docs collects README.md and docs/ (see
``testpaths`` and ``--markdown-docs`` in pyproject.toml). These tests check what that cannot.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# ---- PENDING: documentation being written in parallel. The lead empties both sets when the work is merged. ----
# Pages that README.md or docs/ link to but that are not in this checkout yet: links to them are not checked.
PENDING_PAGES: set[str] = set()
# Python blocks fenced ```python notest because the API they show is not in this checkout yet, by a name each
# uses. At merge: change their fence to ```python (so that they run) and remove the name here.
PENDING_BLOCKS: set[str] = set()
# ----------------------------------------------------------------------------------------------------------------

FORBIDDEN = {
    "session": re.compile(r"session", re.IGNORECASE),
    "issue #": re.compile(r"issue #", re.IGNORECASE),
    "not kept": re.compile(r"not kept", re.IGNORECASE),
    # 7 to 40 hex digits with at least one digit and one letter, as an abbreviated or full commit hash
    "a commit hash": re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"),
}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _fences(path: Path) -> list:
    return [t for t in MarkdownIt("commonmark").parse(path.read_text("utf8")) if t.type == "fence"]


def _python_fences(path: Path) -> list:
    return [t for t in _fences(path) if t.info.split()[:1] in (["python"], ["py"], ["python3"])]


def test_the_pages_exist():
    assert (ROOT / "README.md").is_file()
    assert {"tutorial-your-own-layer.md", "backward-derivations.md", "performance.md"} <= {p.name for p in DOCS}


@pytest.mark.parametrize("path", DOCS, ids=_name)
@pytest.mark.parametrize("what", list(FORBIDDEN))
def test_no_development_history(path, what):
    """The docs state facts about the software: no sessions, issue numbers, commit hashes or lost runs."""
    hits = [
        f"line {n}: {line.strip()}"
        for n, line in enumerate(path.read_text("utf8").splitlines(), 1)
        if FORBIDDEN[what].search(line)
    ]
    assert not hits, f"{_name(path)} mentions {what}:\n" + "\n".join(hits)


def test_the_hash_pattern_tells_hashes_from_words_and_numbers():
    pattern = FORBIDDEN["a commit hash"]
    assert pattern.search("measured at 25e9ee4") and pattern.search("commit 8b44aea1c0ffee")
    assert not pattern.search("deadbee faced decade 1234567 0.00e+00 float16 sha256")


@pytest.mark.parametrize("path", DOCS, ids=_name)
def test_relative_links_resolve(path):
    """Every relative link and image in README.md and docs/ points at a file of this checkout."""
    broken = []
    for target in LINK.findall(path.read_text("utf8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):  # http:, https:, mailto:, anchors
            continue
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        name = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
        if not resolved.exists() and name not in PENDING_PAGES:
            broken.append(target)
    assert not broken, f"{_name(path)} links to missing files: {broken}"


def test_the_link_pattern_finds_links_and_images():
    text = 'see [the tutorial](docs/a.md#top), ![shot](docs/s.png "title") and [site](https://x.org)'
    assert LINK.findall(text) == ["docs/a.md#top", "docs/s.png", "https://x.org"]


@pytest.mark.parametrize("path", DOCS, ids=_name)
def test_python_blocks_are_not_skipped(path):
    """A Python block that is not run is allowed only while the API it shows is pending (see PENDING_BLOCKS)."""
    skipped = [t for t in _python_fences(path) if "notest" in t.info.split()]
    unexplained = [t.content.splitlines()[0] for t in skipped if not any(n in t.content for n in PENDING_BLOCKS)]
    assert not unexplained, f"{_name(path)} has Python blocks that never run: {unexplained}"


def test_every_python_block_is_collected_by_the_test_suite():
    """pytest, as configured for ``make test``, collects one test per Python block of README.md and docs/."""
    expected = {
        _name(p): len([t for t in _python_fences(p) if "notest" not in t.info.split()]) for p in DOCS if p.exists()
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "README.md", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    collected = dict.fromkeys(expected, 0)
    for line in run.stdout.splitlines():
        if "::[CodeFence#" in line:
            file = line.split("::", 1)[0]
            collected[file] = collected.get(file, 0) + 1
    assert collected == expected
    assert sum(expected.values()) >= 10  # the tutorials have code: this is not comparing zero with zero
