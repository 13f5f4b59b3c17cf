"""``covidnb report check`` and ``covidnb report show``."""

import pandas as pd
from report_helpers import mini_spec, write_chapter

from covidnb.cli import main

SPEC = mini_spec({"PRE": "precision", "SEN": "sensitivity", "F1": "f1"})


def make(tmp_path, f1: str):
    write_chapter(tmp_path, SPEC, f"Model,PRE,SEN,F1,origin\nm,0.8571,0.7500,{f1},ran\n")


def test_check_strict_fails_on_a_flag_and_writes_csv(tmp_path, capsys):
    make(tmp_path, "0.8100")          # 2PR/(P+R) = 0.8000
    out = tmp_path / "flags.csv"
    assert main(["report", "check", "mini", "--root", str(tmp_path), "--strict",
                 "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "f1_pr" in printed and "flag" in printed
    df = pd.read_csv(out)
    assert {"paper", "table", "row", "rule", "printed", "recomputed", "difference"} <= set(df.columns)
    assert (df.status == "flag").any()
    assert main(["report", "check", "mini", "--root", str(tmp_path), "--out", "-"]) == 0


def test_check_strict_passes_a_consistent_chapter(tmp_path):
    make(tmp_path, "0.8000")
    assert main(["report", "check", "mini", "--root", str(tmp_path), "--strict",
                 "--out", str(tmp_path / "f.csv")]) == 0


def test_unknown_chapter(tmp_path, capsys):
    assert main(["report", "check", "nope", "--root", str(tmp_path), "--out", "-"]) == 2


def test_show_lists_and_prints(tmp_path, capsys):
    make(tmp_path, "0.8000")
    assert main(["report", "show", "mini", "--root", str(tmp_path)]) == 0
    assert "constructed" in capsys.readouterr().out
    assert main(["report", "show", "mini", "1", "--root", str(tmp_path)]) == 0
    assert "0.8571" in capsys.readouterr().out
