"""Runs → one frame: a row per run with what it re-runs in the paper's words (the chapter's
``describe``), the settings a reader compares with the paper, and the test metrics.

The setting columns are named as the chapters' ``paper_settings`` name them
(``nbs/<chapter>/reported/tables.yaml``: dataset, split, weights, image_size, epochs, …), so
:func:`covidnb.report.compare` lists every way the re-run differs from the paper.

Undefined metrics stay undefined: records written before NaN became the rule store 0 for a
precision with TP + FP = 0 (and the F1 / G-mean built on it);
:func:`covidnb.metrics.binary.mark_undefined` reads them back as NaN from the record's confusion
counts, so a mean over seeds never averages an undefined value as 0 (issue 12, item 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from covidnb.chapters.registry import get_chapter

COUNTS = ("tp", "fp", "tn", "fn", "n")
# Metrics that depend on the operating threshold (AUC does not); their values at the threshold
# chosen on validation sit in columns with this suffix (:func:`at_validation_threshold`).
THRESHOLDED = ("accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean")
VAL_SUFFIX = "@val"


def _metric_names() -> tuple[str, ...]:
    from covidnb.metrics.binary import NAMES

    return tuple(NAMES)


def scheduler_text(train: Mapping) -> str | None:
    """``"cosine, period 10 (warm restarts)"`` for a cosine schedule, else its name."""
    sched = train.get("scheduler")
    if sched == "cosine":
        kw = train.get("scheduler_kwargs") or {}
        sched = f"cosine, period {kw.get('T_max')}" + (" (warm restarts)" if kw.get("restarts") else "")
    return sched


def mixing_text(train: Mapping) -> str:
    """The batch mixing a run trained with: ``"mixup alpha=1"``, ``"CutMix alpha=1"`` or ``"none"``."""
    parts = [f"{name} alpha={train[key]:g}" for key, name in
             (("mixup_alpha", "mixup"), ("cutmix_alpha", "CutMix")) if (train.get(key) or 0) > 0]
    return ", ".join(parts) or "none"


def weights_text(config: Mapping) -> str:
    if (config.get("model_kwargs") or {}).get("pretrained"):
        return "ImageNet requested (from scratch where torchvision could not load it)"
    return "random initialisation (trained from scratch)"


def split_text(config: Mapping, datasets: Mapping) -> str:
    """The split sizes a run used (from its provenance) and the test split's class counts."""
    n = {k: (v or {}).get("n") for k, v in datasets.items()}
    test = (datasets.get("test") or {}).get("class_counts") or {}
    counts = " / ".join(f"{v} {k}" for k, v in test.items())
    return (f"split files: train {n.get('train')}" + (" after subsampling" if config.get("subsample") else "")
            + f", val {n.get('val')}, test {n.get('test')}" + (f" ({counts})" if counts else ""))


def run_row(chapter, run) -> dict:
    """One run as a row (see the module docstring)."""
    from covidnb.metrics.binary import mark_undefined

    ch = get_chapter(chapter)
    c, m = run.config, mark_undefined(run.metrics)
    t = c.get("train", {})
    prov = (getattr(run, "provenance", None) or {}).get("datasets", {}) or {}
    sub = c.get("subsample")
    row = {"key": run.key[:12], **ch.describe(c), "seed": c["seed"], "profile": c.get("profile"),
           "synthetic": run.synthetic, "dataset": ch.dataset_label.format(**c),
           "split": split_text(c, prov), "weights": weights_text(c), "image_size": c["image_size"],
           "epochs": t.get("epochs"), "max_steps_per_epoch": t.get("max_steps_per_epoch"),
           "optimizer": t.get("optimizer"), "lr": t.get("lr"), "batch_size": t.get("batch_size"),
           "scheduler": scheduler_text(t), "augmentation": c.get("augment") or "none",
           "mixup_alpha": t.get("mixup_alpha"), "cutmix_alpha": t.get("cutmix_alpha"),
           "mixup": mixing_text(t), "train_fraction": min(sub.values()) if sub else 1.0,
           "train_counts": (prov.get("train") or {}).get("class_counts")}
    for name in _metric_names() + COUNTS:
        row[name] = m.get(name, math.nan)
    # the same metrics at the operating point chosen on validation (a binary run's threshold, a
    # multi-class run's class offsets, which set only its accuracy here; records made before: NaN)
    op = m.get("val_threshold") or m.get("val_offsets") or {}
    row["val_threshold"] = op.get("threshold", math.nan)
    op = mark_undefined(op) if op else {}
    for name in THRESHOLDED + COUNTS:
        row[name + VAL_SUFFIX] = op.get(name, math.nan)
    tr = m.get("training", {})
    row["best_epoch"], row["seconds"] = tr.get("best_epoch"), tr.get("seconds")
    return row


def _without_seed(config: Mapping) -> dict:
    """The configuration less its seed (top level and the training loop's): what repeats share."""
    out = {k: v for k, v in config.items() if k != "seed"}
    if isinstance(out.get("train"), Mapping):
        out["train"] = {k: v for k, v in out["train"].items() if k != "seed"}
    return out


def runs_frame(chapter, runs: Sequence, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run (:func:`run_row`); ``labels`` adds a ``variant`` column (``None`` runs —
    missing ones — are skipped with their label). ``repeats``: how many seeds the run's
    configuration (all but its seed) has in the frame."""
    from covidnb.runs.store import canonical_json

    rows, identity = [], []
    for k, run in enumerate(runs):
        if run is None:
            continue
        row = run_row(chapter, run)
        if labels is not None:
            row["variant"] = labels[k]
        rows.append(row)
        identity.append(canonical_json(_without_seed(run.config)))
    if not rows:  # no run (e.g. none committed yet): the same columns, so a page's code still runs
        return _empty_frame(chapter, labels is not None)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["repeats"] = frame.groupby(pd.Series(identity, index=frame.index))["seed"].transform("nunique")
    return frame


def _empty_frame(chapter, variant: bool = False) -> pd.DataFrame:
    """A runs frame without rows, with the columns a frame of this chapter's runs has."""
    ch = get_chapter(chapter)
    described: list[str] = []
    for profile in ("smoke", "cpu", "paper"):
        try:
            described = list(ch.describe(ch.reference_plan(profile)[0]))
            break
        except Exception:  # noqa: BLE001, S112 — a chapter without a plan: its fixed columns only
            continue
    fixed = ["key", *described, "seed", "profile", "synthetic", "dataset", "split", "weights",
             "image_size", "epochs", "max_steps_per_epoch", "optimizer", "lr", "batch_size", "scheduler",
             "augmentation", "mixup_alpha", "cutmix_alpha", "mixup", "train_fraction", "train_counts",
             *_metric_names(), *COUNTS, "val_threshold",
             *[n + VAL_SUFFIX for n in THRESHOLDED + COUNTS], "best_epoch", "seconds"]
    return pd.DataFrame(columns=list(dict.fromkeys(fixed + (["variant"] if variant else []) + ["repeats"])))


def at_validation_threshold(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every thresholded metric (and the confusion counts) replaced by its value at
    the threshold chosen on the validation split, and an ``operating point`` column saying so;
    AUC is threshold-free and stays. Feed it to the same tables as the paper-rule frame, so the
    two operating points read side by side, each labelled."""
    out = frame.copy()
    for name in THRESHOLDED + COUNTS:
        col = name + VAL_SUFFIX
        if col in out:
            out[name] = out[col]
    out["operating point"] = "threshold chosen on validation (Youden J)"
    return out
