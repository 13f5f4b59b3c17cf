"""The PEPX-ResNet chapter's shortcut audit (``05-shortcuts``, this book's addition; DeGrave et al.
2021): does a re-run number measure lung findings or the source collection?

* :func:`audit_table`, :func:`audit_paired` — the audit runs per task, and each class task
  against the whole-image run of the same seed;
* :func:`accuracy_by_source`, :func:`source_rule`, :func:`source_class_table` — what the source
  alone tells, and accuracy within one source against across sources;
* :func:`source_probe` — a second estimator of "is the source visible in the image?", every
  image held out once (:mod:`covidnb.metrics.probe`).

The tables of the paper (Tables 1–4) are :mod:`covidnb.chapters.pepx_resnet_view`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters import views
from covidnb.chapters.pepx_resnet import AUDIT_TASKS, CLASSES, SPEC, WHOLE_IMAGE


def audit_table(runs_frame: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Mean ± std over seeds of test accuracy and macro AUC per audit task (``labels``: the task
    of each row of ``runs_frame``, as :func:`covidnb.chapters.pepx_resnet.audit_grid` names them),
    with the share of the test split's most common label (what always guessing it scores)."""
    f = runs_frame.assign(task=list(labels))
    rows = []
    for task, g in f.groupby("task", sort=False):
        rows.append({"task": task, "accuracy": views.mean_std_cell(g["accuracy"], 3),
                     "macro AUC": views.mean_std_cell(g["auc_macro"], 3),
                     "majority share of test": views.mean_std_cell(g["majority_share"], 3),
                     "runs": len(g)})
    return pd.DataFrame(rows).set_index("task")


def audit_paired(runs_frame: pd.DataFrame, labels: Sequence[str], base: str = WHOLE_IMAGE) -> pd.DataFrame:
    """Each class task of the audit against the whole-image model on the same seed (the same
    patient split and test images): the mean ± std over seeds of the difference (whole image minus
    the task) in macro AUC and in accuracy, and in how many seeds the whole image ranks better. A
    difference near 0 means the blanked or border-only image carries about as much of the class
    as the whole film. The Cohen-only task has its own split and is left out."""
    f = runs_frame.assign(task=list(labels))
    whole = f[f["task"] == base].set_index("seed")
    rows = []
    for task, g in f.groupby("task", sort=False):
        target, _, only = AUDIT_TASKS.get(task, ("class", None, None))
        if task == base or target != "class" or only is not None:
            continue
        g = g.set_index("seed")
        seeds = g.index.intersection(whole.index)
        if not len(seeds):
            continue
        d_auc = whole.loc[seeds, "auc_macro"] - g.loc[seeds, "auc_macro"]
        d_acc = whole.loc[seeds, "accuracy"] - g.loc[seeds, "accuracy"]
        rows.append({"task": task, "Δ macro AUC (whole − task)": views.mean_std_cell(d_auc, 3),
                     "Δ accuracy (whole − task)": views.mean_std_cell(d_acc, 3),
                     "seeds where the whole image ranks better": f"{int((d_auc > 0).sum())} of {len(seeds)}"})
    return pd.DataFrame(rows).set_index("task") if rows else pd.DataFrame()


def majority_share(run) -> float:
    """The share of the most common label in the run's test predictions."""
    y = run.predictions["label"].to_numpy(int)
    return float(np.bincount(y).max() / len(y)) if len(y) else math.nan


def accuracy_by_source(runs: Sequence) -> pd.DataFrame:
    """Test accuracy of class runs within each source collection, against all sources together,
    with the class mix of each source's test images (mean over seeds; n = images over seeds)."""
    rows = []
    for r in runs:
        p = r.predictions
        scores = p[[f"p_{c}" for c in CLASSES]].to_numpy(float)
        right = scores.argmax(1) == p["label"].to_numpy(int)
        label = " | ".join(str(views.label_of(SPEC, r, b)) for b in ("Model", "Loss"))
        for src, idx in list(p.groupby("source").groups.items()) + [("all sources", p.index)]:
            rows.append({"run": label, "source": src, "seed": r.config["seed"],
                         "accuracy": float(right[p.index.get_indexer(idx)].mean()), "n": len(idx)})
    f = pd.DataFrame(rows)
    return f.groupby(["run", "source"]).agg(accuracy=("accuracy", "mean"), sd=("accuracy", "std"),
                                            images=("n", "sum"), seeds=("seed", "nunique"))


def source_rule(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """A classifier that sees only the source collection: it predicts, for every test image,
    the most common training class of its source. Returns its accuracy and the rule."""
    rule = train.groupby("source")["label"].agg(lambda s: s.value_counts().idxmax()).to_dict()
    fallback = train["label"].value_counts().idxmax()
    guess = test["source"].map(rule).fillna(fallback)
    return {"accuracy": float((guess == test["label"]).mean()), "rule": rule, "n": len(test)}


def source_class_table(datasets: Mapping[str, Any]) -> pd.DataFrame:
    """Images per (split, source, class) of the opened splits."""
    parts = [d.to_frame().assign(split=name) for name, d in datasets.items()]
    f = pd.concat(parts, ignore_index=True)
    return pd.crosstab([f["split"], f["source"]], f["label"]).reindex(columns=list(CLASSES), fill_value=0)


PROBE_SIZE = 16  # side of the pooled pixel grid the probe reads (256 features for ~111 images)
PROBE_BINS = 32  # grey-level histogram bins


def probe_features(datasets: Sequence) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every image of the opened splits once, as the network sees it (after the dataset's
    resizing and scaling): the grey levels average-pooled to ``PROBE_SIZE`` × ``PROBE_SIZE``, and
    their histogram; with each image's source (1 = the second source of the pool) and patient."""
    import torch
    import torch.nn.functional as F

    pixels, hist, source, patient = [], [], [], []
    for ds in datasets:
        order = list(ds.sources_in_pool)
        frame = ds.to_frame()
        for i in range(len(ds)):
            img = ds[i]["image"].float().mean(0, keepdim=True)[None]
            pixels.append(F.adaptive_avg_pool2d(img, PROBE_SIZE).flatten().numpy())
            hist.append(torch.histc(img, bins=PROBE_BINS, min=0.0, max=1.0).numpy() / img.numel())
            source.append(order.index(frame["source"].iloc[i]))
            patient.append(frame["patient_id"].iloc[i])
    feats = {f"grey levels, {PROBE_SIZE} × {PROBE_SIZE}": np.stack(pixels),
             f"grey-level histogram, {PROBE_BINS} bins": np.stack(hist)}
    return feats, np.asarray(source), np.asarray(patient)


def source_probe(datasets: Sequence, permutations: int = 100, seed: int = 0) -> pd.DataFrame:
    """The shortcut audit's second estimator of "is the source visible in the image?": a fixed
    L2 logistic regression on :func:`probe_features`, every image held out once (5 folds, whole
    patients), with a permutation p-value (:func:`covidnb.metrics.probe.grouped_probe`)."""
    from covidnb.metrics.probe import grouped_probe

    feats, source, patient = probe_features(datasets)
    rows = []
    for name, x in feats.items():
        r = grouped_probe(x, source, patient, permutations=permutations, seed=seed)
        rows.append({"features": name, "images": r["images"], "patients": r["groups"],
                     "AUC (out of fold)": r["auc"], "AUC reached by chance (95 %)": r["null_95"],
                     "permutation p": r["p_value"], "permutations": r["permutations"]})
    return pd.DataFrame(rows)
