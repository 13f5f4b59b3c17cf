"""The unit of a column: what its header says against what its values are.

A percentage column whose values all lie in [0, 1], a fraction column with values above 1, or a
header unit that contradicts the values (PEPX-ResNet's "Precious (%)" holding 0.85) is flagged:
a reader copying the header would misread every value by a factor of 100.
"""

from __future__ import annotations

from covidnb.report.load import Chapter
from covidnb.report.rules.base import Finding

RULE = "unit"


def unit_problem(unit: str, header_unit: str | None, values: list[float]) -> str | None:
    """Why the printed unit and the values disagree, or ``None`` when they agree."""
    if not values:
        return None
    hi = max(abs(v) for v in values)
    if header_unit and header_unit != unit:
        return (f"the header says {header_unit} but the values ({min(values):g} to {hi:g}) are "
                f"{'fractions' if unit == 'fraction' else unit}")
    if unit == "%" and hi <= 1.0:
        return f"declared %, but every value is at most 1 ({hi:g}): they look like fractions"
    if unit == "fraction" and hi > 1.0:
        return f"declared a fraction, but a value is {hi:g}"
    return None


def rule_units(chapter: Chapter) -> list[Finding]:
    """One finding per results table whose columns carry a unit worth checking."""
    out = []
    c = chapter.cells
    rates = ["accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc"]
    for t in chapter.tables.values():
        if t.spec.kind != "results":
            continue
        problems, checked = [], []
        for col, spec in t.spec.columns.items():
            if spec.sd_of:
                continue
            cells = c[(c.table == t.spec.id) & (c.column == col) & c.text.astype(bool)]
            cells = cells[cells.metric.isin(rates)]
            if cells.empty:
                continue
            unit = cells.iloc[0]["unit"]
            header = spec.header_unit or t.spec.header_unit
            if not header and unit != "%":
                continue
            checked.append(col)
            problem = unit_problem(unit, header, list(cells["value"]))
            if problem:
                problems.append(f"{col}: {problem}")
        if not checked:
            continue
        header = t.spec.header_unit or "%"
        msg = "; ".join(problems) if problems else f"values agree with the unit ({', '.join(checked)})"
        if problems and t.spec.unit_note:
            msg += f" [{t.spec.unit_note}]"
        unit = t.spec.defaults.get("unit") or "%"
        out.append(Finding(chapter.name, t.spec.label, "(all rows)", ", ".join(checked), RULE,
                           "flag" if problems else "ok", header, unit, None, msg, ""))
    return out
