"""Render the report's blocks as one self-contained HTML page.

Every image is embedded as a ``data:image/png;base64,...`` URI and the style sheet is inline: the page loads
nothing from anywhere, runs no script, and can be mailed or archived as a single file. All text goes through
:func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import struct

CSS = """
body { margin: 0; background: #fff; color: #1f2328; line-height: 1.5;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 16px 32px 48px; }
h1 { font-size: 1.9em; margin: 0.4em 0 0.5em; padding-bottom: 0.3em; border-bottom: 1px solid #d0d7de; }
h2 { font-size: 1.4em; margin-top: 1.8em; padding-bottom: 0.2em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: 0.8em 0 1.2em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 5px 12px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
table#summary td:first-child, table#twins td:first-child { font-weight: 600; white-space: nowrap; }
figure { margin: 1.2em 0 2.2em; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 0.5em; color: #57606a; font-size: 0.93em; }
"""


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its IHDR chunk (bytes 16 to 24)."""
    return struct.unpack(">II", png[16:24])


def _heading(block) -> str:
    return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"


def _paragraph(block) -> str:
    return f"<p>{html.escape(block.text)}</p>"


def _cells(tag: str, values: tuple[str, ...], numeric: bool) -> str:
    cells = []
    for index, value in enumerate(values):
        css = ' class="num"' if numeric and index > 0 else ""
        cells.append(f"<{tag}{css}>{html.escape(value)}</{tag}>")
    return "<tr>" + "".join(cells) + "</tr>"


def _table(block) -> str:
    ident = f' id="{html.escape(block.id)}"' if block.id else ""
    head = _cells("th", block.header, block.numeric)
    body = "\n".join(_cells("td", row, block.numeric) for row in block.rows)
    return f"<table{ident}>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _image(block) -> str:
    width, height = _png_size(block.png)
    data = base64.b64encode(block.png).decode("ascii")
    alt = html.escape(f"Figure {block.number}: {block.title}")
    label = html.escape(f"Figure {block.number}. {block.title}.")
    return (
        f'<figure id="{html.escape(block.name)}">\n'
        f'<img src="data:image/png;base64,{data}" alt="{alt}" width="{width}" height="{height}">\n'
        f"<figcaption><strong>{label}</strong> {html.escape(block.caption)}</figcaption>\n</figure>"
    )


RENDERERS = {"heading": _heading, "paragraph": _paragraph, "table": _table, "image": _image}


def render(blocks: list, title: str) -> str:
    """The whole page: ``<head>`` with the title and inline CSS, then every block in order."""
    body = "\n".join(RENDERERS[block.kind](block) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
