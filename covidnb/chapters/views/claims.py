"""The paper's comparisons checked on the re-run, paired by seed.

A chapter declares its claims (:class:`~covidnb.chapters.contract.Claim`: method A against its
reference B, e.g. DSN-SAAL against the baseline at each ratio of Hu et al.'s Table 6). For each
claim and metric: the paper's difference of the printed values, the re-run's difference of A
and B on the same seed (mean ± std over the seeds both have, undefined values left out) and
whether the two differences have the same sign.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from covidnb.chapters.registry import get_chapter

COLUMNS = ["table", "claim", "metric", "paper Δ", "re-run Δ", "re-run Δ std", "seeds", "same sign"]


def _rows(frame: pd.DataFrame, where) -> pd.DataFrame:
    out = frame
    for col, value in where.items():
        if col not in out:
            return frame.iloc[0:0]
        out = out[out[col] == value]
    return out


def claims(chapter, frame: pd.DataFrame, results) -> pd.DataFrame:
    """Every declared claim whose two sides have runs and printed values (``results``:
    :func:`~covidnb.chapters.views.tables.compare_all` of the same ``frame``)."""
    ch = get_chapter(chapter)
    out = []
    for c in ch.claims:
        ra, rb = results.get(c.comparison), results.get(c.comparison_b or c.comparison)
        fa, fb = _rows(frame, c.a), _rows(frame, c.b)
        if ra is None or rb is None or fa.empty or fb.empty:
            continue
        key_a, key_b = ra.columns[0], rb.columns[0]
        for _, pa in ra[ra[key_a] == c.label_a].iterrows():
            metric = pa["metric"].removesuffix(c.suffix_a)
            pb = rb[(rb[key_b] == c.label_b) & (rb["metric"] == metric + c.suffix_b)]
            if pb.empty or metric not in ch.metrics:
                continue
            col = ch.metrics[metric]
            paired = (fa.groupby("seed")[col].mean() - fb.groupby("seed")[col].mean()).dropna()
            if paired.empty:
                continue
            paper = float(pa["printed"] - pb["printed"].iloc[0])
            mean = float(paired.mean())
            out.append({"table": c.table, "claim": c.claim, "metric": metric, "paper Δ": paper,
                        "re-run Δ": mean,
                        "re-run Δ std": float(paired.std(ddof=1)) if len(paired) > 1 else math.nan,
                        "seeds": len(paired),
                        "same sign": (bool(np.sign(paper) == np.sign(mean))
                                      if paper != 0 and mean != 0 else None)})
    return pd.DataFrame(out, columns=COLUMNS)


def claims_wide(chapter, table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`claims` as one row per claim and one column per metric, each cell
    ``paper Δ | re-run Δ ± std (n) ✓/✗`` (✓: the re-run's difference has the paper's sign)."""
    ch = get_chapter(chapter)

    def cell(r):
        sd = "" if math.isnan(r["re-run Δ std"]) else f" ± {r['re-run Δ std']:.{digits}f}"
        mark = {True: "✓", False: "✗"}.get(r["same sign"], "·")
        return f"{r['paper Δ']:+.{digits}f} | {r['re-run Δ']:+.{digits}f}{sd} (n={r['seeds']}) {mark}"

    if table.empty:
        return pd.DataFrame()
    t = table.assign(cell=table.apply(cell, axis=1))
    wide = t.pivot_table(index=["table", "claim"], columns="metric", values="cell", aggfunc="first",
                         sort=False)
    return wide[[m for m in ch.metrics if m in wide.columns]].fillna("")


def claims_summary(table: pd.DataFrame) -> str:
    """How many re-run differences have the paper's sign, and how many stand out of their
    spread over seeds."""
    if table.empty:
        return "no comparison with both sides finished yet"
    signs = table["same sign"].dropna()
    clear = table[(table["seeds"] > 1) & (table["re-run Δ"].abs() > table["re-run Δ std"])]
    return (f"{int(signs.sum())} of {len(signs)} re-run differences have the paper's sign; "
            f"{len(clear)} of {len(table)} are larger than their std over seeds "
            f"({int(clear['same sign'].fillna(False).sum())} of those with the paper's sign)")
