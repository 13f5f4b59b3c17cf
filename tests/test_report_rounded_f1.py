"""The ``confusion`` rule's second reading: F1 computed from the printed, already-rounded precision
and recall (issue 15, item 7). Every row below is worked by hand from one 3-class confusion matrix
on 100 images per class (rows: true a, b, c; columns: predicted a, b, c):

    a: 90  6  4        predicted a 95, b 102, c 103; accuracy 282/300 = 0.94
    b:  3 95  2        a: R 0.90, P 90/95  = 0.947368, F1 180/195 = 0.923077
    c:  2  1 97        b: R 0.95, P 95/102 = 0.931373, F1 190/202 = 0.940594
                       c: R 0.97, P 97/103 = 0.941748, F1 194/203 = 0.955665
"""

from report_helpers import write_chapter

from covidnb.report import check
from covidnb.report.rules.confusion import f1_from_printed

SPEC = """chapter: mini
paper: "A constructed paper"
rounding: round
datasets:
  test: {classes: {a: 100, b: 100, c: 100}}
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
{columns}    unit: fraction
    dataset: test
    n_runs: 1
    average: {precision: per_class, sensitivity: per_class, f1: per_class}
""".replace("{columns}", "".join(
    f"      {m}_{c}: {{metric: {name}, cls: {c}}}\n"
    for c in "abc" for m, name in (("P", "precision"), ("R", "sensitivity"), ("F1", "f1"))))

HEADER = "Model,ACC," + ",".join(f"{m}_{c}" for c in "abc" for m in ("P", "R", "F1")) + ",origin\n"
# the matrix's own values, to 4 decimals: one integer matrix fits everything
DIRECT = "direct,0.9400,0.9474,0.9000,0.9231,0.9314,0.9500,0.9406,0.9417,0.9700,0.9557,ran\n"
# P and R printed to 2 decimals, F1 from those printed values: a .95/.90 -> 0.924324,
# b .93/.95 -> 0.939894, c .94/.97 -> 0.954764. R pins TP (90, 95, 97) and P then allows only the
# predicted counts 95, 102, 103, whose F1 are 0.9231, 0.9406, 0.9557: none matches the printed F1.
ROUNDED = "rounded,0.94,0.95,0.90,0.9243,0.93,0.95,0.9399,0.94,0.97,0.9548,ran\n"
# as ROUNDED, but c's F1 is neither the matrix's (0.9557) nor 2PR/(P+R) of .94/.97 (0.9548)
NEITHER = "neither,0.94,0.95,0.90,0.9243,0.93,0.95,0.9399,0.94,0.97,0.9600,ran\n"


def _confusion(tmp_path, rows):
    write_chapter(tmp_path, SPEC, HEADER + rows)
    df = check("mini", root=tmp_path, rules=["confusion"])
    return df[df.rule == "confusion"].set_index("row")


def test_three_rows_worked_by_hand(tmp_path):
    f = _confusion(tmp_path, DIRECT + ROUNDED + NEITHER)
    assert f.loc["direct", "status"] == "ok"
    assert f.loc["rounded", "status"] == "note"
    assert "2PR/(P+R) of the printed, already-rounded precision and recall" in f.loc["rounded", "message"]
    # the matrix of the worked example, found with the F1 column set aside
    assert "a TP 90 of 100, predicted 95" in f.loc["rounded", "recomputed"]
    assert "c TP 97 of 100, predicted 103" in f.loc["rounded", "recomputed"]
    assert "truncated" not in f.loc["rounded", "message"]  # every digit here is rounded
    assert f.loc["neither", "status"] == "flag"
    assert "no integer confusion matrix" in f.loc["neither", "message"]


def test_rounded_f1_needs_every_class(tmp_path):
    # one class's F1 off both readings is enough: the reading is the paper's, not a class's
    f = _confusion(tmp_path, NEITHER)
    assert f.loc["neither", "status"] == "flag"


def test_truncated_f1_digit_is_said(tmp_path):
    # c's 2PR/(P+R) = 0.954764 cut (not rounded) to 3 digits is 0.954: a note that says so
    row = "trunc,0.94,0.95,0.90,0.9243,0.93,0.95,0.9399,0.94,0.97,0.954,ran\n"
    f = _confusion(tmp_path, row)
    assert f.loc["trunc", "status"] == "note"
    assert "the F1 of c only if its last digit was truncated" in f.loc["trunc", "message"]


def _cell(text):
    return {"text": text, "scale": 1.0}


def test_f1_from_printed_values():
    cells = {"precision": _cell("0.95"), "sensitivity": _cell("0.90")}
    assert f1_from_printed({**cells, "f1": _cell("0.9243")}, "round") == "ok"    # 0.924324
    assert f1_from_printed({**cells, "f1": _cell("0.9231")}, "round") is None    # the counts' F1
    assert f1_from_printed({**cells, "f1": _cell("0.925")}, "round") is None
    assert f1_from_printed({**cells, "f1": _cell("0.924")}, "round") == "ok"     # rounds to .924
    # 0.979898 rounds to 0.980: printed 0.979 fits only as cut digits, a note
    pr = {"precision": _cell("0.97"), "sensitivity": _cell("0.99")}                # 0.979898
    assert f1_from_printed({**pr, "f1": _cell("0.979")}, "round") == "note"
    assert f1_from_printed(cells, "round") is None  # no F1 printed: nothing to read


BINARY_SPEC = """chapter: mini
paper: "A constructed paper"
datasets:
  test: {classes: {pos: 40, neg: 60}}
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
      PRE: {metric: precision}
      SEN: {metric: sensitivity}
      F1: {metric: f1}
    unit: fraction
    dataset: test
    positive: pos
    n_runs: 1
    average: {precision: positive, sensitivity: positive, f1: positive}
"""


def test_binary_row(tmp_path):
    # TP 30, FN 10, FP 5, TN 55: ACC 0.85, P 30/35 = 0.857143, R 0.75, F1 60/75 = 0.8.
    # P printed 0.86 and R 0.75 give 2PR/(P+R) = 0.801242: printed 0.8012, no matrix has it.
    write_chapter(tmp_path, BINARY_SPEC, "Model,ACC,PRE,SEN,F1,origin\n"
                  "direct,0.85,0.86,0.75,0.80,ran\nrounded,0.85,0.86,0.75,0.8012,ran\n")
    df = check("mini", root=tmp_path, rules=["confusion"])
    f = df[df.rule == "confusion"].set_index("row")
    assert f.loc["direct", "status"] == "ok"
    assert f.loc["rounded", "status"] == "note"
    assert "TP 30, FN 10, FP 5, TN 55" in f.loc["rounded", "recomputed"]
    # a binary row fitting neither reading is the flag of test_report_rules.py's "bad" row (F1
    # 0.01 off): not repeated here, its test-set-size search takes ~15 s
