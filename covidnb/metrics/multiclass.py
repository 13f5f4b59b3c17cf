"""Multi-class metrics: per class (each class against the rest), macro averages, overall accuracy.

``multiclass_metrics`` predicts ``argmax(scores)``; class *c*'s precision, sensitivity,
specificity, F1, G-mean and accuracy come from the 2×2 matrix "c vs rest" of that prediction, and
its AUC from ``scores[:, c]`` (one-vs-rest). Macro = unweighted mean over classes (so macro AUC
equals scikit-learn's ``roc_auc_score(..., multi_class="ovr", average="macro")``); overall
accuracy = trace / N. Classes whose AUC is undefined (absent from ``y``) are NaN and left out of
the macro AUC, with a warning.

Scores must be *probabilities* (each row in [0, 1] and summing to 1 within ``PROB_TOL``): the
one-vs-rest AUC of class *c* ranks samples by ``scores[:, c]``, and a logit does not rank like its
probability (softmax couples the columns), so logits give another, wrong AUC (0.689 against 0.729
on one random set). Anything else raises ``ValueError``; pass ``from_logits=True`` to have logits
converted with a softmax first.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from covidnb.metrics.binary import UndefinedMetricWarning, metrics_from_counts, safe_auc

PER_CLASS = ("accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc")
PROB_TOL = 1e-3  # rows of probabilities sum to 1 within this (float32 softmax, CSV round trips)


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=float)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_probabilities(scores: np.ndarray, tol: float = PROB_TOL) -> None:
    """Raise ``ValueError`` unless ``scores`` (N×C) holds probabilities: finite, in [0, 1], each
    row summing to 1 within ``tol``."""
    if not scores.size:
        return
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or Inf; expected class probabilities")
    if scores.min() < -tol or scores.max() > 1 + tol:
        raise ValueError(
            f"scores range over [{scores.min():.4g}, {scores.max():.4g}]: these are not "
            "probabilities (logits?); pass probabilities, or from_logits=True to apply a softmax"
        )
    sums = scores.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > tol:
        raise ValueError(
            f"score rows must sum to 1 (probabilities); row {worst} sums to {sums[worst]:.6g}. "
            "Pass probabilities, or from_logits=True to apply a softmax"
        )


def confusion_matrix(y, y_pred, num_classes: int) -> np.ndarray:
    """``M[i, j]`` = samples of true class *i* predicted as *j* (scikit-learn's layout)."""
    y = np.asarray(y, dtype=int).ravel()
    y_pred = np.asarray(y_pred, dtype=int).ravel()
    return np.bincount(y * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def multiclass_metrics(
    y, scores, classes: Sequence[str], positive: str | None = None, zero_division: float = 0.0,
    *, from_logits: bool = False,
) -> dict:
    """``{"accuracy", "macro": {...}, "per_class": {name: {...}}, "confusion_matrix", "classes", "n"}``.

    ``scores`` is ``N×C`` class *probabilities* (rows summing to 1 within ``PROB_TOL``; anything
    else raises ``ValueError``); with ``from_logits=True`` it is logits, converted by a softmax
    before anything is computed. Logits are never used as they are: their one-vs-rest AUC
    differs from the probabilities'. With ``positive`` (a class name) the result also holds
    ``"positive"``: that class's one-vs-rest entry, e.g. COVID-19 against everything else.
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
    if from_logits:
        scores = softmax(scores) if scores.size else scores
    else:
        check_probabilities(scores)
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
