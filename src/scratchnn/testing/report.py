"""The harness's report: one row per check, printable as a table."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
from torch import Tensor

REASON_LIMIT = 400  # characters; a longer reason is cut at a sentence end, or failing that at a word


@dataclass(frozen=True)
class CheckRow:
    """One comparison: which layer, which backward engine, what was checked, and how far apart the two were.

    ``status`` is ``'pass'``, ``'FAIL'``, or for a row that says nothing about the candidate, ``'skip'`` (a tool
    is missing) or ``'n/a'`` (the reference does not support the feature either); only ``'FAIL'`` fails.
    """

    layer: str
    engine: str
    check: str
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    detail: str = ""
    status: str = ""

    @property
    def result(self) -> str:
        return self.status or ("pass" if self.passed else "FAIL")


@dataclass(repr=False)
class Report:
    """All rows of one or more ``check_layer`` runs.

    ``report.passed`` (and ``bool(report)``, so that ``assert check_layer(...)`` reads naturally) is True only
    when every row passed; ``report.failures`` lists the failing rows; ``report.format()`` is the table.
    """

    rows: list[CheckRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if not row.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        """``Report(14 checks, 9 FAILED: forward [batched], grad input [batched], ...)``."""
        bad = self.failures
        if not bad:
            return f"Report({len(self.rows)} checks, all passed)"
        several = len({row.layer for row in self.rows}) > 1
        names = list(dict.fromkeys(f"{r.layer}: {r.check}" if several else r.check for r in bad))
        shown = ", ".join(names[:4]) + (f", ... ({len(names) - 4} more)" if len(names) > 4 else "")
        return f"Report({len(self.rows)} checks, {len(bad)} FAILED: {shown})"

    def extend(self, other: Report) -> None:
        self.rows.extend(other.rows)

    def summary(self) -> str:
        n, bad = len(self.rows), len(self.failures)
        quiet = sum(row.status in ("skip", "n/a") for row in self.rows)
        aside = f" ({quiet} skipped or unsupported by both)" if quiet else ""
        return f"{n} checks, all passed{aside}" if not bad else f"{bad} of {n} checks FAILED{aside}"

    def format(self, failures_only: bool = False) -> str:
        """A fixed-width table, failing rows marked ``FAIL`` with the reason, then the summary line.

        Args:
            failures_only: list only the failing rows (the summary line then says so).
        """
        rows = self.failures if failures_only else self.rows
        header = ("layer", "engine", "check", "result", "max abs err", "max rel err")
        body = [(r.layer, r.engine, r.check, r.result, _num(r.max_abs), _num(r.max_rel)) for r in rows]
        widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=True)]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *body)
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for i, r in enumerate(rows):
            if r.detail and (not r.passed or r.status):
                lines[i + 2] += f"  <- {r.detail}"
        summary = self.summary()
        if failures_only and len(rows) < len(self.rows):
            summary += (
                "; only the failing row is shown"
                if len(rows) == 1
                else f"; only the {len(rows)} failing rows are shown"
            )
        return "\n".join([*lines, "", summary])

    def format_compact(self) -> str:
        """One row per (layer, engine): how many checks passed, the worst errors, and the failing checks."""
        groups: dict[tuple[str, str], list[CheckRow]] = {}
        for row in self.rows:
            key = (row.layer, row.engine if row.engine != "-" else "")
            groups.setdefault(key, []).append(row)
        merged = Report()
        for (layer, engine), rows in groups.items():
            if not engine and len(groups) > 1 and any(k[0] == layer and k[1] for k in groups):
                engine = "(setup)"
            bad = [r for r in rows if not r.passed]
            detail = "; ".join(f"{r.check}: {r.detail}" for r in bad[:3])
            merged.rows.append(
                CheckRow(
                    layer,
                    engine or "-",
                    f"{len(rows) - len(bad)}/{len(rows)} checks",
                    not bad,
                    max((r.max_abs for r in rows if not math.isnan(r.max_abs)), default=math.nan),
                    max((r.max_rel for r in rows if not math.isnan(r.max_rel)), default=math.nan),
                    detail,
                )
            )
        table = merged.format().rsplit("\n", 1)[0]
        return f"{table}\n{self.summary()}"

    def __str__(self) -> str:
        return self.format()


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2e}"


def errors(actual: Tensor, expected: Tensor) -> tuple[float, float]:
    """Max absolute and max relative difference (relative to ``|expected|``) in float64; NaN against a number
    counts as infinitely far."""
    if actual.shape != expected.shape or actual.numel() == 0:
        return (0.0, 0.0) if actual.shape == expected.shape else (math.nan, math.nan)
    a, e = actual.detach().double(), expected.detach().double()
    diff = (a - e).abs()
    both_inf = torch.isinf(a) & torch.isinf(e) & (a == e)
    diff = torch.where(both_inf | (torch.isnan(a) & torch.isnan(e)), 0.0, diff)
    diff = torch.where(torch.isnan(diff), math.inf, diff)  # NaN on one side only: as far apart as can be
    rel = diff / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    rel = torch.where(diff == 0, 0.0, rel)
    return diff.max().item(), rel.max().item()


_DUMP = re.compile(r"^(numerical|analytical)\s*:|^tensor\(|^\[|^-{3,}|^Traceback|^File \"|^Set TORCH")


def reason(e: BaseException) -> str:
    """One line that says why: ``Type: message``, the message's first paragraph joined (a tensor dump or a
    traceback after it is dropped); for assert_close, its ``Mismatched elements: k / n`` line."""
    lines = [line.strip() for line in str(e).strip().splitlines()]
    mismatch = [line for line in lines if line.startswith("Mismatched elements")]
    if mismatch:
        return mismatch[0]
    kept: list[str] = []
    for line in lines:
        if not line or _DUMP.match(line):
            if kept:
                break
            continue
        kept.append(line)
    text = " ".join(kept).rstrip(",;: ")
    return f"{type(e).__name__}: {shorten(text)}" if text else type(e).__name__


def shorten(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` if short enough, else cut after its last full sentence within ``limit`` (or at a word)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("; "))
    if end > limit // 3:
        return head[: end + 1] + " [...]"
    return head.rsplit(" ", 1)[0] + " [...]"
