"""Reported vs re-run: units, mean ± std, differences in settings, and synthetic runs refused."""

import math

import pandas as pd
import pytest

from covidnb.report import SyntheticRunError, compare, differences_markdown, format_comparison

REPORTED = pd.DataFrame({"Model": ["VGG", "DResUNet"], "Accuracy %": ["70.34", "85.54"],
                         "F1-score": ["0.7154", "0.8292"]})


def runs(synthetic=False):
    return pd.DataFrame({
        "model": ["vgg", "vgg", "dresunet"], "seed": [0, 1, 0],
        "accuracy": [0.70, 0.74, 0.80], "f1": [0.70, 0.72, 0.81],
        "config": [{"epochs": 2, "profile": "smoke", "dataset": {"name": "covid-ct",
                                                               "synthetic": synthetic}}] * 3,
    })


def test_units_mean_std_and_difference():
    out = compare(REPORTED, runs(), on={"Model": "model"},
                  metrics={"Accuracy %": "accuracy", "F1-score": "f1"},
                  unit={"Accuracy %": "%", "F1-score": "fraction"},
                  rename={"vgg": "VGG", "dresunet": "DResUNet"},
                  paper_settings={"epochs": "not stated", "profile": "paper"})
    vgg = out[(out.Model == "VGG") & (out.metric == "Accuracy %")].iloc[0]
    assert vgg.rerun_mean == pytest.approx(72.0)            # fractions shown as %
    assert vgg.rerun_std == pytest.approx(pd.Series([70.0, 74.0]).std())
    assert vgg.difference == pytest.approx(72.0 - 70.34) and vgg.n_runs == 2
    f1 = out[(out.Model == "DResUNet") & (out.metric == "F1-score")].iloc[0]
    assert f1.difference == pytest.approx(0.81 - 0.8292) and math.isnan(f1.rerun_std)
    assert out.comparable.all()
    diffs = out.attrs["differences"]
    assert any(d.startswith("epochs: paper not stated; re-run 2") for d in diffs)
    assert any(d.startswith("profile: paper paper; re-run smoke") for d in diffs)
    assert "re-run" in format_comparison(out).columns
    assert "- epochs" in differences_markdown(out)


def test_synthetic_runs_are_refused():
    with pytest.raises(SyntheticRunError, match="synthetic"):
        compare(REPORTED, runs(synthetic=True), on={"Model": "model"},
                metrics={"F1-score": "f1"}, rename={"vgg": "VGG", "dresunet": "DResUNet"})


def test_synthetic_runs_can_be_shown_marked_not_comparable():
    out = compare(REPORTED, runs(synthetic=True), on={"Model": "model"},
                  metrics={"F1-score": "f1"}, rename={"vgg": "VGG", "dresunet": "DResUNet"},
                  allow_synthetic=True)
    assert not out.comparable.any() and out.difference.isna().all()
    assert out.note.str.contains("SYNTHETIC").all()
    assert "SYNTHETIC" in differences_markdown(out)
    assert any("SYNTHETIC" in d for d in out.attrs["differences"])


def test_synthetic_flag_as_plain_column_and_missing_column():
    r = runs().drop(columns="config").assign(synthetic=[False, True, False])
    with pytest.raises(SyntheticRunError):
        compare(REPORTED, r, on={"Model": "model"}, metrics={"F1-score": "f1"})
    with pytest.raises(KeyError, match="no column 'auc'"):
        compare(REPORTED, runs(), on={"Model": "model"}, metrics={"F1-score": "auc"})


def test_printed_plus_minus_strings():
    rep = pd.DataFrame({"Model": ["A"], "ACC": ["0.836 ± 0.013"]})
    r = pd.DataFrame({"model": ["A", "A"], "acc": [0.84, 0.85]})
    out = compare(rep, r, on={"Model": "model"}, metrics={"ACC": "acc"})
    assert out.printed.item() == pytest.approx(0.836) and out.printed_sd.item() == pytest.approx(0.013)
