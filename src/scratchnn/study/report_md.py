"""Render the report's blocks as GitHub-flavoured markdown that shows ``plots/<name>.png`` from the run directory.

Text is made inert twice: :func:`html.escape` for the raw HTML GitHub would otherwise pass through, then a
backslash before every markdown control character, so a config value never turns into markup.
"""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_\[\]|#])")


def _text(text: str) -> str:
    """``text`` shown literally: markdown control characters backslash-escaped, then HTML ones as entities."""
    return html.escape(_MARKDOWN.sub(r"\\\1", text), quote=False)


def _heading(block) -> str:
    return f"{'#' * block.level} {_text(block.text)}"


def _paragraph(block) -> str:
    return _text(block.text)


def _row(values: tuple[str, ...]) -> str:
    return "| " + " | ".join(_text(value) for value in values) + " |"


def _table(block) -> str:
    rule = ["---"] + [("---:" if block.numeric else "---")] * (len(block.header) - 1)
    lines = [_row(block.header), "| " + " | ".join(rule) + " |"]
    lines.extend(_row(row) for row in block.rows)
    return "\n".join(lines)


def _image(block) -> str:
    label = f"Figure {block.number}. {block.title}."
    return f"![{_text(label)}](plots/{block.name}.png)\n\n*{_text(label)}* {_text(block.caption)}"


RENDERERS = {"heading": _heading, "paragraph": _paragraph, "table": _table, "image": _image}


def render(blocks: list) -> str:
    """The whole document, blocks separated by blank lines."""
    return "\n\n".join(RENDERERS[block.kind](block) for block in blocks) + "\n"
