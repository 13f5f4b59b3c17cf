"""A printed value against a formula of other printed values of the same row.

Shared by the F1 and G-mean rules. For a row that is a mean over several runs the formula of
the means is not the mean of the formula (Jensen's inequality); the printed standard deviations
bound the gap to second order (:func:`covidnb.report.intervals.mean_allowance`), and that
allowance widens the recomputed interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from covidnb.report.intervals import Interval, Printed, evaluate, mean_allowance
from covidnb.report.rules.base import Verdict, judge


def check_identity(target: Printed, formula: Callable[..., float], args: Sequence[Printed],
                   n_runs: int | None = 1, first: str = "round") -> Verdict:
    """Is ``target`` consistent with ``formula(*args)`` at the printed precision?

    ``formula`` must be monotone in each argument over the box (F1, G-mean are), so the
    corners of the box give its exact range.
    """
    use_sd = bool(n_runs and n_runs > 1 and all(a.has_sd for a in args))

    def compute(mode: str) -> tuple[Interval, Interval]:
        rec = evaluate(formula, *(a.iv(mode) for a in args))
        if use_sd and mode != "exact":
            gap = mean_allowance(formula, [a.nominal for a in args],
                                 [a.sd_hi(mode) for a in args])
            rec = Interval(rec.lo + min(gap.lo, 0.0), rec.hi + max(gap.hi, 0.0))
        return target.iv(mode), rec

    return judge(compute, first)
