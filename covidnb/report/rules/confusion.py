"""Integer confusion matrices: can some matrix on the stated class counts reproduce the row?

A single run ends in integer counts, so accuracy, recall, precision and F1 are ratios of
integers. This rule searches, for each candidate test set, the integer matrices whose metrics
all fall inside the printed intervals (:mod:`covidnb.report.confusion`). Rows that are means over
several runs are not searched (their counts need not be integers). When no matrix fits, the rule
says which single printed value, left out, makes the row reachable, and — for binary rows — which
test-set sizes up to 1000 per class could produce it.

A paper may compute F1 from its printed, already-rounded precision and recall rather than from
the counts; such an F1 is off the integer grid by up to a unit of its last digit. When no matrix
fits the row as printed, the rule tries that reading: every F1 printed beside its precision and
recall must equal 2PR/(P+R) of those printed values (at its own digits), and some integer matrix
must fit everything else. A row that fits only so is a *note* saying so, not a flag.
"""

from __future__ import annotations

from covidnb.report.confusion import (
    READINGS,
    binary_feasible,
    binary_sizes,
    class_options,
    multiclass_feasible,
)
from covidnb.report.intervals import Interval
from covidnb.report.load import Chapter
from covidnb.report.rules.base import Finding, judge, printed_of, records
from covidnb.report.rules.f1 import f1_score

RULE = "confusion"
BINARY_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "g_mean")
SHORT = {"accuracy": "ACC", "sensitivity": "SEN", "specificity": "SPE", "precision": "PRE",
         "f1": "F1", "g_mean": "G"}


def _reading_of(average: str) -> str | None:
    """The reading a declared average fixes; ``None`` when the paper leaves it open."""
    if average in ("", "positive", "ovr", "per_class"):
        return "positive"
    if average in ("macro", "weighted"):
        return average
    return None


def binary_targets(cells: dict, reading: str, mode: str) -> dict:
    """``{(metric, reading): interval}``: ambiguous metrics take ``reading``."""
    out = {}
    for m, cell in cells.items():
        r = _reading_of(cell["average"]) or reading
        out[(m, r)] = printed_of(cell).iv(mode)
    return out


def search_binary(cells: dict, counts: dict[str, int], positive: str, mode: str,
                  readings=READINGS):
    """Readings under which some integer matrix on ``counts`` fits every printed cell."""
    neg = next(c for c in counts if c != positive)
    hits = {}
    ambiguous = any(_reading_of(c["average"]) is None for c in cells.values())
    for r in (readings if ambiguous else ("positive",)):
        f = binary_feasible(counts[positive], counts[neg], binary_targets(cells, r, mode))
        if f:
            hits[r] = f
    return hits


def _binary_cells(rec, positive: str) -> dict:
    cells = {}
    for m in BINARY_METRICS:
        cell = rec.get(m) if rec.get(m) is not None else rec.get(m, positive)
        if cell is not None:
            cells[m] = cell
    return cells


def _culprits(cells, counts, positive, mode):
    """Printed metrics whose removal alone makes the row reachable."""
    out = []
    for m in cells:
        rest = {k: v for k, v in cells.items() if k != m}
        if rest and search_binary(rest, counts, positive, mode):
            out.append(m)
    return out


def _sizes_text(cells, mode, positive: str, max_n: int = 1000) -> str:
    """Which class sizes (≤ ``max_n`` each) could give the row, per choice of positive class."""
    ambiguous = all(_reading_of(c["average"]) is None for c in cells.values())
    texts = []
    for r in (("positive", "negative") if ambiguous else ("positive",)):
        # reading the other class as positive is the same search with the classes swapped
        t = {m: printed_of(c).iv(mode) for m, c in cells.items()}
        found = binary_sizes(t, max_n=max_n)
        if found is None:
            continue
        who = positive if r == "positive" else "the other class"
        if not found:
            texts.append(f"with {who} positive, no test set of ≤ {max_n} per class fits")
            continue
        pairs = {(a, b) for a, b, *_ in found}
        n_pos, n_neg, tp, fn, fp, tn = min(found, key=lambda x: x[0] + x[1])
        texts.append(f"with {who} positive, {len(pairs)} class-size pairs ≤ {max_n} fit; the "
                     f"smallest has {n_pos} positives and {n_neg} negatives "
                     f"(TP {tp}, FN {fn}, FP {fp}, TN {tn})")
        if ambiguous:
            break  # the swapped search is the same search: one answer covers both readings
    return "; ".join(texts)


def f1_from_printed(cells: dict, first: str) -> str | None:
    """Does the printed F1 equal 2PR/(P+R) of the printed (already rounded) precision and recall?

    ``cells`` holds ``f1``, ``precision`` and ``sensitivity`` cells of one class. The printed P
    and R are taken as the exact numbers the paper fed to the formula; the result must fall in the
    interval of the printed F1's digits. Returns ``"ok"`` (at the chapter's rounding ``first``),
    ``"note"`` (only with truncated F1 digits), or ``None`` (it does not fit, or a cell is missing).
    """
    if not all(m in cells for m in ("f1", "precision", "sensitivity")):
        return None
    p, r, f = (printed_of(cells[m]) for m in ("precision", "sensitivity", "f1"))
    point = Interval.point(f1_score(p.nominal, r.nominal))
    v = judge(lambda mode: (f.iv(mode), point), first)
    return None if v.status == "flag" else v.status


def _rounded_f1_reading(per_class: dict[str, dict], first: str) -> tuple[list[str], list[str]] | None:
    """The classes whose F1 reads as computed from the printed P and R, and those of them whose
    F1 digits must be truncated for that; ``None`` unless every class printing all three fits."""
    verdicts = {c: f1_from_printed(cells, first) for c, cells in per_class.items()
                if all(m in cells for m in ("f1", "precision", "sensitivity"))}
    if not verdicts or any(v is None for v in verdicts.values()):
        return None
    return list(verdicts), [c for c, v in verdicts.items() if v == "note"]


def _truncated(classes: list[str]) -> str:
    if not classes:
        return ""
    return (f" (the F1 of {', '.join(classes)} only if its last digit was truncated rather than "
            "rounded)")


ROUNDED_F1 = ("no integer confusion matrix gives the printed F1, but {who} equals 2PR/(P+R) of "
              "the printed, already-rounded precision and recall{trunc}, and an integer matrix on "
              "{ds} reproduces every other printed value ({ex}): F1 was apparently computed from "
              "the rounded P and R, not from the counts")


def rule_confusion(chapter: Chapter) -> list[Finding]:
    out = []
    first = chapter.spec.rounding
    for rec in records(chapter):
        if rec.n_runs != 1:
            continue
        datasets = [d for d in rec.datasets]
        if not datasets:
            continue
        counts0 = chapter.datasets[datasets[0]]
        if len(counts0) == 2:
            f = _check_binary(chapter, rec, datasets, first)
        else:
            f = _check_multiclass(chapter, rec, datasets, first)
        if f is not None:
            out.append(f)
    return out


def _printed_row(cells: dict) -> str:
    return ", ".join(f"{SHORT.get(m, m)} {c['text']}" for m, c in cells.items())


def _search_datasets(chapter, cells, datasets, positive, first):
    """``({dataset: hits}, mode)`` of the first rounding mode under which some dataset fits."""
    for mode in (first, "either"):
        results = {}
        for ds in datasets:
            counts = chapter.datasets[ds]
            if positive not in counts:
                continue
            hits = search_binary(cells, counts, positive, mode)
            if hits:
                results[ds] = hits
        if results:
            return results, mode
    return {}, None


def _check_binary(chapter, rec, datasets, first) -> Finding | None:
    positive = rec.positive or next(iter(chapter.datasets[datasets[0]]))
    cells = _binary_cells(rec, positive)
    if len(cells) < 2:
        return None
    results, status_mode = _search_datasets(chapter, cells, datasets, positive, first)
    table = rec.tables
    printed = _printed_row(cells)
    if results:
        parts = []
        natural = False
        for ds, hits in results.items():
            f0 = next(iter(hits.values()))
            tp, fn, fp, tn = f0.example
            natural |= "positive" in hits
            parts.append(f"{ds}: {', '.join(hits)} (e.g. TP {tp}, FN {fn}, FP {fp}, TN {tn})")
        # a reading the paper leaves open is the averaging rule's finding, not a flag here
        status = "ok" if status_mode == first else "note"
        msg = f"integer confusion matrices reproduce the row on {'; '.join(parts)}"
        missing = [d for d in datasets if d not in results]
        if missing:
            msg += f"; none on {', '.join(missing)}"
        if status_mode != first:
            msg += "; only if the printed digits were truncated rather than rounded"
        if not natural:
            msg += f" — only when the metrics are not read for {positive} as the positive class"
        return Finding(chapter.name, table, rec.label, ", ".join(cells), RULE, status, printed,
                       "; ".join(parts), None, msg, rec.origin)
    rounded = _binary_rounded_f1(chapter, rec, cells, datasets, positive, first)
    if rounded is not None:
        return rounded
    culprits = {ds: _culprits(cells, chapter.datasets[ds], positive, "either") for ds in datasets}
    sizes = _sizes_text(cells, "either", positive)
    no_f1 = {k: v for k, v in cells.items() if k != "f1"}
    sizes_no_f1 = _sizes_text(no_f1, "either", positive) if "f1" in cells else ""
    cand = ", ".join(f"{d} ({', '.join(f'{c} {n}' for c, n in chapter.datasets[d].items())})"
                     for d in datasets)
    msg = (f"no integer confusion matrix on {cand} reproduces {printed} under any reading "
           "(positive class either way, macro or weighted averages), rounded or truncated — "
           "assuming every value was computed once over the whole test set")
    cul = {ds: c for ds, c in culprits.items() if c}
    if cul:
        msg += "; leaving out one value makes it reachable: " + "; ".join(
            f"{ds}: without {' or '.join(SHORT.get(m, m) for m in c)}" for ds, c in cul.items())
    if sizes:
        msg += f". Other test-set sizes: {sizes}"
    if sizes_no_f1:
        msg += f". Without F1: {sizes_no_f1}"
    return Finding(chapter.name, table, rec.label, ", ".join(cells), RULE, "flag", printed,
                   "none", None, msg + ".", rec.origin)


def _binary_rounded_f1(chapter, rec, cells, datasets, positive, first) -> Finding | None:
    """The note for a binary row that fits only with F1 computed from the printed P and R."""
    f1_mode = f1_from_printed(cells, first)
    rest = {m: c for m, c in cells.items() if m != "f1"}
    if f1_mode is None or len(rest) < 2:
        return None
    results, mode = _search_datasets(chapter, rest, datasets, positive, first)
    if not results:
        return None
    ds, hits = next(iter(results.items()))
    tp, fn, fp, tn = next(iter(hits.values())).example
    ex = f"{', '.join(hits)} reading; e.g. TP {tp}, FN {fn}, FP {fp}, TN {tn}"
    msg = ROUNDED_F1.format(who="it", ds=ds, ex=ex,
                            trunc=" (only if its last digit was truncated rather than rounded)"
                            if f1_mode == "note" else "")
    if mode != first:
        msg += "; the matrix fits only if the printed digits were truncated rather than rounded"
    return Finding(chapter.name, rec.tables, rec.label, ", ".join(cells), RULE, "note",
                   _printed_row(cells), ex, None, msg, rec.origin)


def _check_multiclass(chapter, rec, datasets, first) -> Finding | None:
    for ds in datasets:
        counts = chapter.datasets[ds]
        per_class = {}
        for c in counts:
            per_class[c] = {m: rec.get(m, c) for m in ("sensitivity", "precision", "f1")
                            if rec.get(m, c) is not None}
        acc = rec.get("accuracy")
        if not all("sensitivity" in per_class[c] for c in counts) or not all(
                ("precision" in per_class[c] or "f1" in per_class[c]) for c in counts):
            continue
        printed = ", ".join(f"{c}: " + "/".join(f"{SHORT[m]} {cell['text']}" for m, cell in
                                                d.items()) for c, d in per_class.items())
        if acc is not None:
            printed = f"ACC {acc['text']}; " + printed

        def run(mode, drop=(), per_class=per_class, acc=acc, counts=counts):
            pc = {c: {m: printed_of(cell).iv(mode) for m, cell in d.items()
                      if (c, m) not in drop} for c, d in per_class.items()}
            acc_iv = printed_of(acc).iv(mode) if acc is not None and ("", "accuracy") not in drop else None
            return multiclass_feasible(counts, pc, acc_iv)

        status = None
        for mode in (first, "either"):
            ok, example = run(mode)
            if ok is None:
                return Finding(chapter.name, rec.tables, rec.label, "per class", RULE, "skipped",
                               printed, "", None, f"not searched: {example}", rec.origin)
            if ok:
                status = "ok" if mode == first else "note"
                break
        if status:
            ex = ", ".join(f"{c} TP {t} of {counts[c]}, predicted {p}" for c, (t, p) in example.items())
            msg = f"an integer confusion matrix on {ds} reproduces the row ({ex})"
            if status == "note":
                msg += "; only if the printed digits were truncated rather than rounded"
            return Finding(chapter.name, rec.tables, rec.label, "per class", RULE, status, printed,
                           ex, None, msg, rec.origin)
        rounded = _rounded_f1_reading(per_class, first)
        for mode in ((first, "either") if rounded else ()):
            ok, example = run(mode, drop={(c, "f1") for c in rounded[0]})
            if ok:
                ex = ", ".join(f"{c} TP {t} of {counts[c]}, predicted {p}" for c, (t, p) in example.items())
                who = "each class's F1" if len(rounded[0]) > 1 else f"the F1 of {rounded[0][0]}"
                msg = ROUNDED_F1.format(who=who, ds=ds, ex=ex, trunc=_truncated(rounded[1]))
                if mode != first:
                    msg += "; the matrix fits only if the printed digits were truncated rather than rounded"
                return Finding(chapter.name, rec.tables, rec.label, "per class", RULE, "note",
                               printed, ex, None, msg, rec.origin)
        msg = (f"no integer confusion matrix on {ds} ({', '.join(f'{c} {n}' for c, n in counts.items())}) "
               "reproduces every printed value, rounded or truncated"
               + _diagnose(counts, per_class, acc))
        if "quoted" in rec.origin:
            msg += ". The row is quoted from another paper, whose test set may differ"
        return Finding(chapter.name, rec.tables, rec.label, "per class", RULE, "flag", printed,
                       "none", None, msg + ".", rec.origin)
    return None


def _diagnose(counts, per_class, acc) -> str:
    """Why no matrix fits: a class whose own values clash, or the classes not adding up."""
    N = sum(counts.values())
    parts = []
    for c, cells in per_class.items():
        ivs = {m: printed_of(x).iv("either") for m, x in cells.items()}
        if class_options(counts[c], N, ivs):
            continue
        fixes = []
        for m in cells:
            opts = class_options(counts[c], N, {k: v for k, v in ivs.items() if k != m})
            if opts:
                tp, pred = opts[0]
                implied = {"f1": 2 * tp / (pred + counts[c]), "precision": tp / pred,
                           "sensitivity": tp / counts[c]}[m]
                fixes.append(f"without {SHORT[m]} (TP {tp}, predicted {pred}: {SHORT[m]} would "
                             f"be {implied:.4f})")
        parts.append(f"{c}: no integer TP and predicted count give "
                     + ", ".join(f"{SHORT[m]} {x['text']}" for m, x in cells.items())
                     + (" together; " + " or ".join(fixes) if fixes else " together"))
    ivs = {c: {m: printed_of(x).iv("either") for m, x in cells.items()}
           for c, cells in per_class.items()}
    acc_iv = printed_of(acc).iv("either") if acc is not None else None
    whole = []
    for m in ("f1", "precision", "accuracy"):
        if m == "accuracy":
            ok, ex = (multiclass_feasible(counts, ivs, None) if acc is not None else (False, None))
        else:
            ok, ex = multiclass_feasible(counts, {c: {k: v for k, v in d.items() if k != m}
                                                  for c, d in ivs.items()}, acc_iv)
        if ok:
            whole.append(f"leaving out the whole {SHORT[m]} column, a matrix fits ("
                         + ", ".join(f"{c} TP {t}/predicted {p}" for c, (t, p) in ex.items()) + ")")
    if parts:
        return "; " + "; ".join(parts) + ("; " + "; ".join(whole) if whole else "")
    if acc is not None:
        ok, ex = multiclass_feasible(counts, ivs, None)
        if ok:
            implied = sum(t for t, _ in ex.values()) / N
            return (f"; every class fits on its own and together, but they imply accuracy "
                    f"{implied:.5f}, not the printed {acc['text']}")
    return "; every class fits on its own, but no choice makes the predicted counts add up to " \
           f"{N}"
