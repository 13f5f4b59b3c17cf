"""Integer confusion matrices that reproduce a printed row of metrics.

A single test run on ``n_pos`` positives and ``n_neg`` negatives ends in integer counts
``TP, FN, FP, TN``; every printed metric of that run is a ratio of them. A row is reachable when
some integer matrix on the stated class counts gives every printed metric inside the interval
its printed digits allow (:mod:`covidnb.report.intervals`). When the counts are not stated,
:func:`binary_sizes` lists which test-set sizes could produce the row.

Readings of a binary row (which class is "positive", and how per-class numbers are averaged):
``positive`` — the declared positive class (COVID-19 in every paper here); ``negative`` — the
other class taken as positive; ``macro`` — the mean of the two per-class values; ``weighted`` —
their mean weighted by class size. Accuracy and G-mean do not depend on the reading.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from covidnb.report.intervals import Interval

READINGS = ("positive", "negative", "macro", "weighted")
READING_FREE = {"accuracy", "g_mean"}
SLACK = 1e-9


def _div(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _per_class(tp, fn, fp, tn):
    """Recall, precision, F1 and specificity of the positive class and of the negative one."""
    pos = {"sensitivity": _div(tp, tp + fn), "precision": _div(tp, tp + fp),
           "f1": _div(2 * tp, 2 * tp + fp + fn), "specificity": _div(tn, tn + fp)}
    neg = {"sensitivity": _div(tn, tn + fp), "precision": _div(tn, tn + fn),
           "f1": _div(2 * tn, 2 * tn + fn + fp), "specificity": _div(tp, tp + fn)}
    return pos, neg


def binary_metric(metric: str, reading: str, tp, fn, fp, tn):
    """``metric`` of a binary confusion matrix (arrays allowed) under ``reading``."""
    tp, fn, fp, tn = (np.asarray(x, float) for x in (tp, fn, fp, tn))
    n = tp + fn + fp + tn
    if metric == "accuracy":
        return _div(tp + tn, n)
    if metric == "g_mean":
        return np.sqrt(_div(tp, tp + fn) * _div(tn, tn + fp))
    if metric not in ("sensitivity", "precision", "f1", "specificity"):
        raise ValueError(f"no confusion-matrix formula for {metric!r}")
    pos, neg = _per_class(tp, fn, fp, tn)
    if reading == "positive":
        return pos[metric]
    if reading == "negative":
        return neg[metric]
    if reading == "macro":
        return 0.5 * (pos[metric] + neg[metric])
    if reading == "weighted":
        w = _div(tp + fn, n)
        # a class's specificity is weighted by that class's size, like its other metrics
        return w * pos[metric] + (1 - w) * neg[metric]
    raise ValueError(f"unknown reading {reading!r}; one of {READINGS}")


def _inside(values, iv: Interval):
    return (values >= iv.lo - SLACK) & (values <= iv.hi + SLACK)


def _axis_range(iv: Interval | None, n: int) -> np.ndarray:
    if iv is None:
        return np.arange(n + 1)
    lo = max(0, math.ceil(iv.lo * n - SLACK))
    hi = min(n, math.floor(iv.hi * n + SLACK))
    return np.arange(lo, hi + 1)


def _narrow(cur: Interval | None, iv: Interval) -> Interval:
    if cur is None:
        return iv
    lo, hi = max(cur.lo, iv.lo), min(cur.hi, iv.hi)
    return Interval(lo, hi) if lo <= hi else Interval(2.0, 2.0)  # empty: no ratio reaches 2


@dataclass
class Feasible:
    """How many integer matrices fit, and one of them (``tp, fn, fp, tn``)."""

    count: int
    example: tuple[int, int, int, int] | None

    def __bool__(self) -> bool:
        return self.count > 0


def binary_feasible(n_pos: int, n_neg: int, targets: dict[tuple[str, str], Interval]) -> Feasible:
    """Integer ``(TP, TN)`` on ``n_pos``/``n_neg`` that put every target inside its interval.

    ``targets`` maps ``(metric, reading)`` to the interval the printed value allows; readings of
    accuracy and G-mean are ignored.
    """
    tp_iv = tn_iv = None
    for (m, r), iv in targets.items():
        # recalls pin one axis directly, which keeps the grid small
        if (m, r) in (("sensitivity", "positive"), ("specificity", "negative")):
            tp_iv = _narrow(tp_iv, iv)
        if (m, r) in (("specificity", "positive"), ("sensitivity", "negative")):
            tn_iv = _narrow(tn_iv, iv)
    tp = _axis_range(tp_iv, n_pos)[:, None]
    tn = _axis_range(tn_iv, n_neg)[None, :]
    if tp.size == 0 or tn.size == 0:
        return Feasible(0, None)
    fn, fp = n_pos - tp, n_neg - tn
    ok = np.ones((tp.shape[0], tn.shape[1]), bool)
    for (m, r), iv in targets.items():
        ok &= _inside(binary_metric(m, r, tp, fn, fp, tn), iv)
        if not ok.any():
            return Feasible(0, None)
    i, j = np.argwhere(ok)[0]
    t, n = int(tp[i, 0]), int(tn[0, j])
    return Feasible(int(ok.sum()), (t, n_pos - t, n_neg - n, n))


def binary_sizes(targets: dict[str, Interval], max_n: int = 1000, limit: int = 100000):
    """Class sizes ``(n_pos, n_neg)`` ≤ ``max_n`` for which some integer matrix fits the row.

    ``targets`` maps metric names (read for the positive class) to intervals and must hold the
    sensitivity and either the precision or the specificity; returns ``None`` otherwise.
    Returns a list of ``(n_pos, n_neg, tp, fn, fp, tn)``, at most ``limit`` of them.
    """
    sen = targets.get("sensitivity")
    pre, spe = targets.get("precision"), targets.get("specificity")
    if sen is None or (pre is None and spe is None):
        return None
    nn_all = np.arange(1, max_n + 1)
    out = []
    for n_pos in range(1, max_n + 1):
        for tp in _axis_range(sen, n_pos):
            fn = n_pos - tp
            if pre is not None:
                if tp == 0:
                    continue
                preds = range(max(tp, math.ceil(tp / pre.hi - SLACK)), math.floor(tp / pre.lo + SLACK) + 1)
                fps = [p - tp for p in preds]
            else:
                fps = None
            if fps is not None:
                for fp in fps:
                    nn = nn_all[nn_all >= fp]
                    tn = nn - fp
                    ok = np.ones(nn.shape, bool)
                    for m, iv in targets.items():
                        if m == "auc":
                            continue
                        ok &= _inside(binary_metric(m, "positive", tp, fn, fp, tn), iv)
                    for k in np.flatnonzero(ok):
                        out.append((n_pos, int(nn[k]), int(tp), int(fn), int(fp), int(tn[k])))
            else:
                lo = np.ceil(spe.lo * nn_all - SLACK).astype(int)
                hi = np.floor(spe.hi * nn_all + SLACK).astype(int)
                for off in range(int((hi - lo).max(initial=-1)) + 1):
                    tn = lo + off
                    valid = (tn <= hi) & (tn >= 0) & (tn <= nn_all)
                    fp = nn_all - tn
                    ok = valid.copy()
                    for m, iv in targets.items():
                        if m == "auc":
                            continue
                        ok &= _inside(binary_metric(m, "positive", tp, fn, fp, tn), iv)
                    for k in np.flatnonzero(ok):
                        out.append((n_pos, int(nn_all[k]), int(tp), int(fn), int(fp[k]), int(tn[k])))
            if len(out) >= limit:
                return out
    return out


def class_options(n: int, N: int, metrics: dict[str, Interval]):
    """Integer ``(TP, predicted)`` pairs of one class (``n`` true, ``N`` in all) that fit its
    printed recall, precision and F1. ``None`` when recall, or both precision and F1, are missing
    (the search would be unbounded)."""
    if "sensitivity" not in metrics:
        return None
    opts = []
    for tp in _axis_range(metrics["sensitivity"], n):
        tp = int(tp)
        if "precision" in metrics:
            if tp == 0:
                continue
            p = metrics["precision"]
            preds = range(max(tp, math.ceil(tp / p.hi - SLACK)), min(N, math.floor(tp / p.lo + SLACK)) + 1)
        elif "f1" in metrics and tp > 0:
            f = metrics["f1"]
            preds = range(max(tp, math.ceil(2 * tp / f.hi - n - SLACK)),
                          min(N, math.floor(2 * tp / f.lo - n + SLACK)) + 1)
        else:
            return None
        for pred in preds:
            if "f1" in metrics and not _inside(np.asarray(2 * tp / (pred + n)), metrics["f1"]):
                continue
            opts.append((tp, pred))
    return opts


def multiclass_feasible(counts: dict[str, int], per_class: dict[str, dict[str, Interval]],
                        accuracy: Interval | None = None, max_combinations: int = 2_000_000):
    """An integer multi-class confusion matrix reproducing per-class recall/precision/F1 and accuracy.

    Per class only the diagonal ``TP_c`` and the column total ``pred_c`` matter for these
    metrics; a zero-diagonal matrix of errors with row sums ``n_c − TP_c`` and column sums
    ``pred_c − TP_c`` exists iff both sum to the same total ``E`` and each class's row plus
    column error sum is at most ``E``. Returns ``(True, {cls: (tp, pred)})``,
    ``(False, None)``, or ``(None, reason)`` when a class lacks what the search needs.
    """
    classes = list(counts)
    N = sum(counts.values())
    options = []
    for c in classes:
        opts = class_options(counts[c], N, per_class.get(c, {}))
        if opts is None:
            return None, f"class {c} lacks a sensitivity, or both precision and F1"
        if not opts:
            return False, None
        options.append(opts)
    total = 1
    for o in options:
        total *= len(o)
    if total > max_combinations:
        return None, f"{total} combinations to search"
    for combo in itertools.product(*options):
        if sum(p for _, p in combo) != N:
            continue
        tp_sum = sum(t for t, _ in combo)
        if accuracy is not None and not (accuracy.lo - SLACK <= tp_sum / N <= accuracy.hi + SLACK):
            continue
        errors = N - tp_sum
        if all((counts[c] - t) + (p - t) <= errors for c, (t, p) in zip(classes, combo)):
            return True, dict(zip(classes, combo))
    return False, None
