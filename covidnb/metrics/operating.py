"""The operating point of a binary classifier, chosen on the validation split.

The papers threshold the positive probability at 0.5 (argmax of two softmax outputs). A model
trained from scratch on a few hundred images is often calibrated away from 0.5: its scores still
rank the classes (AUC) while every test image falls on one side of 0.5. A reader needs both
numbers, each labelled: the paper's rule, and a threshold chosen where it is allowed to be chosen
— on the validation split, never on test.

Rule: Youden's J = sensitivity + specificity − 1 (Youden 1950, *Cancer* 3:32), maximised over
the validation ROC curve; ties go to the threshold closest to 0.5, so that a validation set that
cannot tell thresholds apart leaves the paper's rule in place.
"""

from __future__ import annotations

import math

import numpy as np

from covidnb.metrics.binary import binary_metrics

RULE = "max Youden J (sensitivity + specificity − 1) on the validation split"


def youden_threshold(y, score) -> float:
    """The score threshold (predict positive when ``score >= t``) that maximises Youden's J on
    ``(y, score)``; NaN when ``y`` holds one class only (no ROC curve to read)."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if np.unique(y).size < 2:
        return math.nan
    fpr, tpr, thr = roc_curve(y, score)
    j = tpr - fpr
    finite = np.isfinite(thr)  # roc_curve's first threshold is +inf (nothing called positive)
    j, thr = j[finite], thr[finite]
    best = np.flatnonzero(np.isclose(j, j.max(), rtol=0, atol=1e-12))
    return float(thr[best[np.argmin(np.abs(thr[best] - 0.5))]])


def at_validation_threshold(val_y, val_score, test_y, test_score) -> dict:
    """Test metrics at the threshold chosen on the validation scores, with the threshold, its
    rule and the validation J it reached. ``threshold`` is NaN (and so are the thresholded
    metrics) when the validation split cannot define one."""
    t = youden_threshold(val_y, val_score)
    if math.isnan(t):
        return {"threshold": math.nan, "rule": RULE, "val_j": math.nan}
    m = binary_metrics(test_y, test_score, threshold=t)
    val = binary_metrics(val_y, val_score, threshold=t)
    m["rule"] = RULE
    m["val_j"] = val["sensitivity"] + val["specificity"] - 1
    return m


def one_class_share(score, threshold: float) -> float:
    """The share of samples on the larger side of ``threshold``: 1.0 means every sample is called
    the same class (a collapsed operating point)."""
    score = np.asarray(score, dtype=float).ravel()
    if score.size == 0 or math.isnan(threshold):
        return math.nan
    pos = float(np.mean(score >= threshold))
    return max(pos, 1.0 - pos)
