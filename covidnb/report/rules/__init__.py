"""Consistency rules for reported tables; each takes a loaded chapter and returns findings.

| rule | what it checks |
|---|---|
| ``f1_pr`` | F1 against 2PR/(P+R) of the same row |
| ``g_mean`` | G-mean against sqrt(SEN·SPE) |
| ``accuracy`` | accuracy against per-class recalls and the class counts |
| ``confusion`` | some integer confusion matrix on the stated counts reproduces the row (which sizes could) |
| ``averaging`` | which averaging (one class positive, macro, weighted, one-vs-rest) fits the row |
| ``summary`` | a printed mean / total / difference against its cells |
| ``same_quantity`` | one quantity printed in two tables |
| ``quote`` | a number in the abstract or text against the table cell it restates |
| ``unit`` | a header's unit against its values |
"""

from __future__ import annotations

from covidnb.report.rules.accuracy import rule_accuracy
from covidnb.report.rules.averaging import rule_averaging
from covidnb.report.rules.base import FIELDS, STATUSES, Finding
from covidnb.report.rules.confusion import rule_confusion
from covidnb.report.rules.f1 import rule_f1
from covidnb.report.rules.gmean import rule_g_mean
from covidnb.report.rules.same import rule_quotes, rule_same
from covidnb.report.rules.summary import rule_summary
from covidnb.report.rules.units import rule_units

RULES = {
    "f1_pr": rule_f1,
    "g_mean": rule_g_mean,
    "accuracy": rule_accuracy,
    "confusion": rule_confusion,
    "averaging": rule_averaging,
    "summary": rule_summary,
    "same_quantity": rule_same,
    "quote": rule_quotes,
    "unit": rule_units,
}

__all__ = ["FIELDS", "RULES", "STATUSES", "Finding"]
