"""The harness's report: one row per check, printable as a table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class CheckRow:
    """One comparison: which layer, which backward engine, what was checked, and how far apart the two were."""

    layer: str
    engine: str
    check: str
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    detail: str = ""


@dataclass
class Report:
    """All rows of one or more ``check_layer`` runs. ``bool(report)`` is True only when every row passed."""

    rows: list[CheckRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if not row.passed]

    def __bool__(self) -> bool:
        return self.passed

    def extend(self, other: Report) -> None:
        self.rows.extend(other.rows)

    def summary(self) -> str:
        n, bad = len(self.rows), len(self.failures)
        return f"{n} checks, all passed" if not bad else f"{bad} of {n} checks FAILED"

    def format(self) -> str:
        """A fixed-width table, failing rows marked ``FAIL`` with the reason, then the summary line."""
        header = ("layer", "engine", "check", "result", "max abs err", "max rel err")
        body = [
            (r.layer, r.engine, r.check, "pass" if r.passed else "FAIL", _num(r.max_abs), _num(r.max_rel))
            for r in self.rows
        ]
        widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=True)]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *body)
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for i, r in enumerate(self.rows):
            if r.detail and not r.passed:
                lines[i + 2] += f"  <- {r.detail}"
        return "\n".join([*lines, "", self.summary()])

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
    """Max absolute and max relative difference (relative to ``|expected|``) in float64."""
    if actual.shape != expected.shape or actual.numel() == 0:
        return (0.0, 0.0) if actual.shape == expected.shape else (math.nan, math.nan)
    a, e = actual.detach().double(), expected.detach().double()
    diff = (a - e).abs()
    both_inf = torch.isinf(a) & torch.isinf(e) & (a == e)
    diff = torch.where(both_inf | (torch.isnan(a) & torch.isnan(e)), 0.0, diff)
    rel = diff / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    rel = torch.where(diff == 0, 0.0, rel)
    return diff.max().item(), rel.max().item()
