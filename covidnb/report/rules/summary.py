"""A printed mean, total or difference against the cells it summarises.

Covers summary rows (``AUC(Mean)``, ``Total``), summary columns (``Total``), derived columns
(Hu et al. Table 6 prints each sensitivity's change from the standard split in brackets) and
chapter-level summaries across tables (a mean in a table against values listed in the text).
The mean of printed values is known to within the mean of their intervals; counts are exact.
"""

from __future__ import annotations

from covidnb.report.intervals import Printed, fmt_interval
from covidnb.report.load import MISSING, ROW_SEP, Chapter, Table, cell_text
from covidnb.report.rules.aggregate import combine
from covidnb.report.rules.base import Finding, digits_of, judge
from covidnb.report.rules.cells import cell_scale, pick

RULE = "summary"
WORD = {"sum": "sum", "mean": "mean", "sd": "sample SD", "max": "maximum", "min": "minimum",
        "difference": "difference"}


def check_summary(printed: Printed, parts: list[Printed], stat: str, first: str = "round",
                  exact: bool = False):
    """Verdict on a printed summary value against ``stat`` of the printed parts."""

    def compute(mode):
        m = "exact" if exact else mode
        return printed.iv(m), combine(stat, [p.iv(m) for p in parts])

    return judge(compute, first)


def _origin(table: Table, rows: list[str]) -> str:
    idx = [table.labels().index(r) for r in rows]
    origins = {table.rows[i].get("origin") or table.spec.defaults.get("origin") or "" for i in idx}
    return "/".join(sorted(o for o in origins if o))


def _finding(chapter, table, row, column, stat, printed, parts, what, origin):
    exact = table.spec.kind == "counts"
    v = check_summary(printed, parts, stat, chapter.spec.rounding, exact)
    d = digits_of(printed.text) if not exact else 0
    rec = fmt_interval(v.recomputed.scale(1 / printed.scale), d) if not exact else f"{v.recomputed.mid:g}"
    msg = f"printed {printed.text}; the {WORD[stat]} of {what} is {rec}"
    if v.status == "flag":
        msg += ". The printed summary is not the " + WORD[stat] + " of the cells it stands for."
    elif v.status == "note":
        msg += "; consistent only if the printed digits were truncated rather than rounded."
    return Finding(chapter.name, table.spec.label, row, column, RULE, v.status, printed.text,
                   rec, round(v.difference / printed.scale, 6), msg, origin)


def _hints(t: Table, label: str, col: str, stat: str, members: list[str], printed: Printed,
           exact: bool) -> str:
    """Facts that may explain a flagged summary row: how far the cells are off in total,
    another column whose summary equals the printed value, a value repeated in the column."""
    sc = printed.scale
    texts = [cell_text(t, m, col) for m in members]
    mode = "exact" if exact else "round"
    hints = []
    total = sum(float(x) for x in texts)
    if stat == "mean":
        need = float(printed.text) * len(texts)
        hints.append(f"the {len(texts)} cells sum to {total:.4f}; the printed mean needs "
                     f"{need:.4f}, i.e. one cell off by {need - total:+.4f}")
    for other in t.value_columns:
        if other == col or t.is_sd(other):
            continue
        ot = [cell_text(t, m, other) for m in members]
        if any(x in MISSING for x in ot):
            continue
        iv = combine(stat, [Printed(x, sc).iv(mode) for x in ot])
        if iv.overlaps(printed.iv(mode)):
            hints.append(f"the printed value is the {WORD[stat]} of column {other!r}")
    repeated = sorted({x for x in texts if texts.count(x) > 1})
    for x in repeated:
        rows = [m for m, y in zip(members, texts) if y == x]
        hints.append(f"{x} is printed in rows {', '.join(rows)} of this column")
    return ("; " + "; ".join(hints)) if hints else ""


def _table_rows(chapter: Chapter, t: Table) -> list[Finding]:
    out = []
    labels = t.labels()
    for label in labels:
        if not t.is_summary(label):
            continue
        stat = t.spec.summary_rows[label.split(ROW_SEP)[-1]]
        prefix = label.rsplit(ROW_SEP, 1)[0] if ROW_SEP in label else None
        members = [l for l in labels if not t.is_summary(l) and
                   (prefix is None or l.rsplit(ROW_SEP, 1)[0] == prefix)]
        for col in t.value_columns + [c for c in t.header if c.endswith(" ±")]:
            text = cell_text(t, label, col)
            texts = [cell_text(t, m, col) for m in members]
            if text in MISSING or any(x in MISSING for x in texts):
                continue
            sc = cell_scale(t, col)
            f = _finding(chapter, t, label, col, stat, Printed(text, sc),
                         [Printed(x, sc) for x in texts], f"the {len(members)} rows above",
                         _origin(t, [label]))
            if f.status == "flag":
                f.message += _hints(t, label, col, stat, members, Printed(text, sc),
                                    t.spec.kind == "counts")
            out.append(f)
    return out


def _table_columns(chapter: Chapter, t: Table) -> list[Finding]:
    out = []
    parts_cols = [c for c in t.value_columns if c not in t.spec.summary_columns and not t.is_sd(c)]
    for col, stat in t.spec.summary_columns.items():
        for label in t.labels():
            text = cell_text(t, label, col)
            texts = [cell_text(t, label, c) for c in parts_cols]
            if text in MISSING or any(x in MISSING for x in texts):
                continue
            sc = cell_scale(t, col)
            out.append(_finding(chapter, t, label, col, stat, Printed(text, sc),
                                [Printed(x, sc) for x in texts], ", ".join(parts_cols),
                                _origin(t, [label])))
    return out


def _derived(chapter: Chapter, t: Table) -> list[Finding]:
    out = []
    for col, spec in t.spec.columns.items():
        if not spec.derived:
            continue
        src, ref = spec.derived["column"], spec.derived["reference_row"]
        ref_text = cell_text(t, ref, src)
        for label in t.labels():
            text, base = cell_text(t, label, col), cell_text(t, label, src)
            if label == ref or text in MISSING or base in MISSING or ref_text in MISSING:
                continue
            sc = cell_scale(t, src)
            out.append(_finding(chapter, t, label, col, "difference", Printed(text, sc),
                                [Printed(base, sc), Printed(ref_text, sc)],
                                f"{src} here ({base}) and in row {ref} ({ref_text})",
                                _origin(t, [label])))
    return out


def _chapter_summaries(chapter: Chapter) -> list[Finding]:
    out = []
    for s in chapter.spec.summaries:
        target = pick(chapter, s["target"])
        of = pick(chapter, {**s["of"], "stat": None})
        if not target or not of:
            continue
        t = target[0]
        parts = [p.printed[0] for p in of]
        f = _finding(chapter, t.table, t.row, t.column,
                     s["stat"], t.printed[0], parts,
                     f"{len(parts)} values of {chapter.table(s['of']['table']).spec.label} "
                     f"({', '.join(p.text for p in parts)})", "")
        f.message += f" [{s['why']}]" if s.get("why") else ""
        out.append(f)
    return out


def rule_summary(chapter: Chapter) -> list[Finding]:
    out = []
    for t in chapter.tables.values():
        out += _table_rows(chapter, t) + _table_columns(chapter, t) + _derived(chapter, t)
    return out + _chapter_summaries(chapter)


