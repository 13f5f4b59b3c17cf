"""Run every consistency rule over a chapter's reported tables; flags as a table and a CSV.

``check("dresunet")`` returns one row per check: ``paper, table, row, column, rule, status,
printed, recomputed, difference, message, origin``. ``status`` is ``flag`` (the printed numbers
cannot all hold), ``note`` (they hold only under truncation or a reading the paper does not
state), ``ok`` or ``skipped``. A flag is a finding about the printed numbers, not a verdict on
the experiments behind them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from covidnb.report.load import CHAPTERS, load_chapter
from covidnb.report.rules import FIELDS, RULES, STATUSES

COLUMNS = ["paper"] + [f for f in FIELDS if f != "chapter"]


def check(chapters: str | Iterable[str] | None = None, rules: Iterable[str] | None = None,
          root=None) -> pd.DataFrame:
    """Every finding of every rule for ``chapters`` (default: all five), worst first."""
    if chapters is None:
        chapters = CHAPTERS
    elif isinstance(chapters, str):
        chapters = [chapters]
    names = list(rules or RULES)
    unknown = [r for r in names if r not in RULES]
    if unknown:
        raise KeyError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    rows = []
    for ch in chapters:
        chapter = load_chapter(ch, root)
        for name in names:
            rows += [f.as_dict() for f in RULES[name](chapter)]
    df = pd.DataFrame(rows, columns=FIELDS).rename(columns={"chapter": "paper"})
    order = {s: i for i, s in enumerate(STATUSES)}
    df["_o"] = df["status"].map(order)
    df = df.sort_values(["paper", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return df[COLUMNS]


def flags(findings: pd.DataFrame, include_notes: bool = True) -> pd.DataFrame:
    keep = ["flag", "note"] if include_notes else ["flag"]
    return findings[findings.status.isin(keep)].reset_index(drop=True)


def write_flags(findings: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    findings.to_csv(path, index=False)
    return path


def summarise(findings: pd.DataFrame) -> pd.DataFrame:
    """Counts of findings per paper, rule and status."""
    return (findings.groupby(["paper", "rule", "status"]).size().unstack("status", fill_value=0)
            .reindex(columns=[s for s in STATUSES if s in set(findings.status)]))
