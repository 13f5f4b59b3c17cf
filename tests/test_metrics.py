import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from covidnb.metrics import (
    UndefinedMetricWarning,
    binary_metrics,
    bootstrap_ci,
    confusion_matrix,
    flatten,
    format_mean_std,
    mark_undefined,
    mean_std,
    metrics_from_counts,
    multiclass_metrics,
    multilabel_auc,
    safe_auc,
)


def test_two_by_two_worked_by_hand():
    # TP=40, FN=10, FP=5, TN=45 (N=100)
    m = metrics_from_counts(tp=40, fp=5, tn=45, fn=10)
    assert m["accuracy"] == pytest.approx(85 / 100)
    assert m["precision"] == pytest.approx(40 / 45)
    assert m["sensitivity"] == pytest.approx(0.8)
    assert m["specificity"] == pytest.approx(0.9)
    assert m["f1"] == pytest.approx(2 * (40 / 45) * 0.8 / (40 / 45 + 0.8))
    assert m["g_mean"] == pytest.approx(math.sqrt(0.72))


def test_no_positive_call_leaves_precision_and_f1_undefined():
    # the Table 6 10 % failure: 98 COVID, 105 non-COVID, nothing called COVID
    m = metrics_from_counts(tp=0, fp=0, tn=105, fn=98)
    assert math.isnan(m["precision"]) and math.isnan(m["f1"])
    assert m["sensitivity"] == 0.0 and m["specificity"] == 1.0 and m["g_mean"] == 0.0
    assert m["accuracy"] == pytest.approx(105 / 203)
    # scikit-learn's convention is still available to a caller who asks for it
    assert metrics_from_counts(0, 0, 105, 98, zero_division=0.0)["precision"] == 0.0


def test_mark_undefined_reads_old_records_by_their_counts():
    old = {"tp": 0, "fp": 0, "tn": 105, "fn": 98, "precision": 0.0, "f1": 0.0,
           "g_mean": 0.0, "sensitivity": 0.0, "specificity": 1.0, "auc": 0.68}
    new = mark_undefined(old)
    assert math.isnan(new["precision"]) and math.isnan(new["f1"])
    assert new["g_mean"] == 0.0 and new["auc"] == 0.68 and old["precision"] == 0.0
    fine = {"tp": 3, "fp": 1, "tn": 5, "fn": 2, "precision": 0.75, "f1": 2 / 3}
    assert mark_undefined(fine) == fine
    assert mark_undefined({"accuracy": 0.5}) == {"accuracy": 0.5}  # no counts: unchanged


def test_binary_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = binary_metrics(y, s, threshold=0.5)
    pred = (s >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (tp, fp, tn, fn)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["g_mean"] == pytest.approx(math.sqrt(m["sensitivity"] * m["specificity"]))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))


def test_hand_auc_and_degenerate_cases():
    # positives 0.8, 0.4; negatives 0.6, 0.2: 3 of 4 pairs ordered → 0.75
    assert safe_auc([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)
    with pytest.warns(UndefinedMetricWarning, match="only class 1"):
        m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(m["auc"]) and m["sensitivity"] == pytest.approx(2 / 3)
    # no negatives: specificity is undefined, and so is the G-mean built on it
    assert math.isnan(m["specificity"]) and math.isnan(m["g_mean"])
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics([0, 2], [0.1, 0.2])


def test_multiclass_against_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = multiclass_metrics(y, p, ["covid", "normal", "cap"], positive="covid")
    pred = p.argmax(1)
    cm = skm.confusion_matrix(y, pred)
    np.testing.assert_array_equal(m["confusion_matrix"], cm)
    np.testing.assert_array_equal(confusion_matrix(y, pred, 3), cm)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    prec = skm.precision_score(y, pred, average=None)
    rec = skm.recall_score(y, pred, average=None)
    f1 = skm.f1_score(y, pred, average=None)
    auc = skm.roc_auc_score(y, p, multi_class="ovr", average=None)
    for k, name in enumerate(["covid", "normal", "cap"]):
        pc = m["per_class"][name]
        assert pc["precision"] == pytest.approx(prec[k])
        assert pc["sensitivity"] == pytest.approx(rec[k])
        assert pc["f1"] == pytest.approx(f1[k])
        assert pc["auc"] == pytest.approx(auc[k])
        spec = skm.recall_score(y != k, pred != k)
        assert pc["specificity"] == pytest.approx(spec)
        assert pc["accuracy"] == pytest.approx(skm.accuracy_score(y == k, pred == k))
        assert pc["support"] == int((y == k).sum())
    assert m["macro"]["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert m["macro"]["sensitivity"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert m["macro"]["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["macro"]["auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    assert m["positive"]["class"] == "covid" and m["positive"]["auc"] == pytest.approx(auc[0])


def test_multiclass_absent_class_and_bad_input():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    with pytest.warns(UndefinedMetricWarning, match="'c'"):
        m = multiclass_metrics(y, p, ["a", "b", "c"])
    assert math.isnan(m["per_class"]["c"]["auc"])
    assert m["macro"]["auc"] == pytest.approx(
        np.mean([m["per_class"]["a"]["auc"], m["per_class"]["b"]["auc"]])
    )
    assert m["accuracy"] == pytest.approx(2 / 4)  # predictions a, b, b, c
    with pytest.raises(ValueError, match="N×C"):
        multiclass_metrics(y, p[:, :2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="positive class"):
        multiclass_metrics(y, p, ["a", "b", "c"], positive="z")


def test_multilabel_auc_against_sklearn():
    rng = np.random.default_rng(2)
    Y = (rng.random((100, 4)) < 0.4).astype(int)
    S = Y * 0.4 + rng.random((100, 4))
    m = multilabel_auc(Y, S, list("abcd"))
    ref = skm.roc_auc_score(Y, S, average=None)
    np.testing.assert_allclose(list(m["per_label"].values()), ref)
    assert m["macro"] == pytest.approx(skm.roc_auc_score(Y, S, average="macro"))
    Y[:, 2] = 0
    with pytest.warns(UndefinedMetricWarning, match="'c'"):
        m = multilabel_auc(Y, S, list("abcd"))
    assert m["n_defined"] == 3 and math.isnan(m["per_label"]["c"])


def test_mean_std_and_format():
    df = pd.DataFrame(
        {"model": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0], "auc": [0.8, 0.9, 1.0, 0.5]}
    )
    out = mean_std(df, "model", ["auc"])
    row = out.set_index("model").loc["a"]
    assert row["auc_mean"] == pytest.approx(0.9)
    assert row["auc_std"] == pytest.approx(0.1)  # sample std of 0.8, 0.9, 1.0
    assert row["n"] == 3
    assert math.isnan(out.set_index("model").loc["b", "auc_std"])
    assert format_mean_std(0.912, 0.013, digits=1, scale=100) == "91.2 ± 1.3"
    with pytest.raises(KeyError, match="acc"):
        mean_std(df, "model", ["acc"])


def test_bootstrap_ci_seeded_and_covering():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    s = y * 0.5 + rng.random(120)
    acc = lambda y, s: float(np.mean((s >= 0.75) == y))
    a = bootstrap_ci(acc, y, s, n=300, seed=7)
    b = bootstrap_ci(acc, y, s, n=300, seed=7)
    assert a == b
    assert a.low <= a.estimate <= a.high and a.n_valid == 300
    # the percentile interval of a proportion ≈ p ± 1.96·sqrt(p(1−p)/n)
    half = 1.96 * math.sqrt(a.estimate * (1 - a.estimate) / 120)
    assert a.high - a.low == pytest.approx(2 * half, rel=0.25)
    tiny_y, tiny_s = np.array([0, 1, 1]), np.array([0.1, 0.8, 0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = bootstrap_ci(safe_auc, tiny_y, tiny_s, n=50, seed=0)
    assert c.n_valid < 50  # one-class resamples dropped
    assert bootstrap_ci(safe_auc, tiny_y, tiny_s, n=50, seed=0, stratified=True).n_valid == 50


def test_flatten():
    assert flatten({"a": 1, "m": {"auc": 0.5, "c": {"x": 2}}}) == {"a": 1, "m.auc": 0.5, "m.c.x": 2}
