"""Consistency rules on constructed tables whose answer is known (scikit-learn gives the truth)."""


import numpy as np
import pytest
from report_helpers import QUOTES_HEADER, mini_spec, write_chapter
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from covidnb.report.confusion import binary_feasible, binary_sizes, multiclass_feasible
from covidnb.report.intervals import Printed, printed
from covidnb.report.rules.accuracy import check_accuracy
from covidnb.report.rules.aggregate import sd_range
from covidnb.report.rules.averaging import consistent_readings
from covidnb.report.rules.f1 import check_f1
from covidnb.report.rules.gmean import check_g_mean
from covidnb.report.rules.same import check_same
from covidnb.report.rules.summary import check_summary
from covidnb.report.rules.units import unit_problem


def labels(tp, fn, fp, tn):
    y = np.array([1] * (tp + fn) + [0] * (fp + tn))
    p = np.array([1] * tp + [0] * fn + [1] * fp + [0] * tn)
    return y, p


def p4(x):
    return Printed(f"{x:.4f}")


# --- F1 against 2PR/(P+R) -------------------------------------------------------------------

def test_f1_consistent_row_raises_nothing():
    y, p = labels(30, 10, 5, 55)
    v = check_f1(p4(f1_score(y, p)), p4(precision_score(y, p)), p4(recall_score(y, p)))
    assert v.status == "ok"


def test_f1_perturbed_past_printed_precision_is_flagged():
    y, p = labels(30, 10, 5, 55)
    f1 = f1_score(y, p)  # 0.8000
    assert check_f1(p4(f1 + 0.0002), p4(precision_score(y, p)), p4(recall_score(y, p))).status == "flag"
    # within the printed digits (half a unit of the 4th decimal) it still holds
    assert check_f1(p4(f1 + 0.00004), p4(precision_score(y, p)), p4(recall_score(y, p))).status == "ok"


def test_dresunet_like_row_is_flagged_with_recomputed_value():
    v = check_f1(Printed("0.8292"), Printed("89.62", 0.01), Printed("30.29", 0.01))
    assert v.status == "flag"
    assert v.recomputed.mid == pytest.approx(2 * 0.8962 * 0.3029 / (0.8962 + 0.3029), abs=1e-4)


def test_f1_of_means_uses_printed_sd():
    # the F1 of mean P and R differs from the mean F1; the printed ± allow for it
    rng = np.random.default_rng(1)
    P = rng.normal(0.60, 0.08, 10).clip(0.3, 0.95)
    R = rng.normal(0.30, 0.10, 10).clip(0.05, 0.95)
    mean_f1 = np.mean(2 * P * R / (P + R))
    args = [Printed(f"{P.mean():.3f}", 1, f"{P.std(ddof=1):.3f}"),
            Printed(f"{R.mean():.3f}", 1, f"{R.std(ddof=1):.3f}")]
    assert check_f1(Printed(f"{mean_f1:.3f}"), *args, n_runs=10).status == "ok"


# --- G-mean --------------------------------------------------------------------------------

def test_g_mean_consistent_and_perturbed():
    sen, spe = 0.822, 0.877
    g = np.sqrt(sen * spe)
    assert check_g_mean(Printed(f"{g:.3f}"), Printed("0.822"), Printed("0.877")).status == "ok"
    assert check_g_mean(Printed(f"{g + 0.002:.3f}"), Printed("0.822"), Printed("0.877")).status == "flag"


# --- accuracy against recalls and counts -----------------------------------------------------

def test_accuracy_from_recalls_and_counts():
    y = np.repeat([0, 1, 2], 100)
    pred = y.copy()
    pred[:3], pred[100:121], pred[200:203] = 1, 0, 1   # recalls 0.97, 0.79, 0.97
    acc = accuracy_score(y, pred)
    recalls = [Printed(f"{recall_score(y, pred, labels=[c], average='macro'):.2f}") for c in range(3)]
    assert check_accuracy(Printed(f"{acc:.5f}"), [100, 100, 100], recalls).status == "ok"
    assert check_accuracy(Printed("0.94667"), [100, 100, 100], recalls).status == "flag"


# --- truncation instead of rounding ----------------------------------------------------------

def test_truncated_value_gives_a_note():
    parts = [Printed("0.100000"), Printed("0.200000"), Printed("0.200000")]  # mean 0.166667
    assert check_summary(Printed("0.1667"), parts, "mean").status == "ok"
    assert check_summary(Printed("0.1666"), parts, "mean").status == "note"   # cut, not rounded
    assert check_summary(Printed("0.1665"), parts, "mean").status == "flag"


def test_summary_total_of_counts():
    parts = [Printed("17"), Printed("55"), Printed("55"), Printed("2")]
    assert check_summary(Printed("129"), parts, "sum", exact=True).status == "ok"
    assert check_summary(Printed("55"), parts, "sum", exact=True).status == "flag"


def test_sd_range_matches_numpy():
    values = [0.8530, 0.8558, 0.8417, 0.8310, 0.8480, 0.8451]
    iv = sd_range([printed(f"{v:.4f}") for v in values])
    assert iv.contains(np.std(values, ddof=1))
    assert iv.width < 1e-4


# --- one quantity in two places, with units ---------------------------------------------------

def test_same_quantity_across_units():
    assert check_same(Printed("87.5", 0.01), Printed("0.875")).status == "ok"
    assert check_same(Printed("87.02", 0.01), Printed("95.02", 0.01)).status == "flag"
    assert check_same(Printed("90.0", 0.01), Printed("0.907"), relation=">=").status == "ok"
    assert check_same(Printed("90.0", 0.01), Printed("0.890"), relation=">=").status == "flag"


# --- integer confusion matrices --------------------------------------------------------------

def test_binary_feasible_finds_the_true_matrix():
    tp, fn, fp, tn = 74, 24, 13, 92
    y, p = labels(tp, fn, fp, tn)
    targets = {("accuracy", "positive"): printed(f"{accuracy_score(y, p):.4f}"),
               ("precision", "positive"): printed(f"{precision_score(y, p):.4f}"),
               ("sensitivity", "positive"): printed(f"{recall_score(y, p):.4f}"),
               ("f1", "positive"): printed(f"{f1_score(y, p):.4f}")}
    f = binary_feasible(98, 105, targets)
    assert f and f.example == (tp, fn, fp, tn)


def test_binary_infeasible_accuracy():
    # no k/203 lies within half a unit of the 4th decimal of 0.5
    assert not binary_feasible(98, 105, {("accuracy", "positive"): printed("0.5000")})


def test_binary_sizes_smallest_test_set():
    targets = {"sensitivity": printed("0.75"), "precision": printed("0.75"),
               "accuracy": printed("0.80")}
    found = binary_sizes(targets, max_n=30)
    pairs = {(a, b) for a, b, *_ in found}
    assert (4, 6) in pairs
    assert min(a + b for a, b in pairs) == 10


def test_multiclass_feasible_and_perturbed():
    counts = {"a": 100, "b": 100, "c": 100}
    y = np.repeat([0, 1, 2], 100)
    pred = y.copy()
    pred[:10] = 1
    pred[100:102] = 2
    pred[200:201] = 0
    per = {}
    for i, c in enumerate(counts):
        per[c] = {"sensitivity": printed(f"{recall_score(y, pred, labels=[i], average='macro'):.4f}"),
                  "precision": printed(f"{precision_score(y, pred, labels=[i], average='macro'):.4f}"),
                  "f1": printed(f"{f1_score(y, pred, labels=[i], average='macro'):.4f}")}
    acc = printed(f"{accuracy_score(y, pred):.4f}")
    ok, example = multiclass_feasible(counts, per, acc)
    assert ok and example["a"] == (90, 91)
    per["b"]["precision"] = printed("0.9500")
    assert multiclass_feasible(counts, per, acc)[0] is False


# --- which averaging -------------------------------------------------------------------------

def test_averaging_recognises_macro_f1():
    tp, fn, fp, tn = 1964, 331, 65, 436   # 2295 COVID / 501 CAP
    y, p = labels(tp, fn, fp, tn)
    sen = Printed(f"{recall_score(y, p):.3f}")
    spe = Printed(f"{recall_score(1 - y, 1 - p):.3f}")
    macro = Printed(f"{f1_score(y, p, average='macro'):.3f}")
    hits, _, _ = consistent_readings(macro, "f1", 2295, 501, sen, spe)
    assert "macro" in hits and "positive" not in hits
    positive = Printed(f"{f1_score(y, p):.3f}")
    assert "positive" in consistent_readings(positive, "f1", 2295, 501, sen, spe)[0]


# --- units ----------------------------------------------------------------------------------

def test_unit_problems():
    assert unit_problem("fraction", "%", [0.85, 0.95]) is not None
    assert unit_problem("%", None, [0.5, 0.9]) is not None
    assert unit_problem("fraction", None, [0.5, 95.0]) is not None
    assert unit_problem("%", None, [50.0, 90.0]) is None


# --- whole rules on a constructed chapter ----------------------------------------------------

SPEC = mini_spec({"ACC": "accuracy", "PRE": "precision", "SEN": "sensitivity", "F1": "f1"})


def test_rules_on_constructed_chapter(tmp_path):
    from covidnb.report import check

    y, p = labels(30, 10, 5, 55)
    good = (f"good,{accuracy_score(y, p):.4f},{precision_score(y, p):.4f},"
            f"{recall_score(y, p):.4f},{f1_score(y, p):.4f},ran\n")
    bad = (f"bad,{accuracy_score(y, p):.4f},{precision_score(y, p):.4f},"
           f"{recall_score(y, p):.4f},{f1_score(y, p) + 0.01:.4f},ran\n")
    write_chapter(
        tmp_path,
        SPEC,
        "Model,ACC,PRE,SEN,F1,origin\n" + good + bad,
        QUOTES_HEADER + "mini,Abstract,good accuracy,85.0,%,=,1,good,ACC\n",
    )
    df = check("mini", root=tmp_path)
    f1 = df[df.rule == "f1_pr"].set_index("row")["status"]
    assert f1["good"] == "ok" and f1["bad"] == "flag"
    conf = df[df.rule == "confusion"].set_index("row")["status"]
    assert conf["good"] == "ok" and conf["bad"] == "flag"
    assert df[df.rule == "quote"]["status"].tolist() == ["ok"]
    assert set(df.columns) >= {"paper", "table", "row", "rule", "printed", "recomputed", "difference"}
