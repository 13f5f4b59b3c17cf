"""What every rule shares: findings, the interval verdict, and rows of metrics ("records").

A rule compares a printed value with a value recomputed from other printed values. Both are
intervals set by the printed digits (:mod:`covidnb.report.intervals`). The verdict is

- ``ok``: the intervals meet when the paper's numbers are read as rounded;
- ``note``: they meet only if the digits were truncated (cut) rather than rounded, or the row is
  consistent only under a reading the paper does not state;
- ``flag``: they do not meet under either convention — the printed numbers cannot all hold;
- ``skipped``: the rule could not be applied (says why).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pandas as pd

from covidnb.report.intervals import Interval, Printed, fmt_interval
from covidnb.report.load import Chapter

STATUSES = ("flag", "note", "ok", "skipped")
FIELDS = ["chapter", "table", "row", "column", "rule", "status", "printed", "recomputed",
          "difference", "message", "origin"]


@dataclass
class Finding:
    chapter: str
    table: str
    row: str
    column: str
    rule: str
    status: str
    printed: str
    recomputed: str
    difference: float | None
    message: str
    origin: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Verdict:
    status: str
    printed: Interval
    recomputed: Interval
    mode: str
    nominal_printed: float
    nominal_recomputed: float

    @property
    def difference(self) -> float:
        return self.nominal_printed - self.nominal_recomputed

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def recomputed_text(self, digits: int = 4, scale: float = 1.0) -> str:
        """The recomputed interval in the printed unit (``scale`` = printed unit → fraction)."""
        return fmt_interval(self.recomputed.scale(1.0 / scale), digits)


def _meets(p: Interval, r: Interval, relation: str) -> bool:
    if relation == "=":
        return p.overlaps(r)
    if relation == ">=":  # the text says the quantity is at least the printed value
        return r.hi >= p.lo - 1e-12
    if relation == "<=":
        return r.lo <= p.hi + 1e-12
    raise ValueError(f"unknown relation {relation!r}")


def judge(compute: Callable[[str], tuple[Interval, Interval]], first: str = "round",
          relation: str = "=") -> Verdict:
    """Verdict on ``compute(mode) -> (printed interval, recomputed interval)``.

    Tried with the chapter's convention (``first``) and then with "either" (rounded or
    truncated); the nominal values come from ``mode="exact"`` (the printed digits as points).
    """
    p_exact, r_exact = compute("exact")
    p, r = compute(first)
    if _meets(p, r, relation):
        return Verdict("ok", p, r, first, p_exact.mid, r_exact.mid)
    p2, r2 = compute("either")
    if _meets(p2, r2, relation):
        return Verdict("note", p2, r2, "either", p_exact.mid, r_exact.mid)
    return Verdict("flag", p, r, first, p_exact.mid, r_exact.mid)


TRUNCATION_NOTE = ("consistent only if the printed digits were truncated rather than rounded")


def verdict_sentence(status: str, flag: str, note: str = f"; {TRUNCATION_NOTE}.") -> str:
    """What a finding's message adds for its verdict: ``flag`` (why the values cannot all be
    right), ``note`` (consistent only with truncated digits), nothing when ``ok``."""
    return {"flag": flag, "note": note}.get(status, "")


def printed_of(cell) -> Printed:
    return Printed(str(cell["text"]), float(cell["scale"]), str(cell.get("sd_text", "") or ""))


@dataclass
class Record:
    """The printed metrics of one model under one condition, gathered across a chapter's tables."""

    chapter: str
    entity: str
    condition: str
    group: str
    datasets: tuple
    cells: pd.DataFrame

    def __post_init__(self):
        rows = [r for _, r in self.cells.iterrows()]
        self._index: dict[tuple[str, str], pd.Series] = {}
        for r in rows:
            self._index.setdefault((r["metric"], r["cls"]), r)
        self.tables = ", ".join(dict.fromkeys(r["label"] for r in rows))
        self.origin = "/".join(sorted({r["origin"] for r in rows}))
        runs = {r["n_runs"] for r in rows if r["n_runs"] is not None and not _isnan(r["n_runs"])}
        self.n_runs = int(runs.pop()) if len(runs) == 1 else None
        pos = {r["positive"] for r in rows if r["positive"]}
        self.positive = pos.pop() if len(pos) == 1 else ""

    @property
    def label(self) -> str:
        parts = [self.entity] + [p for p in (self.group, self.condition) if p]
        return " | ".join(parts)

    def get(self, metric: str, cls: str = ""):
        return self._index.get((metric, cls))

    def classes(self, metric: str) -> list[str]:
        return [c for (m, c) in self._index if m == metric]

    def average(self, metric: str) -> str:
        for (m, _), r in self._index.items():
            if m == metric:
                return str(r["average"] or "")
        return ""


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def records(chapter: Chapter) -> list[Record]:
    """Rows of metrics: result cells grouped by (entity, condition, group, datasets)."""
    c = chapter.cells
    c = c[(c.kind == "results") & ~c.summary & ~c.is_sd & c.text.astype(bool)]
    out = []
    for (entity, condition, group, datasets), cells in c.groupby(
            ["entity", "condition", "group", "datasets"], sort=False):
        out.append(Record(chapter.name, entity, condition, group, datasets, cells))
    return out


def finding(rule: str, verdict: Verdict | None, *, chapter: str, table: str, row: str,
            column: str, printed: str, message: str, origin: str, status: str | None = None,
            recomputed: str | None = None, digits: int = 4, scale: float = 1.0) -> Finding:
    """A :class:`Finding` from a verdict; recomputed value and difference in the printed unit."""
    return Finding(
        chapter=chapter, table=table, row=row, column=column, rule=rule,
        status=status or (verdict.status if verdict else "skipped"), printed=printed,
        recomputed=recomputed if recomputed is not None else (
            verdict.recomputed_text(digits, scale) if verdict else ""),
        difference=None if verdict is None else round(verdict.difference / scale, 6),
        message=message, origin=origin,
    )


def digits_of(text: str) -> int:
    """Digits to show a recomputed value beside a printed one: one more than printed."""
    return len(text.split(".")[-1]) + 1 if "." in text else 2
