"""The shared view layer's rules that no chapter test pins: undefined metrics stay undefined
in every mean ± std cell (issue 12, item 4), and the declared orders and units are used."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd

from covidnb.chapters import dresunet, views
from covidnb.chapters.views.tables import mean_std_cell


def test_a_cell_averages_only_the_defined_runs_and_says_how_many():
    assert mean_std_cell([0.5, math.nan, 0.7]) == "0.600 ± 0.141 (n = 2 of 3)"
    assert mean_std_cell([math.nan, math.nan]) == "— (n = 0 of 2)"
    assert mean_std_cell([0.5, 0.7]) == "0.600 ± 0.141"
    assert mean_std_cell([0.5, 0.7], always_n=True) == "0.600 ± 0.141 (n = 2)"
    assert mean_std_cell([0.123], digits=2, scale=100) == "12.30"
    assert mean_std_cell([]) == "—"


def _run(seed, tp, fp, tn, fn, precision):
    """A record written before NaN became the rule: precision 0 where TP + FP = 0."""
    cfg = dresunet.experiment_config("cpu", "dresunet", seed)
    m = {"accuracy": (tp + tn) / (tp + fp + tn + fn), "precision": precision, "sensitivity": 0.5,
         "specificity": 0.5, "f1": 0.0 if precision == 0 else 0.5, "g_mean": 0.5, "auc": 0.6,
         "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": tp + fp + tn + fn}
    return SimpleNamespace(config=cfg, metrics=m, key=f"k{seed}".ljust(12, "0"), synthetic=False)


def test_undefined_precision_in_old_records_is_not_averaged_as_zero():
    runs = [_run(0, 0, 0, 5, 5, 0.0), _run(1, 4, 4, 1, 1, 0.5), _run(2, 2, 2, 3, 3, 0.5)]
    frame = views.runs_frame(dresunet.SPEC, runs)
    assert math.isnan(frame["precision"].iloc[0]) and math.isnan(frame["f1"].iloc[0])
    table = views.results_table(dresunet.SPEC, frame)
    assert table.loc["DResUNet", "Precision %"] == "50.00 ± 0.00 (n = 2 of 3)"
    only = views.results_table(dresunet.SPEC, frame.iloc[:1])
    assert only.loc["DResUNet", "Precision %"] == "— (n = 0 of 1)"
    # compare() averages the defined runs too, and the wide table says of how many
    wide = views.comparison_wide(dresunet.SPEC, views.compare_one(dresunet.SPEC, "Table 5.1", frame))
    assert wide.loc["DResUNet", ("Precision %", "re-run")] == "50.00 ± 0.00 (n = 2 of 3)"
    assert wide.loc["DResUNet", ("Accuracy %", "re-run")].endswith("(n = 3)")
    assert isinstance(wide, pd.DataFrame)


def test_validation_threshold_metrics_replace_the_thresholded_columns_only():
    run = _run(0, 0, 0, 5, 5, 0.0)  # at 0.5: nothing called COVID
    run.metrics["val_threshold"] = {"threshold": 0.31, "accuracy": 0.8, "precision": 0.75,
                                    "sensitivity": 0.9, "specificity": 0.7, "f1": 0.818,
                                    "g_mean": 0.794, "auc": 0.6, "tp": 9, "fp": 3, "tn": 7,
                                    "fn": 1, "n": 20}
    old = _run(1, 4, 4, 1, 1, 0.5)  # recorded before validation thresholds existed
    frame = views.runs_frame(dresunet.SPEC, [run, old])
    at_val = views.at_validation_threshold(frame)
    assert at_val["accuracy"].iloc[0] == 0.8 and at_val["tp"].iloc[0] == 9
    assert at_val["auc"].iloc[0] == frame["auc"].iloc[0] == 0.6  # threshold-free: unchanged
    assert frame["val_threshold"].iloc[0] == 0.31 and math.isnan(frame["val_threshold"].iloc[1])
    assert math.isnan(at_val["accuracy"].iloc[1])  # never silently the 0.5 value
    assert math.isnan(frame["precision"].iloc[0]) and frame["accuracy"].iloc[0] == 0.5
