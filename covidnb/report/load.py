"""Load a chapter's reported tables: the CSVs as printed, and one long frame of cells.

``load_chapter("dresunet")`` reads ``nbs/dresunet/reported/tables.yaml`` (schema:
:mod:`covidnb.report.schema`), every table CSV it names and ``quotes.csv``. Printed numbers are
kept as text (``"0.90"`` keeps its two decimals, which set the interval it stands for) and
parsed; a file that does not parse, lacks a column or holds a non-number where a number belongs
raises :class:`~covidnb.report.schema.ReportDataError` naming the file, the line and the problem.

A table CSV holds the key (row-label) columns, the value columns, ``<column> ±`` for printed
standard deviations, any ``text_columns``, an optional ``origin`` column (``ran`` / ``quoted``)
and an optional ``n_runs`` column. Empty cells and ``-`` / ``–`` / ``—`` mean "not printed".
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from covidnb.chapters.registry import slugs
from covidnb.paths import REPO_ROOT
from covidnb.report.intervals import is_number
from covidnb.report.schema import (
    METRIC_ALIASES,
    UNITS,
    ChapterSpec,
    ReportDataError,
    TableSpec,
    parse_chapter_spec,
)

# Every registered chapter has reported tables, built or not (covidnb.chapters.registry).
CHAPTERS = slugs()
MISSING = {"", "-", "–", "—"}
SD_SUFFIX = " ±"
ROW_SEP = " | "
QUOTE_COLUMNS = ["chapter", "location", "quantity", "value", "unit", "relation", "table", "row",
                 "column"]
QUOTE_OPTIONAL = ["sd", "stat", "minus_row", "minus_column", "minus_stat", "note"]
RELATIONS = {"=", ">=", "<="}


def reported_dir(chapter: str, root: Path | None = None) -> Path:
    return Path(root or REPO_ROOT) / "nbs" / chapter / "reported"


def read_csv_rows(path: Path, required: list[str] | None = None):
    """Header and ``(line, row)`` pairs of a CSV; ragged rows and missing columns are errors."""
    if not Path(path).is_file():
        raise ReportDataError(path, None, "cannot read: no such file")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ReportDataError(path, 1, "empty file: no header row") from None
        except csv.Error as exc:
            raise ReportDataError(path, reader.line_num, f"CSV does not parse: {exc}") from exc
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ReportDataError(path, 1, f"duplicate column(s) {', '.join(map(repr, dup))}")
        missing = [c for c in (required or []) if c not in header]
        if missing:
            raise ReportDataError(path, 1, f"missing column(s) {', '.join(map(repr, missing))}; "
                                  f"header has {', '.join(map(repr, header))}")
        rows = []
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ReportDataError(path, reader.line_num, f"CSV does not parse: {exc}") from exc
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise ReportDataError(path, line, f"{len(values)} fields where the header has "
                                      f"{len(header)}")
            rows.append((line, {h: v.strip() for h, v in zip(header, values)}))
    return header, rows


@dataclass
class Table:
    """One reported table: its spec, the cells as printed (text) and the CSV line of each row."""

    spec: TableSpec
    path: Path
    header: list[str]
    rows: list[dict]
    lines: list[int]

    @property
    def key_columns(self) -> list[str]:
        return list(self.spec.keys)

    @property
    def value_columns(self) -> list[str]:
        return list(self.spec.columns)

    def sd_column(self, col: str) -> str | None:
        for name, c in self.spec.columns.items():
            if c.sd_of == col:
                return name
        return col + SD_SUFFIX if col + SD_SUFFIX in self.header else None

    def is_sd(self, col: str) -> bool:
        return self.spec.columns[col].sd_of is not None

    def row_label(self, row: dict) -> str:
        return ROW_SEP.join(row[k] for k in self.key_columns)

    def labels(self) -> list[str]:
        return [self.row_label(r) for r in self.rows]

    def is_summary(self, label: str) -> bool:
        return label.split(ROW_SEP)[-1] in self.spec.summary_rows

    def printed(self) -> pd.DataFrame:
        """The table as printed: text cells, ``value ± sd`` joined again, plus ``origin``."""
        out = []
        for r in self.rows:
            rec = {k: r[k] for k in self.key_columns}
            for c in self.header:
                if c in self.key_columns or c.endswith(SD_SUFFIX) or c in ("origin", "n_runs"):
                    continue
                if c in self.spec.columns and self.is_sd(c):
                    rec[c] = r[c]
                    continue
                sd = self.sd_column(c) if c in self.spec.columns else None
                v = r.get(c, "")
                rec[c] = f"{v} ± {r[sd]}" if sd and sd.endswith(SD_SUFFIX) and r.get(sd) else v
            if "origin" in r:
                rec["origin"] = r["origin"]
            out.append(rec)
        return pd.DataFrame(out)

    def numeric(self) -> pd.DataFrame:
        """Key columns plus every value and ``±`` column as floats (NaN where not printed)."""
        out = []
        for r in self.rows:
            rec = {k: r[k] for k in self.key_columns}
            for c in self.value_columns:
                rec[c] = float(r[c]) if r.get(c, "") not in MISSING else float("nan")
                sd = self.sd_column(c)
                if sd and sd.endswith(SD_SUFFIX):
                    rec[sd] = float(r[sd]) if r.get(sd, "") not in MISSING else float("nan")
            out.append(rec)
        return pd.DataFrame(out)


@dataclass
class Chapter:
    """A chapter's reported tables, their cells in long form, the quotes and the class counts."""

    spec: ChapterSpec
    tables: dict[str, Table]
    cells: pd.DataFrame
    quotes: pd.DataFrame
    datasets: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.chapter

    def table(self, table_id: str) -> Table:
        if str(table_id) not in self.tables:
            raise KeyError(f"{self.name}: no table {table_id!r}; ids: {', '.join(self.tables)}")
        return self.tables[str(table_id)]

    def overview(self) -> pd.DataFrame:
        """One line per table: id, number, where it stands, caption, unit, rows, origins."""
        rows = []
        for t in self.tables.values():
            s = t.spec
            origins = sorted(self.cells.loc[self.cells.table == s.id, "origin"].unique())
            rows.append({"id": s.id, "table": s.label, "location": s.location,
                         "caption": s.caption, "kind": s.kind,
                         "unit": _unit_summary(s), "rows": len(t.rows),
                         "origin": "/".join(origins), "file": t.path.name})
        return pd.DataFrame(rows)


def _unit_summary(s: TableSpec) -> str:
    units = sorted({c.attrs.get("unit", s.defaults.get("unit")) for c in s.columns.values()})
    text = ", ".join(u for u in units if u)
    if s.header_unit:
        text += f" (header says {s.header_unit})"
    return text


def _table_from_csv(spec: TableSpec, path: Path, chapter: str) -> tuple[Table, list[dict]]:
    required = list(spec.keys) + list(spec.columns) + spec.text_columns
    header, rows = read_csv_rows(path, required)
    known = set(required) | {"origin", "n_runs"} | {c + SD_SUFFIX for c in spec.columns}
    extra = [h for h in header if h not in known]
    if extra:
        raise ReportDataError(path, 1, f"column(s) {', '.join(map(repr, extra))} are not declared "
                              f"in tables.yaml (table {spec.id})")
    table = Table(spec, path, header, [r for _, r in rows], [ln for ln, _ in rows])
    labels = []
    cells = []
    for line, row in rows:
        for k in spec.keys:
            if row[k] in MISSING:
                raise ReportDataError(path, line, f"row label column {k!r} is empty")
        label = table.row_label(row)
        if label in labels:
            raise ReportDataError(path, line, f"duplicate row {label!r}")
        labels.append(label)
        row_origin = row.get("origin") or None
        if row_origin is not None and row_origin not in ("ran", "quoted"):
            raise ReportDataError(path, line, f"origin must be 'ran' or 'quoted', not {row_origin!r}")
        row_runs = None
        if row.get("n_runs"):
            if not row["n_runs"].isdigit() or int(row["n_runs"]) < 1:
                raise ReportDataError(path, line, f"n_runs must be a positive integer, not "
                                      f"{row['n_runs']!r}")
            row_runs = int(row["n_runs"])
        key_attrs = {}
        for k, attr in spec.keys.items():
            v = row[k]
            if attr == "metric":
                canon = METRIC_ALIASES.get(v.lower())
                if canon is None:
                    raise ReportDataError(path, line, f"row label {v!r} in column {k!r} names no "
                                          f"known metric (known: {', '.join(sorted(METRIC_ALIASES))})")
                v = canon
            key_attrs[attr] = v
        summary = table.is_summary(label)
        for col, cspec in spec.columns.items():
            text = row[col]
            if text not in MISSING and not is_number(text):
                raise ReportDataError(path, line, f"column {col!r} holds {text!r}, not a number")
            sd_col = table.sd_column(col)
            sd_text = ""
            if sd_col and sd_col.endswith(SD_SUFFIX):
                sd_text = row[sd_col]
                if sd_text not in MISSING and not is_number(sd_text):
                    raise ReportDataError(path, line, f"column {sd_col!r} holds {sd_text!r}, "
                                          "not a number")
            attrs = dict(spec.defaults)
            for a, v in key_attrs.items():
                attrs[a] = v
            for a, v in cspec.attrs.items():
                if a in key_attrs and a != "origin":
                    raise ReportDataError(path, line, f"column {col!r} sets {a!r}, which the row "
                                          f"label column already gives")
                attrs[a] = v
            origin = cspec.attrs.get("origin") or row_origin or spec.defaults.get("origin")
            if cspec.attrs.get("origin") and row_origin and cspec.attrs["origin"] != row_origin:
                raise ReportDataError(path, line, f"origin {row_origin!r} of the row contradicts "
                                      f"{cspec.attrs['origin']!r} of column {col!r}")
            if origin is None:
                raise ReportDataError(path, line, "no origin (ran / quoted): give an 'origin' "
                                      "column or an origin in tables.yaml")
            metric = attrs.get("metric")
            if metric is None:
                raise ReportDataError(path, line, f"column {col!r}: no metric (give one for the "
                                      "table, the column or a metric row label)")
            if cspec.sd_of:
                metric = f"{metric}_sd"
            unit = attrs.get("unit")
            datasets = attrs.get("dataset")
            datasets = list(datasets) if isinstance(datasets, (list, tuple)) else (
                [datasets] if datasets else [])
            cells.append({
                "chapter": chapter, "table": spec.id, "label": spec.label, "row": label,
                "column": col, "metric": metric, "cls": attrs.get("cls") or "",
                "entity": attrs.get("entity") or label, "condition": attrs.get("condition") or "",
                "group": attrs.get("group") or "", "quantity": attrs.get("quantity") or "",
                "text": "" if text in MISSING else text,
                "sd_text": "" if sd_text in MISSING else sd_text,
                "value": float(text) if text not in MISSING else float("nan"),
                "sd": float(sd_text) if sd_text not in MISSING else float("nan"),
                "unit": unit, "scale": UNITS[unit], "origin": origin,
                "n_runs": row_runs if row_runs is not None else attrs.get("n_runs"),
                "datasets": tuple(datasets), "positive": attrs.get("positive") or "",
                "average": cspec.average or spec.average.get(metric, ""),
                "summary": summary, "is_sd": bool(cspec.sd_of), "kind": spec.kind,
                "file": path.name, "line": line,
            })
    for label in list(spec.summary_rows):
        if not any(l.split(ROW_SEP)[-1] == label for l in labels):
            raise ReportDataError(path, None, f"summary row {label!r} (tables.yaml) is not in the CSV")
    return table, cells


def _read_quotes(path: Path, chapter: str, tables: dict[str, Table]) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=QUOTE_COLUMNS + QUOTE_OPTIONAL + ["line"])
    _, rows = read_csv_rows(path, QUOTE_COLUMNS)
    out = []
    for line, r in rows:
        if r["chapter"] != chapter:
            raise ReportDataError(path, line, f"chapter {r['chapter']!r} in the {chapter!r} folder")
        if not is_number(r["value"]):
            raise ReportDataError(path, line, f"value {r['value']!r} is not a number")
        if r.get("sd") and not is_number(r["sd"]):
            raise ReportDataError(path, line, f"sd {r['sd']!r} is not a number")
        if r["unit"] not in UNITS:
            raise ReportDataError(path, line, f"unit {r['unit']!r}; known: {', '.join(UNITS)}")
        if r["relation"] not in RELATIONS:
            raise ReportDataError(path, line, f"relation {r['relation']!r}; one of "
                                  f"{', '.join(sorted(RELATIONS))}")
        if r["table"] not in tables:
            raise ReportDataError(path, line, f"refers to table {r['table']!r}; ids: "
                                  f"{', '.join(tables)}")
        rec = {c: r.get(c, "") for c in QUOTE_COLUMNS + QUOTE_OPTIONAL}
        rec["line"] = line
        try:
            select(tables[r["table"]], r["row"], r["column"], r.get("stat") or None)
            if r.get("minus_row") or r.get("minus_column"):
                select(tables[r["table"]], r.get("minus_row") or r["row"],
                       r.get("minus_column") or r["column"], r.get("minus_stat") or None)
        except KeyError as exc:
            raise ReportDataError(path, line, str(exc).strip("'\"")) from None
        out.append(rec)
    return pd.DataFrame(out, columns=QUOTE_COLUMNS + QUOTE_OPTIONAL + ["line"])


def _match(patterns: str | None, labels: list[str], what: str, where: str,
           default: list[str]) -> list[str]:
    if patterns is None or patterns.strip() in ("", "*"):
        return list(default)
    chosen = []
    for p in patterns.split(";"):
        p = p.strip()
        if "*" in p:
            rx = re.compile("^" + ".*".join(re.escape(s) for s in p.split("*")) + "$")
            hits = [l for l in default if rx.match(l)]
        else:
            hits = [l for l in labels if l == p]
        if not hits:
            raise KeyError(f"{where}: no {what} {p!r}; {what}s: {', '.join(labels)}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def select(table: Table, row: str | None, column: str | None, stat: str | None = None):
    """Cells of ``table`` picked by row / column labels: ``[(key, row_label, column)]``.

    With several rows and one column the key is the row label; with one row, the column label;
    otherwise ``"row | column"``. ``stat`` (sum, mean, …) asks for one combined value, so
    several cells are then allowed; without it a quote must pick exactly one cell.
    """
    where = f"table {table.spec.id}"
    labels = table.labels()
    plain = [l for l in labels if not table.is_summary(l)]
    rows = _match(row, labels, "row", where, plain)
    numeric_cols = table.value_columns
    plain_cols = [c for c in numeric_cols if c not in table.spec.summary_columns
                  and not table.is_sd(c)]
    cols = _match(column, numeric_cols + [c for c in table.header if c.endswith(SD_SUFFIX)],
                  "column", where, plain_cols)
    out = []
    for r in rows:
        for c in cols:
            key = c if len(rows) == 1 else (r if len(cols) == 1 else f"{r}{ROW_SEP}{c}")
            out.append((key, r, c))
    return out


def cell_text(table: Table, row_label: str, column: str) -> str:
    idx = table.labels().index(row_label)
    return table.rows[idx].get(column, "")


def _resolve_datasets(spec: ChapterSpec, tables: dict[str, Table]) -> dict[str, dict[str, int]]:
    out = {}
    for name, ds in spec.datasets.items():
        if ds.classes is not None:
            out[name] = dict(ds.classes)
            continue
        ft = ds.from_table or {}
        where = f"dataset {name!r}"
        if ft.get("table") not in tables:
            raise ReportDataError(spec.path, ds.line, f"{where}: unknown table {ft.get('table')!r}")
        t = tables[ft["table"]]
        pairs = []
        if "rows" in ft and "column" in ft:
            pairs = [(cls, r, ft["column"]) for cls, r in ft["rows"].items()]
        elif "columns" in ft and "row" in ft:
            pairs = [(cls, ft["row"], c) for cls, c in ft["columns"].items()]
        else:
            raise ReportDataError(spec.path, ds.line, f"{where}: from_table needs rows+column "
                                  "or columns+row")
        counts = {}
        for cls, r, c in pairs:
            if r not in t.labels() or c not in t.header:
                raise ReportDataError(spec.path, ds.line, f"{where}: no cell row {r!r}, column "
                                      f"{c!r} in table {t.spec.id}")
            text = cell_text(t, r, c)
            if not text.isdigit():
                raise ReportDataError(spec.path, ds.line, f"{where}: cell {r!r}/{c!r} of table "
                                      f"{t.spec.id} is {text!r}, not a count")
            counts[str(cls)] = int(text)
        out[name] = counts
    return out


_CACHE: dict[tuple, Chapter] = {}


def load_chapter(chapter: str, root: Path | None = None) -> Chapter:
    """Load and validate every reported table of ``chapter`` (cached until a file changes)."""
    folder = reported_dir(chapter, root)
    spec_path = folder / "tables.yaml"
    if not spec_path.exists():
        raise FileNotFoundError(f"{spec_path}: chapter {chapter!r} has no reported tables")
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))
    key = (str(folder), stamp)
    if key in _CACHE:
        return _CACHE[key]
    spec = parse_chapter_spec(spec_path)
    if spec.chapter != chapter:
        raise ReportDataError(spec_path, 1, f"chapter {spec.chapter!r} in the {chapter!r} folder")
    tables, cells = {}, []
    for t in spec.tables:
        table, tcells = _table_from_csv(t, folder / t.file, chapter)
        tables[t.id] = table
        cells += tcells
    for entry in spec.summaries + spec.same_quantity:
        for k in ("target", "of", "a", "b"):
            if k in entry:
                sel = entry[k]
                try:
                    select(tables[sel["table"]], sel.get("row"), sel.get("column"), sel.get("stat"))
                except KeyError as exc:
                    raise ReportDataError(spec_path, entry["line"], str(exc).strip("'\"")) from None
    frame = pd.DataFrame(cells)
    quotes = _read_quotes(folder / "quotes.csv", chapter, tables)
    ch = Chapter(spec, tables, frame, quotes, _resolve_datasets(spec, tables))
    _CACHE[key] = ch
    return ch


def reported_table(chapter: str, table_id: str, numeric: bool = False) -> pd.DataFrame:
    """One reported table as printed (text) or as numbers, for a notebook cell."""
    t = load_chapter(chapter).table(table_id)
    return t.numeric() if numeric else t.printed()
