"""Printed-precision intervals: what a printed number stands for, and formulas over boxes."""

import math

import numpy as np
import pytest

from covidnb.report.intervals import Interval, Printed, decimals, evaluate, mean_allowance, printed


def test_decimals_keep_trailing_zeros():
    assert decimals("0.90") == 2
    assert decimals("55") == 0
    assert decimals("0.95237") == 5


@pytest.mark.parametrize("text,mode,lo,hi", [
    ("0.90", "round", 0.895, 0.905),
    ("0.90", "truncate", 0.90, 0.91),
    ("0.90", "either", 0.895, 0.91),
    ("55", "exact", 55, 55),
    ("-0.120", "round", -0.1205, -0.1195),
    ("-0.120", "truncate", -0.121, -0.120),
])
def test_printed_interval(text, mode, lo, hi):
    iv = printed(text, mode)
    assert iv.lo == pytest.approx(lo) and iv.hi == pytest.approx(hi)


def test_percent_scale():
    iv = printed("85.54", "round", 0.01)
    assert iv.lo == pytest.approx(0.85535) and iv.hi == pytest.approx(0.85545)


def test_non_number_is_refused():
    with pytest.raises(ValueError, match="not a number"):
        printed("0.8x")


def test_interval_arithmetic():
    a, b = Interval(1, 2), Interval(-1, 3)
    assert (a + b) == Interval(0, 5)
    assert (a - b) == Interval(-2, 3)
    assert (a * b) == Interval(-2, 6)
    assert a.overlaps(Interval(2, 4)) and not a.overlaps(Interval(2.1, 4))
    assert a.gap(Interval(3, 4)) == pytest.approx(1)


def test_evaluate_monotone_formula_is_exact_at_corners():
    f1 = lambda p, r: 2 * p * r / (p + r)
    p, r = Interval(0.8, 0.9), Interval(0.5, 0.6)
    iv = evaluate(f1, p, r)
    grid = [f1(x, y) for x in np.linspace(0.8, 0.9, 21) for y in np.linspace(0.5, 0.6, 21)]
    assert iv.lo == pytest.approx(min(grid)) and iv.hi == pytest.approx(max(grid))


def test_mean_allowance_linear_is_zero():
    gap = mean_allowance(lambda x, y: 0.3 * x + 0.7 * y, [0.5, 0.5], [0.1, 0.2])
    assert abs(gap.lo) < 1e-6 and abs(gap.hi) < 1e-6


def test_mean_allowance_covers_jensen_gap_of_g_mean():
    # mean over runs of sqrt(SEN·SPE) sits below sqrt of the mean SEN·SPE (concave G-mean)
    rng = np.random.default_rng(0)
    sen = rng.normal(0.08, 0.018, 200_000).clip(1e-6)
    spe = rng.normal(0.983, 0.005, 200_000)
    true_gap = np.sqrt(sen * spe).mean() - math.sqrt(sen.mean() * spe.mean())
    gap = mean_allowance(lambda s, p: math.sqrt(s * p), [0.08, 0.983], [0.018, 0.005])
    assert true_gap < 0
    assert gap.lo - 2e-4 <= true_gap <= gap.hi + 2e-4


def test_printed_with_sd():
    p = Printed("83.6", 0.01, "1.3")
    assert p.nominal == pytest.approx(0.836)
    assert p.sd_hi() == pytest.approx(0.0135)
