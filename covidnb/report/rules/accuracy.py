"""Accuracy against the per-class recalls and the class counts of the test set.

Overall accuracy is the class-size-weighted mean of the per-class recalls:
``ACC = Σ_c n_c · recall_c / N``; for a binary task ``ACC = (n_pos·SEN + n_neg·SPE) / N``.
When only sensitivity and precision are printed, ``TP = SEN·n_pos``, ``FP = TP (1/PRE − 1)``
and ``TN = n_neg − FP`` give the accuracy instead. The relation is linear in the recalls, so it
holds for means over runs as well as for single runs.
"""

from __future__ import annotations

from covidnb.report.intervals import Printed, evaluate
from covidnb.report.load import Chapter
from covidnb.report.rules.base import (
    Finding,
    Verdict,
    digits_of,
    finding,
    judge,
    printed_of,
    records,
)

RULE = "accuracy"


def accuracy_from_recalls(counts: list[int], recalls: list[float]) -> float:
    return sum(n * r for n, r in zip(counts, recalls)) / sum(counts)


def accuracy_from_sen_pre(n_pos: int, n_neg: int, sen: float, pre: float) -> float:
    tp = sen * n_pos
    fp = tp * (1.0 / pre - 1.0) if pre > 0 else float("inf")
    return (tp + n_neg - fp) / (n_pos + n_neg)


def implied_share_sen_spe(acc: float, sen: float, spe: float) -> float:
    """Share of positives in the test set for which (n_pos·SEN + n_neg·SPE)/N = ACC."""
    return (spe - acc) / (spe - sen) if spe != sen else float("nan")


def implied_share_sen_pre(acc: float, sen: float, pre: float) -> float:
    """Share of positives for which SEN, PRE and ACC fit together: ACC = 1 − r(1 − SEN(2 − 1/PRE))."""
    k = 1 - sen * (2 - 1 / pre)
    return (1 - acc) / k if k != 0 else float("nan")


def check_accuracy(acc: Printed, counts: list[int], recalls: list[Printed],
                   first: str = "round") -> Verdict:
    """Printed accuracy against the counts-weighted mean of printed recalls."""

    def compute(mode):
        rec = evaluate(lambda *r: accuracy_from_recalls(counts, r), *(r.iv(mode) for r in recalls))
        return acc.iv(mode), rec

    return judge(compute, first)


def check_accuracy_sen_pre(acc: Printed, n_pos: int, n_neg: int, sen: Printed, pre: Printed,
                           first: str = "round") -> Verdict:
    """Printed accuracy against the one implied by sensitivity, precision and class counts."""

    def compute(mode):
        rec = evaluate(lambda s, p: accuracy_from_sen_pre(n_pos, n_neg, s, p), sen.iv(mode),
                       pre.iv(mode), grid=3)
        return acc.iv(mode), rec

    return judge(compute, first)


def unknown_split(chapter: Chapter) -> set[str]:
    """Datasets whose class counts are of the whole set, not of the test split used."""
    return {n for n, d in chapter.spec.datasets.items() if d.test_split_known is False}


def _usable(cell) -> bool:
    return cell is not None and cell["average"] != "unknown"


def rule_accuracy(chapter: Chapter) -> list[Finding]:
    out = []
    first = chapter.spec.rounding
    for rec in records(chapter):
        acc = rec.get("accuracy")
        if acc is None or acc["average"] == "unknown":
            continue
        for ds in acc["datasets"]:
            counts = chapter.datasets[ds]
            classes = list(counts)
            per_class = {c: rec.get("sensitivity", c) for c in classes}
            v = used = None
            if all(_usable(x) for x in per_class.values()):
                v = check_accuracy(printed_of(acc), [counts[c] for c in classes],
                                   [printed_of(per_class[c]) for c in classes], first)
                used = "per-class sensitivities " + ", ".join(
                    f"{c} {per_class[c]['text']}" for c in classes)
            elif len(classes) == 2:
                pos = rec.positive or classes[0]
                if pos not in counts:
                    continue
                neg = next(c for c in classes if c != pos)
                sen, spe, pre = (rec.get(m) for m in ("sensitivity", "specificity", "precision"))
                if _usable(sen) and _usable(spe):
                    v = check_accuracy(printed_of(acc), [counts[pos], counts[neg]],
                                       [printed_of(sen), printed_of(spe)], first)
                    used = f"SEN {sen['text']}, SPE {spe['text']}"
                elif _usable(sen) and _usable(pre):
                    v = check_accuracy_sen_pre(printed_of(acc), counts[pos], counts[neg],
                                               printed_of(sen), printed_of(pre), first)
                    used = f"SEN {sen['text']}, PRE {pre['text']}"
            if v is None:
                continue
            share = None
            if used.startswith("SEN"):
                fn = implied_share_sen_spe if "SPE" in used else implied_share_sen_pre
                third = spe if "SPE" in used else pre
                try:
                    share = evaluate(fn, printed_of(acc).iv("either"), printed_of(sen).iv("either"),
                                     printed_of(third).iv("either"), grid=2)
                except ValueError:
                    share = None
            sizes = ", ".join(f"{c} {n}" for c, n in counts.items())
            msg = (f"accuracy printed {acc['text']}; from {used} and the class counts "
                   f"({sizes}; {ds}) it is {v.recomputed_text(digits_of(acc['text']), acc['scale'])}")
            pos_share = counts[rec.positive] / sum(counts.values()) \
                if rec.positive in counts and len(counts) == 2 else None
            if v.status != "ok" and share is not None and pos_share is not None:
                msg += (f"; the printed values fit a test set with {share.lo:.1%}–{share.hi:.1%} "
                        f"{rec.positive} (these counts have {pos_share:.1%})")
            if v.status != "ok" and ds in unknown_split(chapter):
                v.status = "note"
                msg += (". Only the whole dataset's class sizes are known, not the test split "
                        "behind this row, so the share above is what the row implies.")
            elif v.status == "flag":
                msg += (". The printed accuracy does not follow from the printed per-class "
                        "values on this test set.")
                if "quoted" in rec.origin:
                    msg += " The row is quoted from another paper, whose test set may differ."
            elif v.status == "note":
                msg += "; consistent only if the printed digits were truncated rather than rounded."
            out.append(finding(RULE, v, chapter=chapter.name, table=acc["label"], row=rec.label,
                               column=acc["column"], printed=acc["text"], message=msg,
                               origin=rec.origin, digits=digits_of(acc["text"]), scale=acc["scale"]))
    return out
