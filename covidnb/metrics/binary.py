"""Binary classification metrics from a confusion matrix, and a ROC AUC that never crashes.

Definitions (positive class = 1): accuracy = (TP+TN)/N; precision = TP/(TP+FP);
sensitivity (recall) = TP/(TP+FN); specificity = TN/(TN+FP); F1 = 2·P·R/(P+R);
G-mean = √(sensitivity · specificity). A ratio with a zero denominator is undefined: NaN by
default (``zero_division``), so that a run that calls nothing positive has *no* precision rather
than a precision of 0 that a mean over seeds would silently average in. F1 is the harmonic mean of
P and R, so it is undefined whenever P or R is; G-mean likewise. AUC is undefined when ``y`` holds
one class only: it is NaN, with a warning. :func:`mark_undefined` applies the same rule to a stored
record made under the old convention (0 for an undefined ratio), from its confusion counts.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

NAMES = ("accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc")


class UndefinedMetricWarning(UserWarning):
    """A metric had no defined value (e.g. AUC with one class present); NaN was returned."""


def _ratio(num: float, den: float, zero_division: float) -> float:
    return float(num) / float(den) if den else float(zero_division)


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """``{"tp", "fp", "tn", "fn"}`` for 0/1 vectors."""
    y_true = _as_binary(y_true, "y_true")
    y_pred = _as_binary(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    return {
        "tp": int(np.sum((y_true == 1) & (y_pred == 1))),
        "fp": int(np.sum((y_true == 0) & (y_pred == 1))),
        "tn": int(np.sum((y_true == 0) & (y_pred == 0))),
        "fn": int(np.sum((y_true == 1) & (y_pred == 0))),
    }


def metrics_from_counts(
    tp: int, fp: int, tn: int, fn: int, zero_division: float = math.nan
) -> dict[str, float]:
    """accuracy, precision, sensitivity, specificity, f1, g_mean of one confusion matrix.

    A metric whose denominator is zero is ``zero_division`` (NaN unless a caller asks for
    scikit-learn's 0); F1 and G-mean are undefined as soon as one of their factors is.
    """
    n = tp + fp + tn + fn
    precision = _ratio(tp, tp + fp, zero_division)
    sensitivity = _ratio(tp, tp + fn, zero_division)
    specificity = _ratio(tn, tn + fp, zero_division)
    if tp + fp == 0 or tp + fn == 0:
        f1 = float(zero_division)
    else:  # = 2PR/(P+R), without dividing twice
        f1 = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    return {
        "accuracy": _ratio(tp + tn, n, zero_division),
        "precision": precision,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "f1": f1,
        "g_mean": math.sqrt(sensitivity * specificity),
    }


# Which metric becomes undefined when which denominator is zero (a record's counts say which).
_DENOMINATORS = {
    "precision": ("tp", "fp"),
    "sensitivity": ("tp", "fn"),
    "specificity": ("tn", "fp"),
}
_DEPENDS = {"f1": ("precision", "sensitivity"), "g_mean": ("sensitivity", "specificity")}


def undefined_metrics(counts: dict) -> set[str]:
    """Names of the thresholded metrics that a confusion matrix ``{tp, fp, tn, fn}`` leaves
    undefined (a zero denominator, or a factor of F1 / G-mean that is undefined)."""
    out = {m for m, (a, b) in _DENOMINATORS.items() if int(counts[a]) + int(counts[b]) == 0}
    out |= {m for m, parts in _DEPENDS.items() if out & set(parts)}
    return out


def mark_undefined(metrics: dict) -> dict:
    """A copy of a binary run's ``metrics`` with every metric its confusion counts leave
    undefined set to NaN.

    Records written before NaN became the rule store 0 for an undefined precision (and the F1
    and G-mean built on it); this reads them as what they are. A record without counts, or a
    multi-class one, comes back unchanged.
    """
    out = dict(metrics)
    if not all(k in out for k in ("tp", "fp", "tn", "fn")):
        return out
    for name in undefined_metrics(out):
        if name in out:
            out[name] = math.nan
    return out


def safe_auc(y_true, score) -> float:
    """ROC AUC (scikit-learn); NaN with an :class:`UndefinedMetricWarning` when one class only."""
    from sklearn.metrics import roc_auc_score

    y_true = _as_binary(y_true, "y_true")
    score = np.asarray(score, dtype=float).ravel()
    if score.shape != y_true.shape:
        raise ValueError(f"y_true has {y_true.size} values, score {score.size}")
    if np.unique(y_true).size < 2:
        warnings.warn(
            f"AUC undefined: only class {int(y_true[0]) if y_true.size else '—'} present in y_true "
            f"(n={y_true.size}); returning NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    if not np.all(np.isfinite(score)):
        raise ValueError("AUC: scores contain NaN or Inf")
    return float(roc_auc_score(y_true, score))


def binary_metrics(
    y, score, threshold: float = 0.5, zero_division: float = math.nan
) -> dict[str, float]:
    """All metric names of :data:`NAMES` plus ``tp, fp, tn, fn, n`` and ``threshold``.

    ``score`` is the positive class's probability (or any score when ``threshold`` fits it);
    a sample is predicted positive when ``score >= threshold``.
    """
    y = _as_binary(y, "y")
    score = np.asarray(score, dtype=float).ravel()
    counts = confusion_counts(y, (score >= threshold).astype(int))
    out: dict[str, float] = metrics_from_counts(**counts, zero_division=zero_division)
    out["auc"] = safe_auc(y, score)
    out.update(counts)
    out["n"] = int(y.size)
    out["threshold"] = float(threshold)
    return out


def _as_binary(y, name: str) -> np.ndarray:
    y = np.asarray(y).ravel()
    if y.dtype == bool:
        return y.astype(int)
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must hold 0/1 labels, found {np.unique(y[bad])[:5].tolist()}")
    return y.astype(int)
