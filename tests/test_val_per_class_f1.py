"""Per-class validation F1 per epoch (``val_f1_<k>``) in multi-class histories only (issue 15,
item 4: Fig. 10 of the pepx_resnet paper plots per-class F1 against the epoch)."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn
from toydata import ToyDataset

from covidnb.models import build_model
from covidnb.train import TrainConfig, fit, predict, seed_everything
from covidnb.train.loop import _val_scores

torch.set_num_threads(1)

CLASSES = ("normal", "pneumonia", "covid")


def _cfg(**kw):
    base = {"epochs": 2, "batch_size": 8, "lr": 0.01, "seed": 3, "progress": False}
    base.update(kw)
    return TrainConfig(**base)


def test_val_scores_per_class_f1_worked_by_hand():
    # y = [0,0,1,1,2,2]; argmax predictions [0,1,1,1,0,0]: class 2 is never predicted.
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    p = np.full((6, 3), 0.1)
    p[np.arange(6), pred] = 0.8
    s = _val_scores(p, y, multilabel=False)
    # class 0: TP 1, FP 2, FN 1 -> 2/(2+2+1) = 0.4; class 1: TP 2, FP 1, FN 0 -> 4/5 = 0.8
    assert s["val_f1_0"] == pytest.approx(0.4)
    assert s["val_f1_1"] == pytest.approx(0.8)
    # class 2 is never predicted: precision 0/0 is undefined, so F1 is NaN, never 0
    assert math.isnan(s["val_f1_2"])
    assert s["val_accuracy"] == pytest.approx(3 / 6)
    assert set(s) == {"val_auc", "val_accuracy", "val_f1_0", "val_f1_1", "val_f1_2"}


def test_val_scores_binary_and_multilabel_keep_two_columns():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]])
    assert set(_val_scores(p, y, multilabel=False)) == {"val_auc", "val_accuracy"}
    ym = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    pm = np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.3], [0.7, 0.4, 0.2], [0.3, 0.1, 0.9]])
    assert set(_val_scores(pm, ym, multilabel=True)) == {"val_auc", "val_accuracy"}


def test_three_class_fit_records_per_class_f1_matching_sklearn():
    tr = ToyDataset(36, classes=CLASSES, seed=0)
    va = ToyDataset(18, classes=CLASSES, seed=1, split="val")
    seed_everything(0)
    # A linear model at a small lr is half-way there after 2 epochs (tinycnn still predicts one
    # class): with this seed the rows hold F1 values strictly between 0 and 1, a real 0 and a NaN.
    model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3))
    # select "last": the weights left in the model are the last epoch's, whose F1 the row holds
    res = fit(model, nn.CrossEntropyLoss(), tr, va, _cfg(select="last", lr=3e-4))
    h = res.history
    cols = [f"val_f1_{k}" for k in range(3)]
    assert set(cols) <= set(h.columns) and list(h["epoch"]) == [1, 2]
    vals = h[cols].to_numpy(dtype=float)
    assert np.all(np.isnan(vals) | ((vals >= 0) & (vals <= 1)))

    df = predict(model, va, _cfg())
    y = df["label"].to_numpy()
    yhat = df[[f"p_{c}" for c in CLASSES]].to_numpy().argmax(1)
    ref = f1_score(y, yhat, labels=[0, 1, 2], average=None, zero_division=np.nan)
    last = h[cols].iloc[-1].to_numpy(dtype=float)
    defined = 0
    for k in range(3):
        if (yhat == k).sum() == 0 or (y == k).sum() == 0:
            # the library's convention: no prediction of (or no sample of) k -> no F1
            assert math.isnan(last[k])
        else:
            assert last[k] == pytest.approx(ref[k], abs=1e-12)
            defined += 1
    assert defined >= 1  # the comparison with sklearn really ran


def test_binary_fit_has_no_per_class_f1_columns():
    tr, va = ToyDataset(24, seed=0), ToyDataset(12, seed=1, split="val")
    seed_everything(0)
    model = build_model("tinycnn", in_channels=1, num_classes=2)
    res = fit(model, nn.CrossEntropyLoss(), tr, va, _cfg())
    assert "val_auc" in res.history and "val_accuracy" in res.history
    assert not [c for c in res.history.columns if c.startswith("val_f1")]
