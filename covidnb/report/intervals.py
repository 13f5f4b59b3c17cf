"""What a printed number stands for: an interval set by its printed digits.

A value printed with ``d`` decimals is only known to lie in an interval of width ``10**-d``:
``[v - u/2, v + u/2]`` when the authors rounded, ``[v, v + u]`` when they truncated
(cut the digits off), and the hull of both when we do not know which. Every consistency rule of
:mod:`covidnb.report.rules` compares intervals, never points with a fixed epsilon: a printed F1
is consistent with its precision and recall when the interval of ``2PR/(P+R)`` over the
precision and recall intervals meets the F1 interval.

Formulas are evaluated over boxes of intervals by :func:`evaluate`, which takes the extremes
over the corners of the box (plus interior grid points when asked). For a function monotone in
each argument on the box — F1 = 2PR/(P+R), G-mean = sqrt(SEN·SPE), accuracy as a weighted sum
of recalls, every confusion-matrix ratio used here — the corners give the exact range.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

MODES = ("round", "truncate", "either", "exact")

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[lo, hi]`` of real numbers."""

    lo: float
    hi: float

    def __post_init__(self):
        if not (self.lo <= self.hi) and not (math.isnan(self.lo) or math.isnan(self.hi)):
            raise ValueError(f"empty interval [{self.lo}, {self.hi}]")

    @classmethod
    def point(cls, x: float) -> Interval:
        return cls(float(x), float(x))

    @property
    def mid(self) -> float:
        return 0.5 * (self.lo + self.hi)

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def contains(self, x: float, slack: float = 1e-12) -> bool:
        return self.lo - slack <= x <= self.hi + slack

    def overlaps(self, other: Interval, slack: float = 1e-12) -> bool:
        """Whether the two intervals share a point (``slack`` only absorbs float round-off)."""
        return self.lo <= other.hi + slack and other.lo <= self.hi + slack

    def gap(self, other: Interval) -> float:
        """Distance between the intervals (0 when they overlap)."""
        return max(0.0, other.lo - self.hi, self.lo - other.hi)

    def hull(self, other: Interval) -> Interval:
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def scale(self, k: float) -> Interval:
        a, b = self.lo * k, self.hi * k
        return Interval(min(a, b), max(a, b))

    def __add__(self, other):
        o = _as_interval(other)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __sub__(self, other):
        o = _as_interval(other)
        return Interval(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other):
        return _as_interval(other) - self

    def __mul__(self, other):
        o = _as_interval(other)
        products = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return Interval(min(products), max(products))

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = _as_interval(other)
        if o.lo <= 0 <= o.hi:
            raise ZeroDivisionError(f"division by an interval containing 0: {o}")
        return self * Interval(1.0 / o.hi, 1.0 / o.lo)

    def __str__(self) -> str:
        return f"[{self.lo:.6g}, {self.hi:.6g}]"


def _as_interval(x) -> Interval:
    return x if isinstance(x, Interval) else Interval.point(float(x))


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(str(text).strip()))


def decimals(text: str) -> int:
    """Number of printed decimals of ``text`` (``"0.90"`` → 2, ``"55"`` → 0, ``"1e-3"`` → 3)."""
    try:
        exp = Decimal(str(text).strip()).as_tuple().exponent
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    return max(0, -int(exp))


def printed(text: str, mode: str = "round", scale: float = 1.0) -> Interval:
    """The interval a printed number stands for, times ``scale`` (e.g. 0.01 for a percentage).

    ``mode``: ``"round"`` (half a unit of the last digit either side), ``"truncate"`` (the
    digits were cut: up to one unit away from zero), ``"either"`` (hull of both) or ``"exact"``
    (counts and other integers that carry no rounding).
    """
    if mode not in MODES:
        raise ValueError(f"unknown rounding mode {mode!r}; one of {MODES}")
    text = str(text).strip()
    if not is_number(text):
        raise ValueError(f"not a number: {text!r}")
    v = float(text)
    if mode == "exact":
        iv = Interval.point(v)
    else:
        unit = 10.0 ** -decimals(text)
        rounded = Interval(v - unit / 2, v + unit / 2)
        truncated = Interval(v, v + unit) if v >= 0 else Interval(v - unit, v)
        iv = {"round": rounded, "truncate": truncated, "either": rounded.hull(truncated)}[mode]
    return iv.scale(scale)


def evaluate(f: Callable[..., float], *boxes: Interval, grid: int = 0) -> Interval:
    """Range of ``f`` over the box ``boxes[0] × boxes[1] × …``.

    The corners are always evaluated; ``grid > 0`` adds ``grid`` interior points per axis, for
    functions not known to be monotone. Exact for functions monotone in each argument.
    """
    axes = []
    for b in boxes:
        pts = [b.lo, b.hi]
        if grid:
            pts += list(np.linspace(b.lo, b.hi, grid + 2)[1:-1])
        axes.append(pts)
    values = []
    for point in itertools.product(*axes):
        try:
            y = f(*point)
        except ZeroDivisionError:
            continue
        if y is not None and np.isfinite(y):
            values.append(float(y))
    if not values:
        raise ValueError("the formula is undefined everywhere on the box")
    return Interval(min(values), max(values))


def mean_allowance(f: Callable[..., float], centers: Sequence[float], sds: Sequence[float],
                   h: float = 1e-4) -> Interval:
    """How far a mean over runs of ``f(X)`` may sit from ``f`` of the mean runs, to second order.

    A table printing "mean ± std over runs" for F1, precision and recall (or G-mean, SEN, SPE)
    prints ``E[f(X)]``, not ``f(E[X])``; for a curved ``f`` the two differ (Jensen's
    inequality). To second order ``E f(X) − f(μ) = ½ Σ_ij H_ij Cov_ij`` with ``H`` the Hessian of
    ``f`` at ``μ``; with the printed standard deviations ``σ`` and unknown correlations
    (``|Cov_ij| ≤ σ_i σ_j``) that gives the interval returned here. Linear formulas give
    ``[0, 0]``. The Hessian is taken by central differences.
    """
    x = np.asarray(centers, float)
    s = np.asarray(sds, float)
    k = len(x)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei = np.eye(k)[i] * h
            ej = np.eye(k)[j] * h
            H[i, j] = H[j, i] = (f(*(x + ei + ej)) - f(*(x + ei - ej)) - f(*(x - ei + ej))
                                 + f(*(x - ei - ej))) / (4 * h * h)
    diag = 0.5 * float(np.sum(np.diag(H) * s**2))
    off = float(sum(abs(H[i, j]) * s[i] * s[j] for i in range(k) for j in range(i + 1, k)))
    return Interval(diag - off, diag + off)


def hull(intervals: Iterable[Interval]) -> Interval:
    intervals = list(intervals)
    return Interval(min(i.lo for i in intervals), max(i.hi for i in intervals))


def fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}f}"


def fmt_interval(iv: Interval, digits: int = 4) -> str:
    if iv.width < 10 ** -(digits + 1):
        return fmt(iv.mid, digits)
    return f"{fmt(iv.mid, digits)} [{fmt(iv.lo, digits)}, {fmt(iv.hi, digits)}]"


@dataclass(frozen=True)
class Printed:
    """A printed number (as text, with its printed ± if any) and the factor to a fraction."""

    text: str
    scale: float = 1.0
    sd_text: str = ""

    def iv(self, mode: str = "round") -> Interval:
        return printed(self.text, mode, self.scale)

    @property
    def nominal(self) -> float:
        return float(self.text) * self.scale

    @property
    def has_sd(self) -> bool:
        return bool(self.sd_text)

    def sd_hi(self, mode: str = "round") -> float:
        """The largest standard deviation the printed ± allows (0 when none is printed)."""
        return printed(self.sd_text, mode, self.scale).hi if self.sd_text else 0.0
