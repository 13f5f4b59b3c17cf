"""Reported tables of the five papers as data, their consistency checks, and reported vs re-run.

- :func:`load_chapter` / :func:`reported_table` — the paper's tables as printed
  (``nbs/<chapter>/reported/``; schema in :mod:`covidnb.report.schema`).
- :func:`check` — every consistency rule (:mod:`covidnb.report.rules`) as a findings table;
  :func:`flags` keeps the flags and notes.
- :func:`compare` — the paper's numbers beside re-run mean ± std, with the differences in
  settings; refuses synthetic runs.
"""

from covidnb.report.check import check, flags, summarise, write_flags
from covidnb.report.compare import (
    SyntheticRunError,
    compare,
    differences,
    differences_markdown,
    format_comparison,
)
from covidnb.report.load import CHAPTERS, Chapter, load_chapter, reported_table
from covidnb.report.schema import ReportDataError

__all__ = [
    "CHAPTERS",
    "Chapter",
    "ReportDataError",
    "SyntheticRunError",
    "check",
    "compare",
    "differences",
    "differences_markdown",
    "flags",
    "format_comparison",
    "load_chapter",
    "reported_table",
    "summarise",
    "write_flags",
]
