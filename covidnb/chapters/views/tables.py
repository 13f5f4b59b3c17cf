"""Tables every chapter shows, in its paper's column names and units: mean ± std over seeds,
reported vs re-run (every substitution named), the profile beside the paper's settings.

A mean ± std cell is over the runs where the metric is defined: when some runs leave it
undefined (NaN, e.g. precision of a run that calls nothing positive) the cell says
``(n = k of m)``, and ``— (n = 0 of m)`` when none defines it — an undefined value is never
averaged as 0 (issue 12, item 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from covidnb.chapters.registry import get_chapter

NOT_COMPARABLE = "smoke profile — not comparable"
DASH = "—"


# -- cells --------------------------------------------------------------------------------------
def mean_std_cell(values: Sequence[float], digits: int = 3, scale: float = 1.0,
                  always_n: bool = False) -> str:
    """``mean ± std`` of the defined values (sample std; a single value alone); the count of
    defined values when some are undefined (``always_n``: always)."""
    s = pd.Series(values, dtype=float)
    defined, m = s.dropna() * scale, len(s)
    k = len(defined)
    if k == 0:
        return f"{DASH} (n = 0 of {m})" if m else DASH
    text = f"{defined.mean():.{digits}f}" + (f" ± {defined.std(ddof=1):.{digits}f}" if k > 1 else "")
    if k < m:
        return text + f" (n = {k} of {m})"
    return text + (f" (n = {m})" if always_n else "")


def _digits(chapter, column: str) -> tuple[float, int]:
    """(scale from fractions, decimals) of a paper column in the chapter's unit."""
    from covidnb.report.schema import UNITS

    unit = chapter.unit(column)
    return 1.0 / UNITS[unit], chapter.digits.get(unit, 3)


def ordered(chapter, frame: pd.DataFrame, columns: Sequence[str],
            order: Sequence | None = None) -> pd.DataFrame:
    """``frame`` sorted stably by the chapter's declared order of each column (``row_orders``);
    ``order`` gives the first column's order explicitly."""
    orders = dict(chapter.row_orders)
    if order is not None:
        orders[columns[0]] = list(order)
    for col in reversed(list(columns)):
        if col in orders:
            rank = {v: i for i, v in enumerate(orders[col])}
            frame = frame.sort_values(col, key=lambda s, r=rank: s.map(lambda v: r.get(v, len(r))),
                                      kind="stable")
    return frame


# -- mean ± std over seeds ----------------------------------------------------------------------
def results_table(chapter, frame: pd.DataFrame, by: str | Sequence[str] = "Model",
                  columns: Sequence[str] | None = None, order: Sequence | None = None) -> pd.DataFrame:
    """Mean ± std over the runs (seeds) of each group of ``by``, one column per paper column
    (default: all the chapter's ``metrics``) in the paper's unit. Groups appear as the frame
    lists them, then in the chapter's declared row order (``order``: the first column's)."""
    ch = get_chapter(chapter)
    by = [by] if isinstance(by, str) else list(by)
    columns = list(ch.metrics if columns is None else columns)
    if frame.empty:
        return pd.DataFrame(columns=by + columns + ["runs"]).set_index(by)
    rows = []
    for key, g in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for col in columns:
            scale, digits = _digits(ch, col)
            row[col] = mean_std_cell(g[ch.metrics[col]], digits, scale)
        row["runs"] = len(g)
        rows.append(row)
    return ordered(ch, pd.DataFrame(rows), by, order).set_index(by)


def caption(chapter, frame: pd.DataFrame | None, profile: str) -> str:
    """The line every results table carries: data substitution, profile, repeats, size, weights."""
    ch = get_chapter(chapter)
    parts = ([f"**Data:** {ch.substitution}."] if ch.substitution else []) + [f"**Profile:** `{profile}`"]
    if frame is not None and len(frame):
        seeds = sorted(int(s) for s in frame["seed"].unique())
        parts[-1] += (f" — {len(seeds)} seed(s) {seeds}, {int(frame['image_size'].iloc[0])} px, "
                      f"{int(frame['epochs'].iloc[0])} epoch(s), {frame['weights'].iloc[0]}.")
        if frame["synthetic"].any():
            parts.append("**SYNTHETIC phantom data: the numbers below mean nothing about the paper's data.**")
    if profile == "smoke":
        parts.append("*Smoke profile: a few optimiser steps to prove the pipeline runs — the numbers "
                     "are not results.*")
    return "  \n".join(parts)


# -- reported vs re-run -------------------------------------------------------------------------
def compare_one(chapter, comparison, frame: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    """One declared :class:`~covidnb.chapters.contract.Comparison` through
    :func:`covidnb.report.compare` (which refuses synthetic runs). Smoke runs are shown with the
    note "smoke profile — not comparable" and no difference."""
    from covidnb import report

    ch = get_chapter(chapter)
    cmp = ch.comparison(comparison) if isinstance(comparison, str) else comparison
    reported = report.reported_table(ch.slug, cmp.table)
    if cmp.key_columns:
        reported.insert(0, cmp.on[0], reported[list(cmp.key_columns)].astype(str).agg(" | ".join, axis=1))
    rows = frame
    for col, value in cmp.where.items():
        rows = rows[rows[col] == value]
    rows = rows.dropna(subset=[cmp.on[1]])
    settings = {**report.load_chapter(ch.slug).spec.paper_settings, **cmp.settings}
    res = report.compare(reported, rows, on={cmp.on[0]: cmp.on[1]}, metrics=dict(cmp.metrics),
                         unit=cmp.unit, paper_settings=settings)
    res.attrs["runs"] = rows.groupby(cmp.on[1]).size().to_dict()  # m of "n = k of m"
    if profile == "smoke" and len(res):
        has = res["n_runs"] > 0
        res.loc[has, "comparable"] = False
        res.loc[has, "difference"] = math.nan
        res.loc[has, "note"] = NOT_COMPARABLE
    return res


def compare_all(chapter, frame: pd.DataFrame, profile: str | None = None) -> dict[str, pd.DataFrame]:
    """Every table the chapter declares (``comparisons``) beside the re-runs in ``frame``."""
    ch = get_chapter(chapter)
    if frame.empty:
        return {}
    return {c.name: compare_one(ch, c, frame, profile) for c in ch.comparisons}


def comparison_wide(chapter, result: pd.DataFrame) -> pd.DataFrame:
    """A long :func:`covidnb.report.compare` result as one row per reported row: for each
    metric the paper's value, the re-run mean ± std with its count and the difference, in the
    paper's unit and printed decimals."""
    ch = get_chapter(chapter)
    key = result.columns[0]
    runs = result.attrs.get("runs", {})
    cells: dict[str, dict] = {}
    for _, r in result.iterrows():
        digits = ch.digits.get(r["unit"], 3)
        paper = "" if math.isnan(r["printed"]) else f"{r['printed']:.{digits}f}" + (
            "" if math.isnan(r["printed_sd"]) else f" ± {r['printed_sd']:.{digits}f}")
        k, m = int(r["n_runs"]), int(runs.get(r[key], r["n_runs"]))
        if k == 0:
            rerun = f"{DASH} (n = 0 of {m})" if m else DASH
        else:
            rerun = f"{r['rerun_mean']:.{digits}f}" + (
                "" if math.isnan(r["rerun_std"]) else f" ± {r['rerun_std']:.{digits}f}") + (
                f" (n = {k})" if k == m else f" (n = {k} of {m})")
        diff = "" if math.isnan(r["difference"]) else f"{r['difference']:+.{digits}f}"
        row = cells.setdefault(r[key], {})
        row.update({(r["metric"], "paper"): paper, (r["metric"], "re-run"): rerun,
                    (r["metric"], "Δ"): diff})
        note = "" if (k == 0 and m > 0) else r["note"]  # "no re-run" where the runs left it undefined
        row[("", "note")] = note or row.get(("", "note"), "")
    wide = pd.DataFrame.from_dict(cells, orient="index")
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    wide.index.name = key
    return wide


# -- settings -----------------------------------------------------------------------------------
def profile_vs_paper(chapter, profile: str) -> pd.DataFrame:
    """Each setting of ``profile`` beside the ``paper`` profile, where the paper states it
    (``paper_reference`` in ``profiles.yaml``) and the note on the choice (``notes``);
    ``differs`` marks the departures from the paper profile."""
    import yaml

    from covidnb.profiles import profile_table

    ch = get_chapter(chapter)
    table = profile_table(ch.slug)
    ref = (yaml.safe_load(ch.profiles_path.read_text()) or {}).get("paper_reference", {})
    out = pd.DataFrame({profile: table[profile].astype(str), "paper profile": table["paper"].astype(str),
                        "where the paper says it": [ref.get(k, DASH) for k in table.index],
                        "note": table.get("note", "")}, index=table.index)
    out.insert(2, "differs", out[profile] != out["paper profile"])
    return out

