"""Statistics over printed cells, as intervals: sum, mean, sample SD, max, min, difference."""

from __future__ import annotations

import itertools
import math

import numpy as np

from covidnb.report.intervals import Interval


def _sd(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def sd_range(ivs: list[Interval]) -> Interval:
    """Range of the sample standard deviation over a box of values.

    The SD is convex in the values, so its maximum is at a corner (all corners are tried up to
    12 values); its minimum is reached by pulling every value toward a common centre, searched
    on a fine grid of centres.
    """
    if len(ivs) > 12:
        raise ValueError("sd over more than 12 printed values is not supported")
    hi = max(_sd(c) for c in itertools.product(*[(i.lo, i.hi) for i in ivs]))
    lo_c, hi_c = min(i.lo for i in ivs), max(i.hi for i in ivs)
    lo = min(_sd([min(max(c, i.lo), i.hi) for i in ivs]) for c in np.linspace(lo_c, hi_c, 2001))
    return Interval(min(lo, hi), hi)


def combine(stat: str, ivs: list[Interval]) -> Interval:
    if not ivs:
        raise ValueError("no values to combine")
    if stat == "sum":
        return sum(ivs[1:], ivs[0])
    if stat == "mean":
        return sum(ivs[1:], ivs[0]).scale(1.0 / len(ivs))
    if stat == "max":
        return Interval(max(i.lo for i in ivs), max(i.hi for i in ivs))
    if stat == "min":
        return Interval(min(i.lo for i in ivs), min(i.hi for i in ivs))
    if stat == "sd":
        return sd_range(ivs)
    if stat == "difference":
        if len(ivs) != 2:
            raise ValueError("a difference needs exactly two values")
        return ivs[0] - ivs[1]
    raise ValueError(f"unknown stat {stat!r}")


def combine_nominal(stat: str, values: list[float]) -> float:
    if stat == "sum":
        return float(sum(values))
    if stat == "mean":
        return float(sum(values) / len(values))
    if stat == "max":
        return float(max(values))
    if stat == "min":
        return float(min(values))
    if stat == "sd":
        return _sd(values)
    if stat == "difference":
        return values[0] - values[1]
    return math.nan
