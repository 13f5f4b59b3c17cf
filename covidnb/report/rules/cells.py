"""Printed cells picked by a selector, as intervals (shared by summary, same-quantity and quote rules)."""

from __future__ import annotations

from dataclasses import dataclass

from covidnb.report.intervals import Interval, Printed
from covidnb.report.load import MISSING, Chapter, Table, cell_text, select
from covidnb.report.rules.aggregate import combine
from covidnb.report.schema import UNITS


def cell_scale(table: Table, column: str) -> float:
    base = column.removesuffix(" ±")
    spec = table.spec.columns.get(base)
    if spec is not None and spec.sd_of:
        spec = table.spec.columns.get(spec.sd_of, spec)
    unit = (spec.attrs.get("unit") if spec else None) or table.spec.defaults.get("unit")
    return UNITS[unit]


def cell_mode(table: Table, mode: str) -> str:
    """Counts are exact integers; every other printed number stands for an interval."""
    return "exact" if table.spec.kind == "counts" else mode


@dataclass
class Picked:
    """A selected value: the printed text(s), the interval they allow and where they stand."""

    key: str
    text: str
    row: str
    column: str
    printed: list[Printed]
    table: Table

    @property
    def where(self) -> str:
        return f"{self.row} / {self.column}"

    def iv(self, mode: str, stat: str | None = None) -> Interval:
        m = cell_mode(self.table, mode)
        ivs = [p.iv(m) for p in self.printed]
        return combine(stat, ivs) if stat else ivs[0]


def _joined(labels: list[str], stat: str) -> str:
    labels = list(dict.fromkeys(labels))
    if len(labels) == 1:
        return labels[0]
    return " + ".join(labels) if stat == "sum" else f"{stat}({'; '.join(labels)})"


def pick(chapter: Chapter, sel: dict, *, row=None, column=None) -> list[Picked] | None:
    """Cells of a selector ``{table, row, column, stat}``; ``None`` when one is not printed.

    With ``stat`` the cells are combined into one :class:`Picked` — per row when several rows
    and several columns are selected (e.g. female + male per row), over all cells otherwise.
    """
    t = chapter.table(sel["table"])
    row = sel.get("row") if row is None else row
    column = sel.get("column") if column is None else column
    chosen = select(t, row, column, sel.get("stat"))
    out = []
    for key, r, c in chosen:
        text = cell_text(t, r, c)
        if text in MISSING:
            return None
        out.append(Picked(key, text, r, c, [Printed(text, cell_scale(t, c))], t))
    stat = sel.get("stat")
    if not stat:
        return out
    rows = list(dict.fromkeys(p.row for p in out))
    cols = list(dict.fromkeys(p.column for p in out))
    groups = {r: [p for p in out if p.row == r] for r in rows} \
        if len(rows) > 1 and len(cols) > 1 else {"": out}
    return [Picked(key, " ".join(p.text for p in ps), _joined([p.row for p in ps], stat),
                   _joined([p.column for p in ps], stat), [q for p in ps for q in p.printed], t)
            for key, ps in groups.items()]
