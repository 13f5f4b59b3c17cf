"""Loading reported tables: the five chapters load, and bad files name the file, line and problem."""

from pathlib import Path

import pytest
from report_helpers import QUOTES_HEADER, mini_spec, write_chapter

from covidnb.report import CHAPTERS, ReportDataError, load_chapter, reported_table

SPEC = mini_spec({"ACC": "accuracy", "F1": "f1"}, test_set=False)
CSV = "Model,ACC,ACC ±,F1,origin\na,0.90,0.01,0.80,ran\nb,0.85,,0.70,quoted\n"


def make(tmp_path: Path, spec: str = SPEC, csv: str = CSV, quotes: str | None = None) -> Path:
    return write_chapter(tmp_path, spec, csv, quotes)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_loads(chapter):
    ch = load_chapter(chapter)
    assert len(ch.tables) >= 1 and not ch.cells.empty
    assert set(ch.cells["origin"]) <= {"ran", "quoted"}
    assert not ch.overview().empty


def test_printed_digits_are_kept():
    t = reported_table("pepx_resnet", "3")
    assert t.loc[t.Model == "This work", "Normal"].item() == "0.90"
    num = reported_table("pepx_resnet", "3", numeric=True)
    assert num.loc[num.Model == "This work", "Normal"].item() == pytest.approx(0.9)


def test_plus_minus_in_its_own_column():
    t = reported_table("dsn_saal", "3")
    assert t.loc[t.Model == "VGG-16 [29]", "ACC"].item() == "0.836 ± 0.013"
    cells = load_chapter("dsn_saal").cells
    row = cells[(cells.table == "3") & (cells.column == "ACC") & (cells.row == "VGG-16 [29]")].iloc[0]
    assert row["sd_text"] == "0.013" and row["n_runs"] == 10


def test_valid_constructed_chapter(tmp_path):
    make(tmp_path)
    ch = load_chapter("mini", tmp_path)
    assert list(ch.table("1").printed()["ACC"]) == ["0.90 ± 0.01", "0.85"]


def test_non_number_names_file_and_line(tmp_path):
    make(tmp_path, csv=CSV.replace("0.70", "0.7O"))
    with pytest.raises(ReportDataError) as err:
        load_chapter("mini", tmp_path)
    assert err.value.line == 3 and err.value.path.name == "t1.csv"
    assert "'F1'" in str(err.value) and "not a number" in str(err.value)


# id: (the files that differ from the valid chapter, what the error must say)
BAD_FILES = {
    "missing-column": ({"csv": CSV.replace("F1,", "F2,")}, r"t1.csv:1: missing column\(s\) 'F1'"),
    "ragged-row": ({"csv": CSV + "c,0.5,0.6\n"}, r"t1.csv:4: 3 fields where the header has 5"),
    "bad-origin": (
        {"csv": CSV.replace("quoted", "copied")},
        r"t1.csv:3: origin must be 'ran' or 'quoted'",
    ),
    "yaml-does-not-parse": (
        {"spec": SPEC.replace("keys: {Model: entity}", "keys: {Model: entity")},
        r"tables.yaml:\d+: YAML does not parse",
    ),
    "unknown-metric": ({"spec": SPEC.replace("metric: f1", "metric: f2")}, "unknown metric 'f2'"),
    "missing-field": (
        {"spec": SPEC.replace('    caption: "constructed"\n', "")},
        r"tables.yaml:\d+: table '1' lacks 'caption'",
    ),
    "quote-not-a-number": (
        {"quotes": QUOTES_HEADER + "mini,Abstract,acc,90x,%,=,1,a,ACC\n"},
        r"quotes.csv:2: value '90x' is not a number",
    ),
    "quote-unknown-row": (
        {"quotes": QUOTES_HEADER + "mini,Abstract,acc,90,%,=,1,zz,ACC\n"},
        r"quotes.csv:2: .*no row 'zz'",
    ),
    "quotes-missing-column": (
        {"quotes": "chapter,location,value\n"},
        r"quotes.csv:1: missing column",
    ),
}


@pytest.mark.parametrize("files, message", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_file_names_file_line_and_problem(tmp_path, files, message):
    make(tmp_path, **files)
    with pytest.raises(ReportDataError, match=message):
        load_chapter("mini", tmp_path)


def test_missing_table_file(tmp_path):
    folder = make(tmp_path)
    (folder / "t1.csv").unlink()
    with pytest.raises(ReportDataError, match=r"t1.csv: cannot read"):
        load_chapter("mini", tmp_path)
