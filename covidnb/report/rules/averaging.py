"""Which averaging makes a row consistent: one class as positive, macro, weighted, one-vs-rest.

Papers rarely say how a "F1-score" or "precision" of a two- or three-class task was averaged.
The printed sensitivity, specificity (or accuracy) and the class counts fix the confusion matrix
well enough to recompute each candidate reading of an unstated metric:

- ``positive``: the metric of the positive class (COVID-19 here);
- ``negative``: the metric of the other class;
- ``macro``: the mean of both classes' values; ``weighted``: their mean weighted by class size;
- for a multi-class accuracy whose row prints only one-vs-rest SEN/SPE: the one-vs-rest
  (binary) accuracy — if that does not fit, the accuracy is over all classes, which the row
  cannot recompute.

Rows that are means over runs use intervals (widened by the printed ± to second order); single
runs use integer confusion matrices (:mod:`covidnb.report.rules.confusion`).
"""

from __future__ import annotations

from covidnb.report.confusion import READINGS, binary_metric
from covidnb.report.intervals import Interval, Printed, evaluate, fmt, mean_allowance
from covidnb.report.load import Chapter
from covidnb.report.rules.base import Finding, printed_of, records
from covidnb.report.rules.confusion import search_binary

RULE = "averaging"
AMBIGUOUS = ("accuracy", "sensitivity", "specificity", "precision", "f1")


def reading_formula(metric: str, reading: str, n_pos: float, n_neg: float):
    """The metric under ``reading`` as a function of (SEN, SPE) of the positive class."""

    def f(s, p):
        tp, tn = s * n_pos, p * n_neg
        return float(binary_metric(metric, reading, tp, n_pos - tp, n_neg - tn, tn))

    return f


def reading_intervals(metric: str, n_pos: int, n_neg: int, sen: Printed, spe: Printed,
                      mode: str = "round", n_runs: int | None = 1,
                      readings=READINGS) -> dict[str, Interval]:
    """Interval of ``metric`` under each reading, from printed SEN and SPE and the counts.

    Every reading is increasing in both SEN and SPE, so the box corners give exact ranges;
    for means over runs the printed ± add the second-order Jensen allowance.
    """
    out = {}
    for r in readings:
        f = reading_formula(metric, r, n_pos, n_neg)
        iv = evaluate(f, sen.iv(mode), spe.iv(mode))
        if n_runs and n_runs > 1 and sen.has_sd and spe.has_sd and mode != "exact":
            gap = mean_allowance(f, [sen.nominal, spe.nominal], [sen.sd_hi(mode), spe.sd_hi(mode)])
            iv = Interval(iv.lo + min(gap.lo, 0.0), iv.hi + max(gap.hi, 0.0))
        out[r] = iv
    return out


def consistent_readings(printed: Printed, metric: str, n_pos: int, n_neg: int, sen: Printed,
                        spe: Printed, n_runs: int | None = 1, readings=READINGS,
                        modes=("round", "either")) -> tuple[list[str], str, dict]:
    """Readings whose interval meets the printed value (first mode that finds one)."""
    nominal = {r: iv.mid for r, iv in reading_intervals(metric, n_pos, n_neg, sen, spe, "exact",
                                                         n_runs, readings).items()}
    for mode in modes:
        ivs = reading_intervals(metric, n_pos, n_neg, sen, spe, mode, n_runs, readings)
        hits = [r for r, iv in ivs.items() if iv.overlaps(printed.iv(mode))]
        if hits:
            return hits, mode, nominal
    return [], modes[-1], nominal


def _names(positive: str, other: str) -> dict[str, str]:
    return {"positive": f"{positive} positive", "negative": f"{other} positive",
            "macro": "macro", "weighted": "weighted"}


def rule_averaging(chapter: Chapter) -> list[Finding]:
    out = []
    for rec in records(chapter):
        amb = [m for m in AMBIGUOUS if rec.get(m) is not None and rec.average(m) == "unknown"]
        if not amb or not rec.datasets:
            continue
        if rec.n_runs == 1 and all(len(chapter.datasets[d]) == 2 for d in rec.datasets):
            out += _integer(chapter, rec, amb)
        else:
            out += _continuous(chapter, rec, amb)
    return out


def _continuous(chapter, rec, amb) -> list[Finding]:
    sen, spe = rec.get("sensitivity"), rec.get("specificity")
    if sen is None or spe is None or "sensitivity" in amb or "specificity" in amb:
        return []
    out = []
    counts = chapter.datasets[rec.datasets[0]]
    pos = rec.positive or next(iter(counts))
    n_pos, n_all = counts[pos], sum(counts.values())
    multi = len(counts) > 2
    other = "rest" if multi else next(c for c in counts if c != pos)
    names = _names(pos, other)
    first = chapter.spec.rounding
    for m in amb:
        cell = rec.get(m)
        p = printed_of(cell)
        readings = ("positive",) if m == "accuracy" else READINGS
        hits, mode, nominal = consistent_readings(p, m, n_pos, n_all - n_pos, printed_of(sen),
                                                  printed_of(spe), rec.n_runs, readings,
                                                  (first, "either"))
        if m == "accuracy":
            label = {"positive": f"{pos}-vs-{other} accuracy"}
        else:
            label = {r: names[r] for r in readings}
        shown = "; ".join(f"{label[r]} {fmt(nominal[r], 4)}{' ✓' if r in hits else ''}"
                          for r in readings)
        closest = min(readings, key=lambda r: abs(nominal[r] - p.nominal))
        base = (f"{m} printed {cell['text']}; recomputed from SEN {sen['text']}, SPE {spe['text']} "
                f"and the class counts ({', '.join(f'{c} {n}' for c, n in counts.items())}): {shown}")
        if m == "accuracy" and multi:
            if hits:
                status, msg = "note", base + f"; the accuracy fits the {pos}-vs-{other} reading."
            else:
                status = "note"
                msg = (base + f". The accuracy is not the {pos}-vs-{other} accuracy: it must be the "
                       f"{len(counts)}-class accuracy, which this row cannot recompute, while the "
                       "other metrics of the row are one-vs-rest.")
        elif not hits:
            status, msg = "flag", base + ". No reading reproduces the printed value."
        elif "positive" in hits:
            status, msg = "ok", base + f"; it fits reading {', '.join(label[r] for r in hits)}."
        else:
            status = "note"
            msg = base + (f"; it fits only {', '.join(label[r] for r in hits)}, not the "
                          f"{pos}-positive value the metric name suggests.")
        if mode != first and hits:
            msg += " (only if the printed digits were truncated rather than rounded)"
        if rec.n_runs and rec.n_runs > 1:
            msg += f" Means over {rec.n_runs} runs: the printed ± widen each interval."
        out.append(Finding(chapter.name, cell["label"], rec.label, cell["column"], RULE, status,
                           cell["text"], shown, round(p.nominal - nominal[closest], 6), msg,
                           rec.origin))
    return out


def _integer(chapter, rec, amb) -> list[Finding]:
    """One finding per row: for each unstated metric, the readings some integer matrix allows."""
    pos = rec.positive or next(iter(chapter.datasets[rec.datasets[0]]))
    anchors = {m: rec.get(m) for m in ("accuracy", "sensitivity", "specificity", "precision",
                                        "f1", "g_mean")
               if rec.get(m) is not None and m not in amb}
    first = chapter.spec.rounding
    other = {ds: next(c for c in chapter.datasets[ds] if c != pos) for ds in rec.datasets}
    parts, statuses, truncated = [], [], False
    for m in amb:
        cell = rec.get(m)
        per_ds, any_mode = {}, None
        for mode in (first, "either"):
            for ds in rec.datasets:
                if pos not in chapter.datasets[ds]:
                    continue
                hits = search_binary({**anchors, m: cell}, chapter.datasets[ds], pos, mode)
                if hits:
                    per_ds[ds] = list(hits)
            if per_ds:
                any_mode = mode
                break
        truncated |= bool(per_ds) and any_mode != first
        fits = "; ".join(f"{ds}: " + ", ".join(_names(pos, other[ds])[r] for r in rs)
                         for ds, rs in per_ds.items()) or "no reading on any candidate test set"
        parts.append(f"{m} {cell['text']} → {fits}")
        if not per_ds:
            statuses.append("flag")
        elif any("positive" in rs for rs in per_ds.values()):
            statuses.append("ok" if any_mode == first else "note")
        else:
            statuses.append("note")
    status = "flag" if "flag" in statuses else ("note" if "note" in statuses else "ok")
    anchor_text = ", ".join(f"{a} {c['text']}" for a, c in anchors.items()) or "no other metric"
    msg = (f"the paper does not say how {', '.join(amb)} are read; for each, the readings under "
           f"which integer confusion matrices also give {anchor_text}: " + "; ".join(parts))
    if status == "flag":
        msg += ". A value no reading fits cannot be paired with the printed accuracy on these test sets."
    elif status == "note":
        msg += f". Some values fit only with a class other than {pos} as positive."
    if truncated:
        msg += " (some only if the printed digits were truncated rather than rounded)"
    cols = ", ".join(rec.get(m)["column"] for m in amb)
    printed = ", ".join(f"{m} {rec.get(m)['text']}" for m in amb)
    return [Finding(chapter.name, rec.tables, rec.label, cols, RULE, status, printed,
                    " | ".join(parts), None, msg, rec.origin)]
