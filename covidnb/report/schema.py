"""The schema of a chapter's reported tables: ``nbs/<chapter>/reported/tables.yaml``.

One YAML file per chapter describes its tables; each table's cells are a CSV beside it, with the
rows and columns as printed in the paper (``±`` values in their own ``<column> ±`` columns, an
``origin`` column saying ``ran`` or ``quoted``). Numbers quoted in the abstract or text are in
``quotes.csv`` (see :mod:`covidnb.report.load`).

``tables.yaml``::

    chapter: dresunet                 # the chapter slug (= the folder)
    paper: "Xu (2021), …"             # citation
    paper_file: 003_….txt             # the text extraction in ../shared/papers
    rounding: round                   # round | truncate: how the paper is assumed to print
    datasets:                         # class counts the checks use
      NAME: {classes: {COVID: 98, Non-COVID: 105}, note: …}
      NAME: {from_table: {table: ID, column: COL, rows: {CLASS: ROW, …}}, note: …}
    paper_settings: {dataset: …, epochs: …}   # what the paper did; compare() lists differences
    tables:
      - id: "5.1"                     # unique in the chapter; quotes and selectors use it
        number: "5.1"                 # as printed (null for numbers gathered from the text)
        part: …                       # optional, when one printed table is stored as several
        file: table5_1.csv
        location: "§5.1, p. 41"
        caption: …                    # a short caption in our own words
        kind: results | counts
        keys: {Model: entity}         # row-label column → what it names
        columns: {"Accuracy %": {metric: accuracy, unit: "%"}, …}
        text_columns: [Input size]    # printed columns that are not numbers
        unit: "%" | fraction | count | M | years
        header_unit: "%"              # what the header says, when it contradicts the values
        unit_note: …
        metric, cls, entity, condition, dataset, positive, n_runs, origin: table-wide defaults
        average: {f1: unknown|positive|ovr|per_class|macro, …}
        summary_rows: {"AUC(Mean)": mean}      # printed rows that summarise the others
        summary_columns: {Total: sum}          # printed columns that summarise the others
        notes: [what was done to the printed table, e.g. a garbled cell]
    summaries: [{why, target: SELECTOR, stat: mean|sum|sd|max|min, of: SELECTOR}]
    same_quantity: [{why, a: SELECTOR, b: SELECTOR}]

A SELECTOR is ``{table: ID, row: …, column: …, stat: …}``; ``row`` and ``column`` take one label,
several separated by ``;``, or ``*`` (every non-summary row / value column); ``*`` inside a label
is a wildcard. Row labels of tables with several key columns join the keys with `` | ``.

Every problem is reported as :class:`ReportDataError` naming the file, the line and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METRICS = {
    "accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc",
    "count", "params", "age_median", "sensitivity_change",
}
# Row labels that name a metric (tables whose rows are metrics, e.g. Ouyang et al. Table II).
METRIC_ALIASES = {
    "auc": "auc", "accuracy": "accuracy", "acc": "accuracy", "sensitivity": "sensitivity",
    "sen": "sensitivity", "recall": "sensitivity", "sensitive": "sensitivity",
    "specificity": "specificity", "spe": "specificity", "precision": "precision",
    "pre": "precision", "precious": "precision", "f1-score": "f1", "f1 score": "f1", "f1": "f1",
    "g-mean": "g_mean",
}
KINDS = {"results", "counts"}
UNITS = {"%": 0.01, "fraction": 1.0, "count": 1.0, "M": 1.0, "years": 1.0}
ORIGINS = {"ran", "quoted"}
AVERAGES = {"unknown", "positive", "ovr", "per_class", "macro", "weighted"}
STATS = {"sum", "mean", "sd", "max", "min", "difference"}
KEY_ATTRS = {"entity", "condition", "cls", "metric", "group", "quantity"}
CELL_ATTRS = ("metric", "cls", "entity", "condition", "group", "quantity", "unit", "dataset",
              "n_runs", "origin", "positive")
COLUMN_FIELDS = set(CELL_ATTRS) | {"header_unit", "average", "sd_of", "derived"}
TABLE_FIELDS = {
    "id", "number", "part", "file", "location", "caption", "kind", "keys", "columns",
    "text_columns", "unit", "header_unit", "unit_note", "metric", "cls", "entity", "condition",
    "dataset", "positive", "n_runs", "origin", "average", "summary_rows", "summary_columns",
    "notes",
}
CHAPTER_FIELDS = {"chapter", "paper", "paper_file", "rounding", "datasets", "paper_settings",
                  "tables", "summaries", "same_quantity", "notes"}
SELECTOR_FIELDS = {"table", "row", "column", "stat"}


class ReportDataError(ValueError):
    """A reported-table file that does not parse or does not fit the schema."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = Path(path), line, problem
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {problem}")


class _LineDict(dict):
    """A mapping that remembers the line it started on (for error messages)."""

    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node):
    data = _LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node, deep=True))


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ReportDataError(path, mark.line + 1 if mark else None,
                              f"YAML does not parse: {exc.problem}") from exc
    except OSError as exc:
        raise ReportDataError(path, None, f"cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ReportDataError(path, 1, "expected a mapping at the top level")
    return data


def line_of(d: Any) -> int | None:
    return getattr(d, "line", None)


@dataclass
class ColumnSpec:
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)  # any of CELL_ATTRS
    header_unit: str | None = None
    average: str | None = None
    sd_of: str | None = None
    derived: dict | None = None


@dataclass
class TableSpec:
    id: str
    number: str | None
    file: str
    location: str
    caption: str
    kind: str
    keys: dict[str, str]
    columns: dict[str, ColumnSpec]
    text_columns: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)  # table-wide CELL_ATTRS
    header_unit: str | None = None
    unit_note: str | None = None
    average: dict[str, str] = field(default_factory=dict)
    summary_rows: dict[str, str] = field(default_factory=dict)
    summary_columns: dict[str, str] = field(default_factory=dict)
    part: str | None = None
    notes: list[str] = field(default_factory=list)
    line: int | None = None

    @property
    def label(self) -> str:
        """How the table is named in a report: its printed number, or where the numbers stand."""
        if self.number is None:
            return f"{self.location} ({self.id})"
        return f"Table {self.number}" + (f" ({self.part})" if self.part else "")

    @property
    def datasets(self) -> list[str]:
        ds = self.defaults.get("dataset")
        if ds is None:
            return []
        return list(ds) if isinstance(ds, (list, tuple)) else [ds]


@dataclass
class DatasetSpec:
    name: str
    classes: dict[str, int] | None = None
    from_table: dict | None = None
    note: str = ""
    line: int | None = None
    test_split_known: bool = True


@dataclass
class ChapterSpec:
    chapter: str
    paper: str
    paper_file: str
    rounding: str
    datasets: dict[str, DatasetSpec]
    tables: list[TableSpec]
    paper_settings: dict[str, Any]
    summaries: list[dict]
    same_quantity: list[dict]
    notes: list[str]
    path: Path

    def table(self, table_id: str) -> TableSpec:
        for t in self.tables:
            if t.id == str(table_id):
                return t
        raise KeyError(f"{self.path}: no table with id {table_id!r}; ids: "
                       f"{', '.join(t.id for t in self.tables)}")


def _require(d: dict, key: str, path: Path, what: str):
    if key not in d or d[key] in (None, ""):
        raise ReportDataError(path, line_of(d), f"{what} lacks {key!r}")
    return d[key]


def _unknown_fields(d: dict, allowed: set, path: Path, what: str):
    extra = sorted(set(d) - allowed)
    if extra:
        raise ReportDataError(path, line_of(d), f"{what}: unknown field(s) {', '.join(extra)}; "
                              f"allowed: {', '.join(sorted(allowed))}")


def _check_attrs(attrs: dict, path: Path, line, what: str):
    if "metric" in attrs and attrs["metric"] not in METRICS:
        raise ReportDataError(path, line, f"{what}: unknown metric {attrs['metric']!r}; "
                              f"known: {', '.join(sorted(METRICS))}")
    if "unit" in attrs and attrs["unit"] not in UNITS:
        raise ReportDataError(path, line, f"{what}: unknown unit {attrs['unit']!r}; "
                              f"known: {', '.join(UNITS)}")
    if "origin" in attrs and attrs["origin"] not in ORIGINS:
        raise ReportDataError(path, line, f"{what}: origin must be one of {sorted(ORIGINS)}")
    if "n_runs" in attrs and attrs["n_runs"] is not None and (
            not isinstance(attrs["n_runs"], int) or attrs["n_runs"] < 1):
        raise ReportDataError(path, line, f"{what}: n_runs must be a positive integer")


def _check_selector(sel: Any, path: Path, line, what: str) -> dict:
    if not isinstance(sel, dict):
        raise ReportDataError(path, line, f"{what}: a selector must be a mapping "
                              "{table, row, column, stat}")
    _unknown_fields(sel, SELECTOR_FIELDS, path, what)
    _require(sel, "table", path, what)
    if sel.get("stat") and sel["stat"] not in STATS:
        raise ReportDataError(path, line_of(sel) or line, f"{what}: unknown stat {sel['stat']!r}")
    return {k: (str(v) if v is not None else None) for k, v in sel.items()}


def _parse_table(d: dict, path: Path) -> TableSpec:
    if not isinstance(d, dict):
        raise ReportDataError(path, None, "every entry of 'tables' must be a mapping")
    line = line_of(d)
    _unknown_fields(d, TABLE_FIELDS, path, f"table {d.get('id')!r}")
    for key in ("id", "file", "location", "caption", "kind", "keys", "columns"):
        _require(d, key, path, f"table {d.get('id')!r}")
    tid = str(d["id"])
    if d["kind"] not in KINDS:
        raise ReportDataError(path, line, f"table {tid}: kind must be one of {sorted(KINDS)}")
    keys = d["keys"]
    if not isinstance(keys, dict) or not keys:
        raise ReportDataError(path, line, f"table {tid}: keys must map row-label columns to one "
                              f"of {sorted(KEY_ATTRS)}")
    for col, attr in keys.items():
        if attr not in KEY_ATTRS:
            raise ReportDataError(path, line_of(keys) or line,
                                  f"table {tid}: key column {col!r} names {attr!r}; "
                                  f"allowed: {sorted(KEY_ATTRS)}")
    defaults = {k: d[k] for k in CELL_ATTRS if k in d}
    if d["kind"] == "counts":
        defaults.setdefault("unit", "count")
        defaults.setdefault("metric", "count")
    _check_attrs(defaults, path, line, f"table {tid}")
    columns = {}
    cols = d["columns"]
    if not isinstance(cols, dict):
        raise ReportDataError(path, line, f"table {tid}: columns must be a mapping")
    for name, spec in cols.items():
        spec = spec or {}
        cline = line_of(spec) or line_of(cols) or line
        if not isinstance(spec, dict):
            raise ReportDataError(path, cline, f"table {tid}, column {name!r}: expected a mapping")
        _unknown_fields(spec, COLUMN_FIELDS, path, f"table {tid}, column {name!r}")
        attrs = {k: spec[k] for k in CELL_ATTRS if k in spec}
        _check_attrs(attrs, path, cline, f"table {tid}, column {name!r}")
        if spec.get("average") and spec["average"] not in AVERAGES:
            raise ReportDataError(path, cline, f"table {tid}, column {name!r}: unknown average")
        derived = spec.get("derived")
        if derived is not None and (
                not isinstance(derived, dict) or derived.get("stat") != "difference"
                or not derived.get("column") or not derived.get("reference_row")):
            raise ReportDataError(path, cline, f"table {tid}, column {name!r}: derived must "
                                  "be {stat: difference, column: …, reference_row: …}")
        columns[str(name)] = ColumnSpec(str(name), attrs, spec.get("header_unit"),
                                        spec.get("average"), spec.get("sd_of"), derived)
    for name, c in columns.items():
        if not c.sd_of and "unit" not in c.attrs and "unit" not in defaults:
            raise ReportDataError(path, line, f"table {tid}, column {name!r}: no unit (give the "
                                  "table or the column a unit: % or fraction)")
    average = dict(d.get("average") or {})
    for m, a in average.items():
        if m not in METRICS or a not in AVERAGES:
            raise ReportDataError(path, line, f"table {tid}: average {m}: {a} — metric must be "
                                  f"one of {sorted(METRICS)}, average one of {sorted(AVERAGES)}")
    for field_name in ("summary_rows", "summary_columns"):
        for label, stat in (d.get(field_name) or {}).items():
            if stat not in ("sum", "mean"):
                raise ReportDataError(path, line, f"table {tid}: {field_name} {label!r}: stat "
                                      "must be sum or mean")
    number = d.get("number")
    return TableSpec(
        id=tid, number=None if number is None else str(number), file=str(d["file"]),
        location=str(d["location"]), caption=str(d["caption"]), kind=d["kind"],
        keys={str(k): v for k, v in keys.items()}, columns=columns,
        text_columns=[str(c) for c in d.get("text_columns") or []], defaults=defaults,
        header_unit=d.get("header_unit"), unit_note=d.get("unit_note"), average=average,
        summary_rows={str(k): v for k, v in (d.get("summary_rows") or {}).items()},
        summary_columns={str(k): v for k, v in (d.get("summary_columns") or {}).items()},
        part=d.get("part"), notes=list(d.get("notes") or []), line=line,
    )


def parse_chapter_spec(path: Path) -> ChapterSpec:
    """Read and validate ``tables.yaml``; raises :class:`ReportDataError` on any problem."""
    path = Path(path)
    d = read_yaml(path)
    _unknown_fields(d, CHAPTER_FIELDS, path, "tables.yaml")
    for key in ("chapter", "paper", "tables"):
        _require(d, key, path, "tables.yaml")
    rounding = d.get("rounding", "round")
    if rounding not in ("round", "truncate"):
        raise ReportDataError(path, line_of(d), "rounding must be 'round' or 'truncate'")
    if not isinstance(d["tables"], list):
        raise ReportDataError(path, line_of(d), "'tables' must be a list")
    tables = [_parse_table(t, path) for t in d["tables"]]
    ids = [t.id for t in tables]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ReportDataError(path, None, f"duplicate table id(s): {', '.join(dup)}")
    datasets = {}
    for name, ds in (d.get("datasets") or {}).items():
        if not isinstance(ds, dict) or ("classes" in ds) == ("from_table" in ds):
            raise ReportDataError(path, line_of(ds) or line_of(d),
                                  f"dataset {name!r}: give exactly one of classes / from_table")
        _unknown_fields(ds, {"classes", "from_table", "note", "test_split_known"}, path,
                        f"dataset {name!r}")
        classes = ds.get("classes")
        if classes is not None:
            if not isinstance(classes, dict) or not all(
                    isinstance(v, int) and v >= 0 for v in classes.values()):
                raise ReportDataError(path, line_of(ds), f"dataset {name!r}: classes must map "
                                      "class names to non-negative integers")
            classes = {str(k): int(v) for k, v in classes.items()}
        datasets[str(name)] = DatasetSpec(str(name), classes, ds.get("from_table"),
                                          str(ds.get("note", "")), line_of(ds),
                                          bool(ds.get("test_split_known", True)))
    for t in tables:
        for ds in t.datasets + [c.attrs["dataset"] for c in t.columns.values()
                                if "dataset" in c.attrs]:
            if ds not in datasets:
                raise ReportDataError(path, t.line, f"table {t.id}: unknown dataset {ds!r}")
    summaries = []
    for s in d.get("summaries") or []:
        sline = line_of(s)
        if not isinstance(s, dict) or s.get("stat") not in STATS:
            raise ReportDataError(path, sline, f"summaries: stat must be one of {sorted(STATS)}")
        _unknown_fields(s, {"why", "target", "stat", "of"}, path, "summary")
        summaries.append({"why": s.get("why", ""), "stat": s["stat"], "line": sline,
                          "target": _check_selector(s.get("target"), path, sline, "summary target"),
                          "of": _check_selector(s.get("of"), path, sline, "summary 'of'")})
    same = []
    for s in d.get("same_quantity") or []:
        sline = line_of(s)
        if not isinstance(s, dict):
            raise ReportDataError(path, None, "same_quantity entries must be mappings")
        _unknown_fields(s, {"why", "a", "b"}, path, "same_quantity entry")
        same.append({"why": s.get("why", ""), "line": sline,
                     "a": _check_selector(s.get("a"), path, sline, "same_quantity a"),
                     "b": _check_selector(s.get("b"), path, sline, "same_quantity b")})
    for entry in summaries + same:
        for k in ("target", "of", "a", "b"):
            if k in entry and entry[k]["table"] not in ids:
                raise ReportDataError(path, entry["line"], f"unknown table {entry[k]['table']!r}")
    return ChapterSpec(
        chapter=str(d["chapter"]), paper=str(d["paper"]), paper_file=str(d.get("paper_file", "")),
        rounding=rounding, datasets=datasets, tables=tables,
        paper_settings=dict(d.get("paper_settings") or {}), summaries=summaries,
        same_quantity=same, notes=list(d.get("notes") or []), path=path,
    )
