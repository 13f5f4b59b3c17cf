"""Loading reported tables: the five chapters load, and bad files name the file, line and problem."""

from pathlib import Path

import pytest

from covidnb.report import CHAPTERS, ReportDataError, load_chapter, reported_table

SPEC = """chapter: mini
paper: "A constructed paper"
tables:
  - id: "1"
    number: "1"
    file: t1.csv
    location: "§1"
    caption: "constructed"
    kind: results
    keys: {Model: entity}
    columns:
      ACC: {metric: accuracy}
      F1: {metric: f1}
    unit: fraction
"""
CSV = "Model,ACC,ACC ±,F1,origin\na,0.90,0.01,0.80,ran\nb,0.85,,0.70,quoted\n"


def make(tmp_path: Path, spec: str = SPEC, csv: str = CSV, quotes: str | None = None) -> Path:
    folder = tmp_path / "nbs" / "mini" / "reported"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tables.yaml").write_text(spec)
    (folder / "t1.csv").write_text(csv)
    if quotes is not None:
        (folder / "quotes.csv").write_text(quotes)
    return folder


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


def test_missing_column(tmp_path):
    make(tmp_path, csv=CSV.replace("F1,", "F2,"))
    with pytest.raises(ReportDataError, match=r"t1.csv:1: missing column\(s\) 'F1'"):
        load_chapter("mini", tmp_path)


def test_ragged_row(tmp_path):
    make(tmp_path, csv=CSV + "c,0.5,0.6\n")
    with pytest.raises(ReportDataError, match=r"t1.csv:4: 3 fields where the header has 5"):
        load_chapter("mini", tmp_path)


def test_yaml_that_does_not_parse(tmp_path):
    make(tmp_path, spec=SPEC.replace("keys: {Model: entity}", "keys: {Model: entity"))
    with pytest.raises(ReportDataError, match=r"tables.yaml:\d+: YAML does not parse"):
        load_chapter("mini", tmp_path)


def test_unknown_metric_and_missing_field(tmp_path):
    make(tmp_path, spec=SPEC.replace("metric: f1", "metric: f2"))
    with pytest.raises(ReportDataError, match="unknown metric 'f2'"):
        load_chapter("mini", tmp_path)
    make(tmp_path, spec=SPEC.replace('    caption: "constructed"\n', ""))
    with pytest.raises(ReportDataError, match=r"tables.yaml:\d+: table '1' lacks 'caption'"):
        load_chapter("mini", tmp_path)


def test_bad_origin(tmp_path):
    make(tmp_path, csv=CSV.replace("quoted", "copied"))
    with pytest.raises(ReportDataError, match=r"t1.csv:3: origin must be 'ran' or 'quoted'"):
        load_chapter("mini", tmp_path)


def test_quotes_are_checked(tmp_path):
    head = "chapter,location,quantity,value,unit,relation,table,row,column\n"
    make(tmp_path, quotes=head + "mini,Abstract,acc,90x,%,=,1,a,ACC\n")
    with pytest.raises(ReportDataError, match=r"quotes.csv:2: value '90x' is not a number"):
        load_chapter("mini", tmp_path)
    make(tmp_path, quotes=head + "mini,Abstract,acc,90,%,=,1,zz,ACC\n")
    with pytest.raises(ReportDataError, match=r"quotes.csv:2: .*no row 'zz'"):
        load_chapter("mini", tmp_path)
    make(tmp_path, quotes="chapter,location,value\n")
    with pytest.raises(ReportDataError, match=r"quotes.csv:1: missing column"):
        load_chapter("mini", tmp_path)


def test_missing_table_file(tmp_path):
    folder = make(tmp_path)
    (folder / "t1.csv").unlink()
    with pytest.raises(ReportDataError, match=r"t1.csv: cannot read"):
        load_chapter("mini", tmp_path)
