"""A constructed one-table chapter ``mini`` for the ``covidnb.report`` tests."""

from __future__ import annotations

from pathlib import Path

QUOTES_HEADER = "chapter,location,quantity,value,unit,relation,table,row,column\n"

_TEST_SET = "datasets:\n  test: {classes: {pos: 40, neg: 60}}\n"
_TABLE = """tables:
  - id: "1"
    number: "1"
    file: t1.csv
    location: "§1"
    caption: "constructed"
    kind: results
    keys: {Model: entity}
    columns:
{columns}    unit: fraction
"""
_TABLE_TEST_SET = "    dataset: test\n    positive: pos\n    n_runs: 1\n"


def mini_spec(columns: dict[str, str], test_set: bool = True) -> str:
    """``tables.yaml`` of chapter ``mini``: table "1" (``t1.csv``, one row per ``Model``) with
    ``columns`` (column → metric) as fractions. ``test_set`` adds the test set the consistency
    rules need: 40 ``pos`` and 60 ``neg`` samples, positive class ``pos``, one run."""
    cols = "".join(f"      {c}: {{metric: {m}}}\n" for c, m in columns.items())
    spec = 'chapter: mini\npaper: "A constructed paper"\n'
    spec += _TEST_SET if test_set else ""
    spec += _TABLE.replace("{columns}", cols)
    return spec + (_TABLE_TEST_SET if test_set else "")


def write_chapter(root: Path, spec: str, csv: str, quotes: str | None = None) -> Path:
    """Write ``spec``, ``t1.csv`` and (optionally) ``quotes.csv`` under
    ``root/nbs/mini/reported`` (overwriting a previous call's) and return that folder."""
    folder = root / "nbs" / "mini" / "reported"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tables.yaml").write_text(spec)
    (folder / "t1.csv").write_text(csv)
    if quotes is not None:
        (folder / "quotes.csv").write_text(quotes)
    return folder
