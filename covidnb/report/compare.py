"""Reported vs re-run: the paper's number beside the re-run's mean ± std, and how they differ.

``compare(reported, rerun, on="Model", metrics={"Accuracy %": "accuracy"}, unit="%")`` takes a
reported table (:func:`covidnb.report.load.reported_table`, printed or numeric) and one row per
re-run (metric columns plus grouping columns such as model and seed, e.g. from the run store),
and returns per reported row and metric: printed value, re-run mean ± std over n runs and the
difference, with percentages and fractions converted so like is compared with like. The
result's ``attrs["differences"]`` lists the ways the re-runs differ from the paper (dataset,
split, profile, weights, epochs …), from the run configs and the chapter's ``paper_settings``.

Runs whose config says ``synthetic: true`` are never placed next to the paper's numbers as
comparable: ``compare`` refuses them (:class:`SyntheticRunError`) unless asked to show them, and
then marks every such row not comparable, with no difference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from covidnb.report.schema import UNITS

SYNTHETIC_NOTE = "SYNTHETIC data — not comparable with the paper"


class SyntheticRunError(ValueError):
    """Re-runs on synthetic data were offered for comparison with a paper's numbers."""


def _find_key(obj: Any, key: str):
    """Value of ``key`` anywhere in a nested dict (or JSON string), else ``None``."""
    if isinstance(obj, str) and obj.strip().startswith("{"):
        try:
            obj = json.loads(obj)
        except ValueError:
            return None
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
        for v in obj.values():
            hit = _find_key(v, key)
            if hit is not None:
                return hit
    return None


def _nested_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding config dicts (or their JSON text), e.g. a run store's ``config``."""
    def nested(v):
        return isinstance(v, Mapping) or (isinstance(v, str) and v.strip().startswith("{"))
    return [c for c in frame.columns if frame[c].map(nested).any()]


def setting(frame: pd.DataFrame, key: str) -> pd.Series | None:
    """A setting per run: a column ``key`` / ``config.key`` / ``*_key``, or inside dict columns."""
    for c in (key, f"config.{key}", f"config_{key}", f"dataset.{key}", f"provenance.{key}"):
        if c in frame.columns:
            return frame[c]
    for c in frame.columns:
        if isinstance(c, str) and c.endswith((f".{key}", f"_{key}")):
            return frame[c]
    for c in _nested_columns(frame):
        values = frame[c].map(lambda v: _find_key(v, key))
        if values.notna().any():
            return values
    return None


def synthetic_mask(rerun: pd.DataFrame) -> pd.Series:
    """True for runs whose config or dataset says synthetic (or names a synthetic dataset)."""
    mask = pd.Series(False, index=rerun.index)
    s = setting(rerun, "synthetic")
    if s is not None:
        mask |= s.map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    ds = setting(rerun, "dataset")
    if ds is not None:
        mask |= ds.map(lambda v: isinstance(v, str) and v.lower().startswith("synthetic"))
    return mask


def _scale(unit: str | Mapping[str, str], column: str) -> float:
    u = unit.get(column, "fraction") if isinstance(unit, Mapping) else unit
    if u not in UNITS:
        raise ValueError(f"unknown unit {u!r} for {column!r}; known: {', '.join(UNITS)}")
    return UNITS[u]


def _printed(value) -> tuple[float, float]:
    """A reported cell as (value, sd): numbers, '0.836 ± 0.013' strings, blanks."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan, math.nan
    if isinstance(value, (int, float, np.number)):
        return float(value), math.nan
    text = str(value).strip()
    if not text or text in ("-", "–", "—"):
        return math.nan, math.nan
    if "±" in text:
        v, s = (x.strip() for x in text.split("±", 1))
        return float(v), float(s)
    return float(text), math.nan


def differences(rerun: pd.DataFrame, paper_settings: Mapping[str, Any] | None) -> list[str]:
    """How the re-runs differ from the paper: one line per setting that differs or is unknown."""
    out = []
    mask = synthetic_mask(rerun)
    if mask.any():
        out.append(f"data: {int(mask.sum())} of {len(rerun)} runs used SYNTHETIC phantoms, "
                   "not the paper's data")
    for key, paper_value in (paper_settings or {}).items():
        s = setting(rerun, key)
        if s is None:
            out.append(f"{key}: paper {paper_value}; re-run: not recorded")
            continue
        values = sorted({str(v) for v in s.dropna()})
        shown = ", ".join(values) if values else "not recorded"
        if [str(paper_value)] != values:
            out.append(f"{key}: paper {paper_value}; re-run {shown}")
    return out


def compare(reported: pd.DataFrame, rerun: pd.DataFrame, on: str | Mapping[str, str],
            metrics: Iterable[str] | Mapping[str, str], unit: str | Mapping[str, str] = "fraction",
            *, rerun_unit: str = "fraction", rename: Mapping[str, str] | None = None,
            paper_settings: Mapping[str, Any] | None = None, chapter: str | None = None,
            allow_synthetic: bool = False) -> pd.DataFrame:
    """Reported rows beside re-run mean ± std, with differences in the reported unit.

    ``on``: the reported row-label column, or ``{reported_column: rerun_column}``.
    ``metrics``: reported columns with the same name in ``rerun``, or
    ``{reported_column: rerun_column}``. ``unit``: the reported unit (``"%"`` or
    ``"fraction"``, or one per reported column); re-run metrics are in ``rerun_unit``.
    ``rename`` maps re-run labels to reported ones (``{"dresunet": "DResUNet"}``).
    ``paper_settings`` (default: the chapter's, when ``chapter`` is given) feeds the list of
    differences in ``result.attrs["differences"]``.
    """
    rep_on, run_on = (next(iter(on.items())) if isinstance(on, Mapping) else (on, on))
    pairs = dict(metrics) if isinstance(metrics, Mapping) else {m: m for m in metrics}
    for c in [rep_on] + list(pairs):
        if c not in reported.columns:
            raise KeyError(f"reported table has no column {c!r}; columns: {list(reported.columns)}")
    for c in [run_on] + list(pairs.values()):
        if c not in rerun.columns:
            raise KeyError(f"re-run table has no column {c!r}; columns: {list(rerun.columns)}")
    synthetic = synthetic_mask(rerun)
    if synthetic.any() and not allow_synthetic:
        raise SyntheticRunError(
            f"{int(synthetic.sum())} of {len(rerun)} re-runs used synthetic data; their numbers "
            "are not comparable with the paper's. Pass allow_synthetic=True to show them marked "
            "as not comparable.")
    if paper_settings is None and chapter is not None:
        from covidnb.report.load import load_chapter
        paper_settings = load_chapter(chapter).spec.paper_settings
    runs = rerun.copy()
    runs["_label"] = runs[run_on].map(lambda v: (rename or {}).get(v, v))
    runs["_synthetic"] = synthetic
    r_scale = UNITS[rerun_unit]
    rows = []
    for _, rep in reported.iterrows():
        label = rep[rep_on]
        group = runs[runs["_label"] == label]
        for rep_col, run_col in pairs.items():
            value, sd = _printed(rep[rep_col])
            if isinstance(rep.get(f"{rep_col} ±"), (int, float)) and not math.isnan(rep[f"{rep_col} ±"]):
                sd = float(rep[f"{rep_col} ±"])
            scale = _scale(unit, rep_col)
            vals = group[run_col].astype(float) * r_scale / scale
            vals = vals[vals.notna()]
            n = len(vals)
            is_syn = bool(group["_synthetic"].any())
            mean = float(vals.mean()) if n else math.nan
            std = float(vals.std(ddof=1)) if n > 1 else math.nan
            comparable = n > 0 and not is_syn and not math.isnan(value)
            note = SYNTHETIC_NOTE if is_syn else ("" if n else "no re-run")
            rows.append({
                rep_on: label, "metric": rep_col, "printed": value, "printed_sd": sd,
                "rerun_mean": mean, "rerun_std": std, "n_runs": n,
                "difference": (mean - value) if comparable else math.nan,
                "unit": unit.get(rep_col, "fraction") if isinstance(unit, Mapping) else unit,
                "comparable": comparable, "note": note,
            })
    out = pd.DataFrame(rows)
    out.attrs["differences"] = differences(rerun, paper_settings)
    out.attrs["synthetic"] = bool(synthetic.any())
    return out


def differences_markdown(result: pd.DataFrame) -> str:
    """The ways the re-run differs from the paper, as a markdown list (for a notebook cell)."""
    lines = result.attrs.get("differences", [])
    head = ("**The re-runs used SYNTHETIC data: nothing below is comparable with the paper.**\n\n"
            if result.attrs.get("synthetic") else "")
    if not lines:
        return head + "No recorded difference from the paper's settings."
    return head + "\n".join(f"- {line}" for line in lines)


def format_comparison(result: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Printed value, re-run ``mean ± std (n)`` and difference as display strings."""

    def cell(r):
        if r["n_runs"] == 0:
            return "—"
        text = f"{r['rerun_mean']:.{digits}f}"
        if not math.isnan(r["rerun_std"]):
            text += f" ± {r['rerun_std']:.{digits}f}"
        return text + f" (n={r['n_runs']})" + (" SYNTHETIC" if r["note"] == SYNTHETIC_NOTE else "")

    shown = result.copy()
    shown["re-run"] = shown.apply(cell, axis=1)
    shown["paper"] = shown.apply(lambda r: "" if math.isnan(r["printed"]) else (
        f"{r['printed']:g}" + ("" if math.isnan(r["printed_sd"]) else f" ± {r['printed_sd']:g}")), axis=1)
    shown["difference"] = shown["difference"].map(lambda d: "" if math.isnan(d) else f"{d:+.{digits}f}")
    key = [c for c in result.columns if c not in (
        "metric", "printed", "printed_sd", "rerun_mean", "rerun_std", "n_runs", "difference",
        "unit", "comparable", "note")]
    return shown[key + ["metric", "paper", "re-run", "difference", "unit", "note"]]
