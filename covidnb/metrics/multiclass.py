"""Multi-class metrics: per class (each class against the rest), macro averages, overall accuracy.

``multiclass_metrics`` predicts ``argmax(scores)``; class *c*'s precision, sensitivity,
specificity, F1, G-mean and accuracy come from the 2×2 matrix "c vs rest" of that prediction, and
its AUC from ``scores[:, c]`` (one-vs-rest). Macro = unweighted mean over classes (so macro AUC
equals scikit-learn's ``roc_auc_score(..., multi_class="ovr", average="macro")``); overall
accuracy = trace / N. Classes whose AUC is undefined (absent from ``y``) are NaN and left out of
the macro AUC, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from covidnb.metrics.binary import UndefinedMetricWarning, metrics_from_counts, safe_auc

PER_CLASS = ("accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc")


def confusion_matrix(y, y_pred, num_classes: int) -> np.ndarray:
    """``M[i, j]`` = samples of true class *i* predicted as *j* (scikit-learn's layout)."""
    y = np.asarray(y, dtype=int).ravel()
    y_pred = np.asarray(y_pred, dtype=int).ravel()
    return np.bincount(y * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def multiclass_metrics(
    y, scores, classes: Sequence[str], positive: str | None = None, zero_division: float = 0.0
) -> dict:
    """``{"accuracy", "macro": {...}, "per_class": {name: {...}}, "confusion_matrix", "classes", "n"}``.

    ``scores`` is ``N×C`` (probabilities or logits; only the order matters for the prediction and
    the AUC). With ``positive`` (a class name) the result also holds ``"positive"``: that class's
    one-vs-rest entry, e.g. COVID-19 against everything else.
    """
    classes = list(classes)
    y = np.asarray(y).ravel()
    scores = np.asarray(scores, dtype=float)
    c = len(classes)
    if scores.ndim != 2 or scores.shape != (y.size, c):
        raise ValueError(f"scores must be N×C = {y.size}×{c}, got shape {scores.shape}")
    if y.size and (y.min() < 0 or y.max() >= c or not np.all(y == np.round(y))):
        raise ValueError(
            f"y must hold class indices in [0, {c}), got values {np.unique(y)[:10].tolist()}"
        )
    if positive is not None and positive not in classes:
        raise ValueError(f"positive class {positive!r} is not one of {classes}")
    y = y.astype(int)
    cm = confusion_matrix(y, scores.argmax(axis=1), c)
    n = int(cm.sum())
    per_class: dict[str, dict] = {}
    for k, name in enumerate(classes):
        tp = int(cm[k, k])
        fn = int(cm[k].sum() - tp)
        fp = int(cm[:, k].sum() - tp)
        tn = n - tp - fn - fp
        m = metrics_from_counts(tp, fp, tn, fn, zero_division)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UndefinedMetricWarning)
            m["auc"] = safe_auc((y == k).astype(int), scores[:, k])
        if caught:
            warnings.warn(
                f"AUC of class {name!r} undefined (class {'absent' if tp + fn == 0 else 'alone'} in y); NaN",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        m["support"] = tp + fn
        per_class[name] = m
    macro = {}
    for key in PER_CLASS:
        vals = np.array([per_class[name][key] for name in classes], dtype=float)
        macro[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out = {
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
        "macro": macro,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": classes,
        "n": n,
    }
    if positive is not None:
        out["positive"] = {"class": positive, **per_class[positive]}
    return out
