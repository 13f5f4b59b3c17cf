"""F1 against its precision and recall: F1 = 2PR/(P+R) (e.g. Hu et al. 2021, Eq. 12).

For one confusion matrix the identity is exact, for any class and any test set. A printed row
whose F1 lies outside the range of 2PR/(P+R) over its printed precision and recall intervals
cannot come from one confusion matrix with that precision and recall.
"""

from __future__ import annotations

from covidnb.report.intervals import Printed
from covidnb.report.load import Chapter
from covidnb.report.rules.base import Finding, Verdict, digits_of, finding, printed_of, records
from covidnb.report.rules.identity import check_identity

RULE = "f1_pr"


def f1_score(p: float, r: float) -> float:
    """Harmonic mean of precision and recall (0 when both are 0)."""
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def check_f1(f1: Printed, precision: Printed, recall: Printed, n_runs: int | None = 1,
             first: str = "round") -> Verdict:
    return check_identity(f1, f1_score, [precision, recall], n_runs, first)


def rule_f1(chapter: Chapter) -> list[Finding]:
    out = []
    first = chapter.spec.rounding
    for rec in records(chapter):
        for cls in rec.classes("f1"):
            f, p, r = rec.get("f1", cls), rec.get("precision", cls), rec.get("sensitivity", cls)
            if p is None or r is None:
                continue
            v = check_f1(printed_of(f), printed_of(p), printed_of(r), rec.n_runs, first)
            what = f" of {cls}" if cls else ""
            msg = (f"F1{what} printed {f['text']}; 2PR/(P+R) from precision {p['text']} and "
                   f"recall {r['text']} gives {v.recomputed_text(digits_of(f['text']), f['scale'])}")
            if v.status == "flag":
                msg += (". No single confusion matrix has this precision, recall and F1 together; "
                        "one of the three cells, or the F1 formula used, differs from the others.")
            elif v.status == "note":
                msg += "; consistent only if the printed digits were truncated rather than rounded."
            if rec.n_runs and rec.n_runs > 1:
                msg += (f" (means over {rec.n_runs} runs; the printed ± widen the interval)"
                        if all(printed_of(x).has_sd for x in (p, r)) else
                        f" (means over {rec.n_runs} runs without ±: only the digits are used)")
            out.append(finding(RULE, v, chapter=chapter.name, table=f["label"], row=rec.label,
                               column=f["column"], printed=f["text"], message=msg,
                               origin=rec.origin, digits=digits_of(f["text"]), scale=f["scale"]))
    return out
