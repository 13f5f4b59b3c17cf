"""The operating point of a binary classifier, chosen on the validation split.

The papers threshold the positive probability at 0.5 (argmax of two softmax outputs). A model
trained from scratch on a few hundred images is often calibrated away from 0.5: its scores still
rank the classes (AUC) while every test image falls on one side of 0.5. A reader needs both
numbers, each labelled: the paper's rule, and a threshold chosen where it is allowed to be chosen
— on the validation split, never on test.

Rule: Youden's J = sensitivity + specificity − 1 (Youden 1950, *Cancer* 3:32), maximised over
the validation ROC curve; ties go to the threshold closest to 0.5, so that a validation set that
cannot tell thresholds apart leaves the paper's rule in place. When the validation scores rank the
classes no better than chance (validation AUC ≤ 0.5) no threshold is chosen at all: every J the
curve offers is then noise, and the largest one tends to sit at an extreme threshold that calls
every test image one class (pepx_resnet's source-task run of seed 1: validation AUC 0.40, chosen
threshold 0.014, every test image called Figure 1).

Multi-class (:func:`class_offsets`): the paper's rule is the argmax of the class probabilities.
The operating point chosen on validation adds one offset per class to the log-probabilities and
takes the argmax of the sum; the offsets maximise balanced accuracy (the mean of the per-class
sensitivities) on the validation split. For two classes this is Youden's rule again — balanced
accuracy is (J + 1) / 2, and an offset b on the positive class is the threshold 1 / (1 + e^b) —
and ties go, likewise, to the offsets closest to the plain argmax.
"""

from __future__ import annotations

import math

import numpy as np

from covidnb.metrics.binary import binary_metrics

RULE = "max Youden J (sensitivity + specificity − 1) on the validation split"
MULTICLASS_RULE = ("per-class offsets on the log-probabilities maximising balanced accuracy "
                   "(mean per-class sensitivity) on the validation split")
NO_SKILL = "validation AUC ≤ 0.5: the validation split gives no evidence to choose on"
# the offsets tried, per class and relative to the first: e^±3 ≈ a 20-fold change of the odds,
# in steps of 0.25 (a 1.28-fold change), fine enough for validation splits of a few dozen images
OFFSET_GRID = tuple(np.round(np.arange(-3.0, 3.0 + 1e-9, 0.25), 2))
MAX_OFFSET_CLASSES = 4  # a full grid over K − 1 offsets: 25³ candidates for 4 classes


def youden_threshold(y, score) -> float:
    """The score threshold (predict positive when ``score >= t``) that maximises Youden's J on
    ``(y, score)``; NaN when ``y`` holds one class only (no ROC curve to read)."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if np.unique(y).size < 2 or not _ranks_better_than_chance(y, score):
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
        out = {"threshold": math.nan, "rule": RULE, "val_j": math.nan}
        if np.unique(np.asarray(val_y)).size >= 2:
            out["why"] = NO_SKILL
        return out
    m = binary_metrics(test_y, test_score, threshold=t)
    val = binary_metrics(val_y, val_score, threshold=t)
    m["rule"] = RULE
    m["val_j"] = val["sensitivity"] + val["specificity"] - 1
    return m


def _ranks_better_than_chance(y, score) -> bool:
    from sklearn.metrics import roc_auc_score

    return bool(roc_auc_score(y, score) > 0.5)


def balanced_accuracy_from_confusion(cm) -> float:
    """Mean over classes of each class's sensitivity, from a confusion matrix (rows: true class);
    NaN when a class has no sample. (scikit-learn's ``balanced_accuracy_score`` averages over the
    classes present instead, which would score a split missing a class as if it had none.)"""
    cm = np.asarray(cm, dtype=float)
    if cm.ndim != 2 or not cm.size or np.any(cm.sum(1) == 0):
        return math.nan
    return float(np.mean(np.diag(cm) / cm.sum(1)))


def balanced_accuracy(y, pred, num_classes: int) -> float:
    """:func:`balanced_accuracy_from_confusion` of the calls ``pred`` against the labels ``y``."""
    from covidnb.metrics.multiclass import confusion_matrix

    return balanced_accuracy_from_confusion(confusion_matrix(y, pred, num_classes))


def most_called_share(cm) -> float:
    """The share of samples in the most-called class of a confusion matrix (columns: called
    class); 1.0 means every sample got the same call. NaN for an empty matrix."""
    cm = np.asarray(cm if cm is not None else [], dtype=float)
    return float(cm.sum(0).max() / cm.sum()) if cm.size and cm.sum() else math.nan


def class_offsets(y, probs, grid=OFFSET_GRID) -> np.ndarray | None:
    """The per-class offsets ``b`` (``b[0] = 0``) for which ``argmax(log p + b)`` has the highest
    balanced accuracy on ``(y, probs)``; among ties, the offsets with the smallest spread
    ``max(b) − min(b)`` (closest to the plain argmax, so a validation split that cannot tell them
    apart keeps the paper's rule). ``None`` when a class is absent from ``y`` (its sensitivity is
    undefined) or the probabilities rank the classes no better than chance (macro one-vs-rest
    AUC ≤ 0.5)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int).ravel()
    probs = np.asarray(probs, dtype=float)
    k = probs.shape[1]
    if k > MAX_OFFSET_CLASSES:
        raise ValueError(f"class_offsets searches a full grid: {k} classes are more than "
                         f"{MAX_OFFSET_CLASSES} (the grid grows as {len(grid)}^(K-1))")
    if set(np.unique(y)) != set(range(k)):
        return None
    auc = (roc_auc_score(y, probs[:, 1]) if k == 2 else
           roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=list(range(k))))
    if auc <= 0.5:
        return None
    g = np.asarray(grid, dtype=float)
    cand = np.stack(np.meshgrid(*([g] * (k - 1)), indexing="ij"), -1).reshape(-1, k - 1)
    cand = np.concatenate([np.zeros((len(cand), 1)), cand], axis=1)
    # the plain argmax first among equals: sort by spread, stable
    spread = np.ptp(cand, axis=1)
    cand = cand[np.argsort(spread, kind="stable")]
    logp = np.log(np.clip(probs, 1e-12, None))
    pred = (logp[None, :, :] + cand[:, None, :]).argmax(-1)  # candidates × samples
    hits = pred == y[None, :]
    bal = np.stack([hits[:, y == c].mean(1) for c in range(k)], 1).mean(1)
    best = int(np.flatnonzero(np.isclose(bal, bal.max(), rtol=0, atol=1e-12))[0])
    return cand[best]


def predict_with_offsets(probs, offsets) -> np.ndarray:
    """``argmax(log p + offsets)`` per row."""
    logp = np.log(np.clip(np.asarray(probs, dtype=float), 1e-12, None))
    return (logp + np.asarray(offsets, dtype=float)[None, :]).argmax(1)


def at_validation_offsets(val_y, val_probs, test_y, test_probs, classes) -> dict:
    """The multi-class counterpart of :func:`at_validation_threshold`: the test accuracy,
    confusion matrix and predicted counts at the offsets chosen on validation
    (:func:`class_offsets`), with the offsets, the rule and the validation balanced accuracy.
    ``offsets`` is ``None`` (and the rest absent) when validation cannot choose them."""
    from covidnb.metrics.multiclass import confusion_matrix

    classes = list(classes)
    if len(classes) > MAX_OFFSET_CLASSES:  # a trained run keeps its record: no offsets, and why
        return {"offsets": None, "rule": MULTICLASS_RULE,
                "why": f"{len(classes)} classes: the full grid of offsets is searched for at most "
                       f"{MAX_OFFSET_CLASSES}"}
    b = class_offsets(val_y, val_probs)
    if b is None:
        out = {"offsets": None, "rule": MULTICLASS_RULE}
        if set(np.unique(np.asarray(val_y, dtype=int))) == set(range(len(classes))):
            out["why"] = NO_SKILL
        return out
    test_y = np.asarray(test_y, dtype=int).ravel()
    called = predict_with_offsets(test_probs, b)
    val_called = predict_with_offsets(val_probs, b)
    cm = confusion_matrix(test_y, called, len(classes))
    return {"offsets": {c: float(v) for c, v in zip(classes, b)}, "rule": MULTICLASS_RULE,
            "val_balanced_accuracy": balanced_accuracy(val_y, val_called, len(classes)),
            "accuracy": float(np.trace(cm) / cm.sum()) if cm.sum() else math.nan,
            "balanced_accuracy": balanced_accuracy(test_y, called, len(classes)),
            "confusion_matrix": cm.tolist(), "n": int(cm.sum())}


def one_class_share(score, threshold: float) -> float:
    """The share of samples on the larger side of ``threshold``: 1.0 means every sample is called
    the same class (a collapsed operating point)."""
    score = np.asarray(score, dtype=float).ravel()
    if score.size == 0 or math.isnan(threshold):
        return math.nan
    pos = float(np.mean(score >= threshold))
    return max(pos, 1.0 - pos)
