"""Summaries over repeats and samples: mean ± std over runs, bootstrap confidence intervals,
and flattening nested metric dicts into table columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


def flatten(d: dict, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """``{"macro": {"auc": .9}}`` → ``{"macro.auc": .9}``; lists are kept as values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{sep}{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key, sep))
        else:
            out[key] = v
    return out


def mean_std(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None,
    metrics: Sequence[str] | None = None,
    ddof: int = 1,
) -> pd.DataFrame:
    """Mean, standard deviation (``ddof=1``, the sample std, by default) and count of each metric
    over the rows of each group of ``by`` (e.g. the seeds of one configuration).

    Columns: the ``by`` columns, then ``<metric>_mean``, ``<metric>_std`` per metric, then ``n``.
    ``metrics`` defaults to every numeric column not in ``by``. A group of one has std NaN.
    """
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + list(metrics or []) if c not in frame.columns]
    if missing:
        raise KeyError(
            f"mean_std: column(s) {missing} not in the frame; columns: {list(frame.columns)}"
        )
    if metrics is None:
        metrics = [c for c in frame.select_dtypes("number").columns if c not in by]
    metrics = list(metrics)
    if by:
        grouped = frame.groupby(by, sort=True, dropna=False)[metrics]
        mean, std, n = grouped.mean(), grouped.std(ddof=ddof), grouped.size()
    else:
        mean = frame[metrics].mean().to_frame().T
        std = frame[metrics].std(ddof=ddof).to_frame().T
        n = pd.Series([len(frame)])
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[f"{m}_mean"] = mean[m]
        out[f"{m}_std"] = std[m]
    out["n"] = n.to_numpy()
    return out.reset_index() if by else out.reset_index(drop=True)


def format_mean_std(mean: float, std: float, digits: int = 3, scale: float = 1.0) -> str:
    """``"91.2 ± 1.3"`` (with ``scale=100, digits=1``); a std of NaN prints the mean alone."""
    if not np.isfinite(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


class CI(NamedTuple):
    estimate: float
    low: float
    high: float
    level: float
    n_valid: int


def bootstrap_ci(
    fn: Callable[[np.ndarray, np.ndarray], float],
    y,
    s,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    stratified: bool = False,
) -> CI:
    """Percentile bootstrap interval of ``fn(y, s)`` over ``n`` resamples with replacement.

    Resamples where ``fn`` is undefined (NaN, e.g. AUC on a one-class resample) are dropped and
    counted out of ``n_valid``. ``stratified=True`` resamples within each value of ``y`` (keeps the
    class counts fixed, so AUC is always defined). Seeded: the same call gives the same interval.
    """
    import warnings

    y = np.asarray(y)
    s = np.asarray(s)
    if len(y) != len(s):
        raise ValueError(f"bootstrap_ci: y has {len(y)} rows, s {len(s)}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    estimate = float(fn(y, s))
    groups = [np.flatnonzero(y == v) for v in np.unique(y)] if stratified else [np.arange(len(y))]
    stats = np.empty(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(n):
            idx = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
            stats[b] = fn(y[idx], s[idx])
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return CI(estimate, float("nan"), float("nan"), level, 0)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return CI(estimate, float(low), float(high), level, int(stats.size))
