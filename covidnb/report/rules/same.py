"""One quantity printed in two places: two tables, or a table and the abstract / text.

``same_quantity`` entries of ``tables.yaml`` pair cells that the paper says (or whose labels
show) are the same number — a baseline repeated in an ablation table, a column copied into a
comparison table. ``quotes.csv`` lists numbers in the abstract, text or conclusion with the
cell they restate. Two printed values are consistent when their intervals meet; percentages
and fractions are compared as fractions. A quote may also state a bound (``>=``, ``<=``), a
sum or another statistic of several cells, or a difference of two cells.
"""

from __future__ import annotations

from covidnb.report.intervals import Printed, fmt_interval
from covidnb.report.load import Chapter, cell_text
from covidnb.report.rules.base import Finding, judge, verdict_sentence
from covidnb.report.rules.cells import pick
from covidnb.report.schema import UNITS

RULE_SAME = "same_quantity"
RULE_QUOTE = "quote"
# Two printed values that meet only when one of them lost digits by truncation.
EQUAL_IF_TRUNCATED = "; equal only if one of them was truncated rather than rounded."


def check_same(a: Printed, b: Printed, first: str = "round", exact: bool = False,
               relation: str = "="):
    """Verdict: can printed ``a`` and printed ``b`` be the same number (``relation`` for bounds)?"""

    def compute(mode):
        m = "exact" if exact else mode
        return a.iv(m), b.iv(m)

    return judge(compute, first, relation)


def _pairs(a, b):
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])]
    keys_b = {p.key: p for p in b}
    common = [p for p in a if p.key in keys_b]
    if common:
        return [(p, keys_b[p.key]) for p in common]
    if len(a) == len(b):
        return list(zip(a, b))
    return []


def rule_same(chapter: Chapter) -> list[Finding]:
    out = []
    for entry in chapter.spec.same_quantity:
        a, b = pick(chapter, entry["a"]), pick(chapter, entry["b"])
        if a is None or b is None:
            continue
        pairs = _pairs(a, b)
        if not pairs:
            out.append(Finding(chapter.name, "", "", "", RULE_SAME, "skipped", "", "", None,
                               f"cannot pair the cells of {entry['a']} and {entry['b']}", ""))
            continue
        for pa, pb in pairs:
            sa, sb = entry["a"].get("stat"), entry["b"].get("stat")

            def compute(mode, pa=pa, pb=pb, sa=sa, sb=sb):
                return pa.iv(mode, sa), pb.iv(mode, sb)

            v = judge(compute, chapter.spec.rounding)
            def show(p, stat):
                if not stat:
                    return p.text
                iv = p.iv("exact", stat)
                return f"{iv.mid:g}" if p.table.spec.kind == "counts" else fmt_interval(iv, 4)

            shown_a, shown_b = show(pa, sa), show(pb, sb)
            msg = (f"{pa.table.spec.label} [{pa.where}] prints {shown_a}; "
                   f"{pb.table.spec.label} [{pb.where}] prints {shown_b}")
            msg += verdict_sentence(v.status, ". The same quantity carries two different values.",
                                    EQUAL_IF_TRUNCATED)
            if entry.get("why"):
                msg += f" [{entry['why']}]"
            out.append(Finding(chapter.name, f"{pa.table.spec.label} / {pb.table.spec.label}",
                               f"{pa.row} / {pb.row}", f"{pa.column} / {pb.column}",
                               RULE_SAME, v.status, shown_a, shown_b,
                               round(v.difference / pa.printed[0].scale, 6),
                               msg, ""))
    return out


def rule_quotes(chapter: Chapter) -> list[Finding]:
    out = []
    for _, q in chapter.quotes.iterrows():
        sel = {"table": q["table"], "row": q["row"], "column": q["column"],
               "stat": q.get("stat") or None}
        cells = pick(chapter, sel)
        minus = None
        if q.get("minus_row") or q.get("minus_column"):
            minus = pick(chapter, {"table": q["table"], "row": q.get("minus_row") or q["row"],
                                   "column": q.get("minus_column") or q["column"],
                                   "stat": q.get("minus_stat") or None})
        if not cells or (minus is not None and not minus):
            continue
        cell = cells[0]
        quote = Printed(q["value"], UNITS[q["unit"]])
        exact = q["unit"] == "count"

        def compute(mode, cell=cell, minus=minus, quote=quote, q=q, exact=exact):
            m = "exact" if exact else mode
            iv = cell.iv(m, q.get("stat") or None)
            if minus:
                iv = iv - minus[0].iv(m, q.get("minus_stat") or None)
            return quote.iv(m), iv

        v = judge(compute, chapter.spec.rounding, q["relation"])
        table_iv = compute("exact")[1]
        if not (q.get("stat") or minus):
            shown = cell.text
        elif exact:
            shown = f"{table_iv.mid:g}"
        else:  # a derived value is shown in the quote's unit
            shown = fmt_interval(table_iv.scale(1 / quote.scale), 4)
        label = cell.table.spec.label
        what = cell.where if not minus else f"{cell.where} minus {minus[0].where}"
        unit = "" if q["unit"] in ("fraction", "count") else q["unit"]
        msg = (f"{q['location']} gives {q['quantity']} {q['relation'] if q['relation'] != '=' else '='} "
               f"{q['value']}{unit}; {label} [{what}] gives {shown}")
        msg += verdict_sentence(v.status, ". The text and the table disagree.", EQUAL_IF_TRUNCATED)
        if q.get("sd"):
            sd_ok = _sd_agrees(chapter, q, cell)
            if sd_ok is False:
                msg += f" Its ± {q['sd']} differs from the table's."
                v.status = "flag"
        if q.get("note"):
            msg += f" ({q['note']})"
        out.append(Finding(chapter.name, label, cell.row, cell.column, RULE_QUOTE, v.status,
                           f"{q['value']}{unit} ({q['location']})", shown,
                           round(v.difference / quote.scale, 6), msg, ""))
    return out


def _sd_agrees(chapter: Chapter, q, cell) -> bool | None:
    t = cell.table
    r, c = cell.row, cell.column
    sd_col = t.sd_column(c)
    if not sd_col:
        return None

    text = cell_text(t, r, sd_col)
    if not text:
        return None
    scale = UNITS[q["unit"]]
    a, b = Printed(q["sd"], scale), Printed(text, cell.printed[0].scale)
    return a.iv("either").overlaps(b.iv("either"))


