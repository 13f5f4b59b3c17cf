"""The dual-sampling ensemble of Ouyang et al. 2020 (§III-E, Eq. 5):
``P = w · P_US + (1 − w) · P_SS`` with ``w`` chosen per case by its infection ratio.

Printed rule: ``w = 0.35`` when the ratio is ``< 0.001`` or ``> 0.030``, ``w = 0.96`` otherwise,
"determined with a hyperparameter search on the TV set". The text's own reasoning gives the
minority groups (COVID-19 below 0.030, CAP above 0.001), i.e. the 0.001–0.030 band, *more* weight
on the SS model, which is ``w`` small in the band — the printed numbers do the opposite. Both
are kept as parameters: :data:`PRINTED` and :data:`SWAPPED` (the other reading), and
:func:`grid_search` redoes the search on validation predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PRINTED", "SWAPPED", "EnsembleRule", "ensemble", "ensemble_weight", "grid_search"]


@dataclass(frozen=True)
class EnsembleRule:
    """``w`` (the US model's weight) inside the band ``[low, high]`` and outside it."""

    w_inside: float
    w_outside: float
    low: float = 0.001
    high: float = 0.030
    name: str = ""

    def __post_init__(self) -> None:
        for w in (self.w_inside, self.w_outside):
            if not 0 <= w <= 1:
                raise ValueError(f"ensemble weights must lie in [0, 1], got {w}")
        if not self.low <= self.high:
            raise ValueError(f"band [{self.low}, {self.high}] is empty")


PRINTED = EnsembleRule(w_inside=0.96, w_outside=0.35, name="printed (§III-E)")
SWAPPED = EnsembleRule(w_inside=0.35, w_outside=0.96, name="swapped (the text's reasoning)")


def ensemble_weight(ratio, rule: EnsembleRule = PRINTED) -> np.ndarray:
    """Per case ``w``: ``w_outside`` where ratio < low or ratio > high, else ``w_inside``. A NaN
    ratio (no masks) raises: the rule is undefined there."""
    r = np.asarray(ratio, dtype=np.float64)
    if np.isnan(r).any():
        raise ValueError(f"{int(np.isnan(r).sum())} case(s) have no infection ratio; the "
                         "ensemble rule needs one per case")
    outside = (r < rule.low) | (r > rule.high)
    return np.where(outside, rule.w_outside, rule.w_inside)


def ensemble(p_us, p_ss, ratio, rule: EnsembleRule = PRINTED) -> np.ndarray:
    """Eq. 5: ``w · P_US + (1 − w) · P_SS`` per case."""
    p_us, p_ss = np.asarray(p_us, dtype=np.float64), np.asarray(p_ss, dtype=np.float64)
    if p_us.shape != p_ss.shape or p_us.shape != np.shape(ratio):
        raise ValueError(f"P_US {p_us.shape}, P_SS {p_ss.shape} and ratio {np.shape(ratio)} differ")
    w = ensemble_weight(ratio, rule)
    return w * p_us + (1 - w) * p_ss


def grid_search(p_us, p_ss, ratio, y, grid: Sequence[float] = tuple(np.round(np.arange(0, 1.0001, 0.01), 2)),
                metric: str = "accuracy", threshold: float = 0.5,
                low: float = 0.001, high: float = 0.030) -> tuple[EnsembleRule, float]:
    """The ``(w_inside, w_outside)`` pair of ``grid`` that maximises ``metric`` (``"accuracy"`` at
    ``threshold`` or ``"auc"``) on validation predictions — the paper's "hyperparameter search on
    the TV set". Ties go to the first pair in grid order."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    best, best_score = None, -np.inf
    for wi in grid:
        for wo in grid:
            rule = EnsembleRule(float(wi), float(wo), low, high, name="grid search")
            p = ensemble(p_us, p_ss, ratio, rule)
            if metric == "auc":
                score = roc_auc_score(y, p) if len(np.unique(y)) == 2 else np.nan
            elif metric == "accuracy":
                score = float(np.mean((p >= threshold) == (y == 1)))
            else:
                raise ValueError(f"metric must be 'accuracy' or 'auc', got {metric!r}")
            if np.isfinite(score) and score > best_score:
                best, best_score = rule, score
    if best is None:
        raise ValueError("grid search found no defined score (one class only in y?)")
    return best, float(best_score)
