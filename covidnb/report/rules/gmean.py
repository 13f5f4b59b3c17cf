"""G-mean against sensitivity and specificity: G = sqrt(SEN·SPE) (Hu et al. 2021, Eq. 13)."""

from __future__ import annotations

import math

from covidnb.report.intervals import Printed
from covidnb.report.load import Chapter
from covidnb.report.rules.base import (
    Finding,
    Verdict,
    digits_of,
    finding,
    printed_of,
    records,
    verdict_sentence,
)
from covidnb.report.rules.identity import check_identity

RULE = "g_mean"


def g_mean(sen: float, spe: float) -> float:
    return math.sqrt(max(sen, 0.0) * max(spe, 0.0))


def check_g_mean(g: Printed, sen: Printed, spe: Printed, n_runs: int | None = 1,
                 first: str = "round") -> Verdict:
    return check_identity(g, g_mean, [sen, spe], n_runs, first)


def rule_g_mean(chapter: Chapter) -> list[Finding]:
    out = []
    for rec in records(chapter):
        for cls in rec.classes("g_mean"):
            g, s, p = rec.get("g_mean", cls), rec.get("sensitivity", cls), rec.get("specificity", cls)
            if s is None or p is None:
                continue
            v = check_g_mean(printed_of(g), printed_of(s), printed_of(p), rec.n_runs,
                             chapter.spec.rounding)
            msg = (f"G-mean printed {g['text']}; sqrt(SEN·SPE) from {s['text']} and {p['text']} "
                   f"gives {v.recomputed_text(digits_of(g['text']), g['scale'])}")
            msg += verdict_sentence(
                v.status, ". The G-mean cannot be the geometric mean of the printed SEN and SPE.")
            if rec.n_runs and rec.n_runs > 1:
                msg += f" (means over {rec.n_runs} runs; the printed ± widen the interval)"
            out.append(finding(RULE, v, chapter=chapter.name, table=g["label"], row=rec.label,
                               column=g["column"], printed=g["text"], message=msg,
                               origin=rec.origin, digits=digits_of(g["text"]), scale=g["scale"]))
    return out
