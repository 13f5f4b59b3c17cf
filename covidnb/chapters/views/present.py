"""How a reviewer table reaches the page: narrow HTML that fits the text column, the summary
first and the long part folded (issue 13, item 4).

The other view functions return pandas frames (their callers compute with them); the functions
here only *show* one: no index column (the index becomes ordinary columns), "—" for a missing
value, "mean ± std" and every number kept on one line, thousands separators, and a table longer
than ``fold_rows`` rows folded into a ``<details>`` block under a one-line summary. A
reported-vs-re-run result (:func:`covidnb.report.compare`) is shown with one column per paper
metric, each cell reading *paper → re-run (Δ)*, under a headline of the gaps per metric.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence

import pandas as pd

from covidnb.chapters.registry import get_chapter

DASH = "—"
FOLD_ROWS = 12  # a table longer than this is folded under its summary
TABLE_CLASS = "covidnb-table"


# -- cells --------------------------------------------------------------------------------------
def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() in ("", "nan", "NaN", "None")


def cell_text(v, digits: int = 3) -> str:
    """One value as a reviewer reads it: "—" when missing, integers with thousands separators,
    other numbers with ``digits`` decimals, booleans as yes/no."""
    if _missing(v):
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        x = float(v)
        return f"{int(x):,}" if x.is_integer() and abs(x) >= 1000 else f"{x:,.{digits}f}"
    return str(v).replace("nan ± nan", DASH)


def _cell_html(v, digits: int) -> tuple[str, str]:
    """(html, css class) of one cell; numbers and "a ± b" cells never wrap."""
    text = cell_text(v, digits)
    numeric = isinstance(v, numbers.Real) and not isinstance(v, bool) and not _missing(v)
    short = len(text) <= 40
    if "<br>" in text:  # already laid out (comparison cells)
        return text, "stack"
    klass = "num" if numeric else ("nw" if short and ("±" in text or "n = " in text) else "")
    return html.escape(text), klass


def _flat(columns) -> list[str]:
    out = []
    for c in columns:
        if isinstance(c, tuple):
            c = " · ".join(str(x) for x in c if str(x))
        out.append(str(c))
    return out


# -- tables -------------------------------------------------------------------------------------
def table_html(frame: pd.DataFrame, digits: int = 3, caption: str | None = None) -> str:
    """``frame`` as a narrow HTML table, its index turned into ordinary leading columns."""
    df = frame.copy()
    named_index = any(n is not None for n in df.index.names)
    if named_index:
        df = df.reset_index()
    elif not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index().rename(columns={"index": ""})
    cols = _flat(df.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text, klass = _cell_html(v, digits)
            cells.append(f'<td class="{klass}">{text}</td>' if klass else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="{TABLE_CLASS}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def folded(inner_html: str, summary: str, open_: bool = False) -> str:
    """``inner_html`` under a one-line ``summary`` the reader opens (a ``<details>`` block)."""
    return (f'<details class="covidnb-fold"{" open" if open_ else ""}><summary>{html.escape(summary)}'
            f"</summary>{inner_html}</details>")


def show(frame: pd.DataFrame, summary: str | None = None, digits: int = 3,
         fold_rows: int = FOLD_ROWS, caption: str | None = None):
    """Display ``frame`` as a reviewer table (module docstring): folded under ``summary`` when
    longer than ``fold_rows`` rows, else with ``summary`` above it. Returns the HTML object."""
    from IPython.display import HTML, display

    if frame is None or len(frame) == 0:
        obj = HTML(f"<p>{html.escape(summary or 'nothing to show')}: no rows.</p>")
    else:
        table = table_html(frame, digits, caption)
        if len(frame) > fold_rows:
            base = (summary or "").replace("(click to open)", "").strip()
            text = (base + " — " if base else "") + f"{len(frame)} rows, click to open"
            obj = HTML(folded(table, text))
        else:
            obj = HTML((f"<p><strong>{html.escape(summary)}</strong></p>" if summary else "") + table)
    display(obj)
    return obj


# -- reported vs re-run -------------------------------------------------------------------------
def gap_summary(chapter, result: pd.DataFrame) -> list[str]:
    """Per paper metric: how far the re-run lands from the paper over the rows that have both
    (``"ACC %: −31.9 to −10.4 points over 5 rows"``), in the paper's unit."""
    ch = get_chapter(chapter)
    if result is None or not len(result) or "difference" not in result:
        return []
    out = []
    for metric, g in result.groupby("metric", sort=False):
        d = g["difference"].dropna()
        if d.empty:
            continue
        unit = g["unit"].iloc[0]
        digits = 1 if unit == "%" else ch.digits.get(unit, 3)
        word = "points" if unit == "%" else ""
        lo, hi = d.min(), d.max()
        span = f"{lo:+.{digits}f}" if len(d) == 1 or lo == hi else f"{lo:+.{digits}f} to {hi:+.{digits}f}"
        out.append(f"{metric}: {span} {word} over {len(d)} row(s)".replace("  ", " "))
    return out


def not_comparable(result: pd.DataFrame) -> bool:
    """True when the re-run rows of ``result`` are smoke or synthetic: then no paper value may be
    shown beside them (issue 13, item 1)."""
    from covidnb.chapters.views.tables import NOT_COMPARABLE

    notes = result.get("note", pd.Series(dtype=str)).astype(str)
    return bool(result.attrs.get("synthetic")) or bool(notes.str.contains(NOT_COMPARABLE, regex=False).any())


def comparison_cells(chapter, result: pd.DataFrame) -> pd.DataFrame:
    """A :func:`covidnb.report.compare` result as one row per reported row and one column per
    metric, each cell *paper* / *re-run mean ± std* / *Δ* on three short lines; ``runs``: the
    re-run's seeds per row (a cell with fewer defined values says ``n = k of m``)."""
    ch = get_chapter(chapter)
    key = result.columns[0]
    runs = result.attrs.get("runs", {})
    with_paper = not not_comparable(result)
    rows: dict = {}
    for _, r in result.iterrows():
        digits = ch.digits.get(r["unit"], 3)
        paper = DASH if math.isnan(r["printed"]) else f"{r['printed']:.{digits}f}" + (
            "" if math.isnan(r["printed_sd"]) else f" ± {r['printed_sd']:.{digits}f}")
        k, m = int(r["n_runs"]), int(runs.get(r[key], r["n_runs"]))
        rerun_n = ""
        if k == 0:
            rerun = f"{DASH} (n = 0 of {m})" if m else f"{DASH} not re-run"
        else:
            rerun = f"{r['rerun_mean']:.{digits}f}" + (
                "" if math.isnan(r["rerun_std"]) else f" ± {r['rerun_std']:.{digits}f}")
            if k != m:
                rerun_n = f"n = {k} of {m}"
        diff = "" if math.isnan(r["difference"]) else f"Δ {r['difference']:+.{digits}f}"
        lines = ([f'<span class="paper">{html.escape(paper)}</span>'] if with_paper else []) + [
            f'<span class="rerun">{html.escape(rerun)}</span>']
        if rerun_n:
            lines.append(f'<span class="count">{html.escape(rerun_n)}</span>')
        if diff:
            lines.append(f'<span class="delta">{html.escape(diff)}</span>')
        row = rows.setdefault(r[key], {key: r[key], "runs": m if m else DASH})
        row[r["metric"]] = "<br>".join(lines)
        note = "" if (k == 0 and m > 0) else (r.get("note") or "")
        if note and note not in row.get("note", ""):
            row["note"] = (row.get("note", "") + "; " if row.get("note") else "") + note
    frame = pd.DataFrame(list(rows.values()))
    if "note" in frame:
        frame = frame[[c for c in frame.columns if c != "note"] + ["note"]]
    return frame


def show_comparison(chapter, result: pd.DataFrame, title: str | None = None,
                    fold_rows: int = 8, differences: bool = True):
    """A reported-vs-re-run result for a reviewer: the headline gaps, the table (folded when
    long), then the ways the re-run differs from the paper, folded."""
    from IPython.display import HTML, display

    if result is None or not len(result):
        display(HTML(f"<p>{html.escape(title or 'comparison')}: nothing re-run yet.</p>"))
        return None
    gaps = gap_summary(chapter, result)
    if not_comparable(result):
        gaps = []
        title = (title + " — " if title else "") + ("NOT COMPARABLE: smoke or synthetic runs, shown "
                                                    "without the paper's values")
    head = (f"<p><strong>{html.escape(title)}</strong></p>" if title else "") + (
        "<p><strong>Re-run − paper:</strong> " + html.escape("; ".join(gaps)) + ".</p>" if gaps else
        "<p><strong>Re-run − paper:</strong> no row has both a paper value and a finished, "
        "comparable re-run.</p>")
    frame = comparison_cells(chapter, result)
    table = table_html(frame)
    legend = ("<p><em>Each cell: the paper's value (grey), the re-run's mean ± std over its seeds, "
              "the count where fewer runs define the metric, and Δ = re-run − paper.</em></p>")
    body = folded(legend + table, f"the {len(frame)} rows, each cell paper / re-run / Δ — click to open") \
        if len(frame) > fold_rows else legend + table
    extra = ""
    if differences:
        from covidnb import report

        extra = folded(_markdown_list_html(report.differences_markdown(result)),
                       "how the re-run differs from the paper's settings")
    obj = HTML(head + body + extra)
    display(obj)
    return obj


def _markdown_list_html(text: str) -> str:
    """A small markdown list (``- item`` lines, ``**bold**`` and ``code``) as HTML."""
    import re

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

    items, paras = [], []
    for line in text.splitlines():
        if line.lstrip().startswith(("- ", "* ")):
            items.append(f"<li>{inline(line.lstrip()[2:])}</li>")
        elif items and line.startswith("  "):
            items[-1] = items[-1][:-5] + " " + inline(line.strip()) + "</li>"
        elif line.strip():
            paras.append(f"<p>{inline(line)}</p>")
    return "".join(paras) + (f"<ul>{''.join(items)}</ul>" if items else "")


def show_claims(chapter, claim_table: pd.DataFrame, digits: int = 3):
    """The paper's comparisons on the re-run (:func:`~covidnb.chapters.views.claims.claims`):
    the count first, then one line per claim and metric, folded."""
    from IPython.display import HTML, display

    from covidnb.chapters.views.claims import claims_summary

    summary = claims_summary(claim_table)
    if claim_table is None or claim_table.empty:
        display(HTML(f"<p><strong>{html.escape(summary)}</strong></p>"))
        return None
    mark = {True: "✓ same", False: "✗ opposite"}
    long = pd.DataFrame({
        "table": claim_table["table"], "claim": claim_table["claim"], "metric": claim_table["metric"],
        "paper Δ": claim_table["paper Δ"].map(lambda v: f"{v:+.{digits}f}"),
        "re-run Δ ± std": [f"{m:+.{digits}f}" + ("" if math.isnan(s) else f" ± {s:.{digits}f}")
                           for m, s in zip(claim_table["re-run Δ"], claim_table["re-run Δ std"])],
        "seeds": claim_table["seeds"],
        "sign": claim_table["same sign"].map(lambda v: mark.get(v, "· zero")),
    })
    obj = HTML(f"<p><strong>{html.escape(summary)}.</strong></p>"
               + folded(table_html(long, digits), f"the {len(long)} claim × metric lines — click to open"))
    display(obj)
    return obj


def show_runs(frame: pd.DataFrame, columns: Sequence[str], summary: str | None = None):
    """The per-run listing (key, seed, epochs, …) folded: it is the audit trail, not the result."""
    cols = [c for c in columns if c in frame.columns]
    text = summary or f"{len(frame)} run(s): key, seed and training details"
    return show(frame[cols] if len(frame) else frame, summary=text, fold_rows=0)
