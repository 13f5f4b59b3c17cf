"""Notebook helpers: show a chapter's reported tables and its findings with a reader's gloss."""

from __future__ import annotations

import math

import pandas as pd

from covidnb.report.check import check
from covidnb.report.load import Chapter, load_chapter

# What a finding means for someone reading the paper, per rule and status (our wording).
READER = {
    ("f1_pr", "flag"): "F1, precision and recall of this row cannot come from one confusion "
                       "matrix: at least one of them was computed differently or mistyped, so "
                       "quote them separately, not as a set.",
    ("g_mean", "flag"): "The G-mean is not the geometric mean of the printed SEN and SPE; one of "
                        "the three is not what its name says.",
    ("accuracy", "flag"): "The accuracy does not follow from the per-class results on the stated "
                          "test set; the row and the test set cannot both be right.",
    ("accuracy", "note"): "The accuracy holds only for a test split other than the counts we know "
                          "(the share of positives it implies is given).",
    ("confusion", "flag"): "No integer confusion matrix on the stated test set gives these "
                           "numbers together; the message says which value breaks it and which "
                           "test-set sizes could.",
    ("confusion", "note"): "A confusion matrix fits only if the last digits were cut, not rounded.",
    ("averaging", "flag"): "No way of averaging over classes reproduces this value from the rest "
                           "of the row.",
    ("averaging", "note"): "The value fits only a reading the paper does not state (e.g. a macro "
                           "average, or a multi-class accuracy beside one-vs-rest metrics): "
                           "compare re-runs with that reading.",
    ("summary", "flag"): "A printed mean or total is not the mean or total of the cells it "
                         "summarises; one cell or the summary is off.",
    ("summary", "note"): "The summary holds only if it was truncated rather than rounded.",
    ("same_quantity", "flag"): "The same quantity carries two values in two places of the paper.",
    ("same_quantity", "note"): "The two copies agree only if one was truncated.",
    ("quote", "flag"): "The abstract or text states a number the table does not support.",
    ("quote", "note"): "Text and table agree only if one was truncated.",
    ("unit", "flag"): "The header's unit contradicts the values; read the values as printed.",
}
COLUMNS = ["table", "row", "column", "rule", "status", "printed", "recomputed", "difference"]


def reader_note(rule: str, status: str) -> str:
    if status in ("ok", "skipped"):
        return ""
    return READER.get((rule, status), "")


def with_reading(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with a column saying what each means for a reader."""
    out = findings.copy()
    out["what it means"] = [reader_note(r, s) for r, s in zip(out.rule, out.status)]
    return out


def _display(obj) -> None:
    from IPython.display import display

    display(obj)


def _markdown(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def show_tables(chapter: str | Chapter) -> None:
    """Every reported table as printed, with caption, unit and transcription notes."""
    ch = load_chapter(chapter) if isinstance(chapter, str) else chapter
    for t in ch.tables.values():
        s = t.spec
        unit = ", ".join(sorted({c.attrs.get("unit", s.defaults.get("unit")) or ""
                                 for c in s.columns.values() if not c.sd_of}))
        head = f"**{s.label}** ({s.location}) — {s.caption} *Unit: {unit}"
        if s.header_unit:
            head += f"; the header says {s.header_unit}"
        _markdown(head + ".*")
        _display(t.printed())
        if s.notes or s.unit_note:
            _markdown("\n".join(f"- {n}" for n in ([s.unit_note] if s.unit_note else []) + s.notes))


def _findings(chapter_or_findings) -> pd.DataFrame:
    if isinstance(chapter_or_findings, pd.DataFrame):
        return chapter_or_findings
    return check(chapter_or_findings)


class FindingsFrame(pd.DataFrame):
    """The findings table, shown on a page as a list grouped by table (summary first, each
    table's items folded) rather than as a frame whose text columns are a few characters wide;
    every pandas operation on it returns a plain frame."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def _repr_html_(self) -> str:
        return findings_html(self)


def _num(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "—" if math.isnan(f) else f"{f:g}"


def findings_html(df: pd.DataFrame, fold_over: int = 4) -> str:
    """Flags and notes as a list per table, each item with its numbers and its full meaning; a
    table with more than ``fold_over`` items is folded under its count."""
    import html

    esc = html.escape
    if df.empty:
        return "<p><strong>No flag and no note.</strong></p>"
    n_flag, n_note = int((df.status == "flag").sum()), int((df.status == "note").sum())
    out = [(f"<p><strong>{n_flag} flag(s) and {n_note} note(s) in {df.table.nunique()} table(s).</strong> "
            "A flag is a finding about the printed numbers, not a verdict on the work.</p>")]
    for table, g in df.groupby("table", sort=False):
        items = []
        for _, r in g.iterrows():
            where = ", ".join(str(x) for x in (r.get("row"), r.get("column")) if str(x) not in ("", "nan", "None"))
            nums = (f"printed {_num(r.get('printed'))}, recomputed {_num(r.get('recomputed'))}, "
                    f"difference {_num(r.get('difference'))}")
            meaning = r.get("what it means") or ""
            msg = r.get("message") or ""
            items.append(f"<li><strong>{esc(str(r.status)).upper()}</strong> · {esc(where)} "
                         f"(<code>{esc(str(r.rule))}</code>): {esc(nums)}."
                         + (f"<br><em>What it means:</em> {esc(meaning)}" if meaning else "")
                         + (f"<br><em>Details:</em> {esc(str(msg))}" if msg else "") + "</li>")
        flags = int((g.status == "flag").sum())
        head = f"{table}: {flags} flag(s), {len(g) - flags} note(s)"
        body = f'<ul class="covidnb-findings">{"".join(items)}</ul>'
        out.append(f'<details class="covidnb-fold"><summary>{esc(head)}</summary>{body}</details>'
                   if len(g) > fold_over else f"<p><strong>{esc(head)}</strong></p>{body}")
    return "".join(out)


def show_findings(chapter_or_findings, statuses=("flag", "note")) -> pd.DataFrame:
    """Findings (of a chapter, or a findings table) with these statuses, with a reader's gloss;
    a page shows them as a list (:func:`findings_html`)."""
    df = with_reading(_findings(chapter_or_findings))
    return FindingsFrame(df[df.status.isin(statuses)][COLUMNS + ["what it means", "message"]]
                         .reset_index(drop=True))


def passed(chapter_or_findings) -> pd.DataFrame:
    """Rows checked that raised nothing, per rule and table."""
    df = _findings(chapter_or_findings)
    ok = df[df.status == "ok"]
    return (ok.groupby(["rule", "table"])["row"].apply(lambda r: ", ".join(dict.fromkeys(r)))
            .reset_index().rename(columns={"row": "rows checked, no flag"}))
