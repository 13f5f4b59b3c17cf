"""Tables II and III of Ouyang et al. 2020 from the chapter's runs: per-fold test predictions,
the dual-sampling ensemble (Eq. 5), metrics per fold and per infection-ratio group, mean ± std
over the five fold models, paired t-tests, and the paper's F1 (§IV-C).

The paper's F1 is not COVID-19's F1: from Table I's test counts and Table II's sensitivity and
specificity, COVID-19's F1 of RN34 + US would be 0.909 while the table prints 0.798, the mean of
the two classes' F1 (:func:`f1_from_rates`). Both are reported here (``f1`` = COVID-19's,
``f1_macro`` = the paper's reading).

Paired t-tests: the paper gives p-values between models without saying what is paired. Here
the paired unit is the fold model: the same fold's training data, the same test set, one value
per fold (n = number of folds; undefined below 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from covidnb.chapters.dual_sampling import CLASSES, TABLE_NAMES, describe
from covidnb.chapters.dual_sampling_ensemble import PRINTED, EnsembleRule, ensemble
from covidnb.data.infection_stats import RATIO_LABELS, ratio_group
from covidnb.metrics import binary_metrics

__all__ = ["METRICS", "add_ensemble", "f1_from_rates", "fold_metrics", "fold_predictions",
           "group_metrics", "mean_std", "paired_tests", "split_ratios", "test_ratios",
           "validation_predictions"]

METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1", "f1_macro")
P_COL = f"p_{CLASSES[1]}"
_RATIO_CACHE: dict[str, np.ndarray] = {}


def test_ratios(run) -> pd.Series:
    """Measured infection ratio of every test volume of ``run`` (its phantoms' masks), by
    sample id; cached by the test set's checksum (all folds share one test set)."""
    from covidnb.experiment import test_split

    ds = test_split(run)
    key = ds.info()["checksum"]
    if key not in _RATIO_CACHE:
        if not hasattr(ds, "infection_ratios"):
            raise TypeError(f"{ds.name}: the test set has no infection masks to compute ratios from")
        _RATIO_CACHE[key] = np.asarray(ds.infection_ratios())
    return pd.Series(_RATIO_CACHE[key], index=list(ds.sample_ids), name="ratio")


def split_ratios(run, split: str = "val") -> pd.Series:
    """Measured infection ratios of a run's ``split`` (opened as the run opened it), by sample id."""
    from covidnb.data import open_dataset
    from covidnb.experiment import DEFAULTS

    if split == "test":
        return test_ratios(run)
    cfg = {**DEFAULTS, **run.config}
    ds = open_dataset(cfg["dataset"], cfg[f"{split}_split"], image_size=cfg["image_size"],
                      channels=cfg["channels"], fallback=cfg["fallback"], seed=cfg["data_seed"],
                      **cfg["dataset_kwargs"])
    return pd.Series(np.asarray(ds.infection_ratios()), index=list(ds.sample_ids), name="ratio")


def validation_predictions(runs: Iterable) -> pd.DataFrame:
    """Like :func:`fold_predictions`, on each run's validation fold (``val_predictions.csv``,
    the kept model's scores); runs without that file are skipped."""
    from covidnb.experiment import VAL_PREDICTIONS

    frames = []
    for run in runs:
        path = run.path / VAL_PREDICTIONS
        if not path.exists():
            continue
        d = describe(run.config)
        pred = pd.read_csv(path)[["sample_id", "label", P_COL]].rename(columns={P_COL: "p"})
        ratios = split_ratios(run, "val")
        frames.append(pred.assign(variant=d["variant"], Model=d["Model"], fold=d["fold"],
                                  ratio=pred["sample_id"].map(ratios).to_numpy()))
    cols = ["variant", "Model", "fold", "sample_id", "label", "p", "ratio"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def fold_predictions(runs: Iterable) -> pd.DataFrame:
    """One row per (run, test volume): ``variant, Model, fold, sample_id, label, p, ratio``."""
    frames = []
    for run in runs:
        d = describe(run.config)
        pred = run.predictions[["sample_id", "label", P_COL]].rename(columns={P_COL: "p"})
        ratios = test_ratios(run)
        frames.append(pred.assign(variant=d["variant"], Model=d["Model"], fold=d["fold"],
                                  ratio=pred["sample_id"].map(ratios).to_numpy()))
    if not frames:
        return pd.DataFrame(columns=["variant", "Model", "fold", "sample_id", "label", "p", "ratio"])
    return pd.concat(frames, ignore_index=True)


def add_ensemble(preds: pd.DataFrame, rule: EnsembleRule = PRINTED, us: str = "att_rn34_us",
                 ss: str = "att_rn34_ss", variant: str = "att_rn34_ds",
                 label: str | None = None) -> pd.DataFrame:
    """``preds`` plus the DS rows of every fold that has both ``us`` and ``ss`` (Eq. 5 on their
    probabilities, ``w`` by each volume's ratio under ``rule``)."""
    a = preds[preds["variant"] == us]
    b = preds[preds["variant"] == ss]
    both = a.merge(b[["fold", "sample_id", "p"]], on=["fold", "sample_id"], suffixes=("_us", "_ss"))
    if both.empty:
        return preds
    ds = both[["fold", "sample_id", "label", "ratio"]].copy()
    ds["p"] = ensemble(both["p_us"], both["p_ss"], both["ratio"], rule)
    ds["variant"], ds["Model"] = variant, label or TABLE_NAMES.get(variant, variant)
    return pd.concat([preds, ds[preds.columns]], ignore_index=True)


def _metrics(y, p, threshold: float) -> dict[str, float]:
    m = binary_metrics(y, p, threshold)
    out = {k: m[k] for k in METRICS if k in m}
    # the other class's F1 from the same confusion matrix: 2·TN / (2·TN + FN + FP)
    den = 2 * m["tn"] + m["fn"] + m["fp"]
    f1_neg = 2 * m["tn"] / den if den else np.nan
    both = [v for v in (m["f1"], f1_neg) if np.isfinite(v)]
    out["f1_macro"] = float(np.mean(both)) if len(both) == 2 else np.nan
    out["n"] = len(y)
    return out


def fold_metrics(preds: pd.DataFrame, threshold: float = 0.5, by: Sequence[str] = ("Model", "fold")) -> pd.DataFrame:
    """Metrics of every (model, fold) on the test set; undefined ones are NaN."""
    rows = [{**dict(zip(by, key if isinstance(key, tuple) else (key,))),
             **_metrics(g["label"].to_numpy(), g["p"].to_numpy(), threshold)}
            for key, g in preds.groupby(list(by), sort=False)]
    return pd.DataFrame(rows)


def group_metrics(preds: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Table III: metrics per (model, fold, infection-ratio group) of the test volumes."""
    g = preds.assign(group=[ratio_group(r) for r in preds["ratio"]])
    out = fold_metrics(g, threshold, by=("Model", "fold", "group"))
    out["group"] = pd.Categorical(out["group"], list(RATIO_LABELS) + ["undefined"], ordered=True)
    return out.sort_values(["Model", "group", "fold"]).reset_index(drop=True)


def mean_std(frame: pd.DataFrame, by: Sequence[str] = ("Model",),
             metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean ± std over folds per group, with ``n`` (the folds defining each metric)."""
    rows = []
    for key, g in frame.groupby(list(by), sort=False, observed=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            v = g[m].dropna()
            row[m] = v.mean() if len(v) else np.nan
            row[f"{m} ±"] = v.std(ddof=1) if len(v) > 1 else np.nan
            row[f"{m} n"] = f"{len(v)} of {len(g)}"
        rows.append(row)
    return pd.DataFrame(rows)


def mean_std_cells(frame: pd.DataFrame, by: Sequence[str] = ("Model",),
                   metrics: Sequence[str] = METRICS, digits: int = 3) -> pd.DataFrame:
    """:func:`mean_std` as one ``mean ± std`` cell per metric (the count of folds where fewer
    define it, "—" where none does): the page's readable form of the same numbers."""
    from covidnb.chapters.views.tables import mean_std_cell

    rows = []
    for key, g in frame.groupby(list(by), sort=False, observed=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update({m: mean_std_cell(g[m].to_numpy(float), digits=digits) for m in metrics})
        rows.append(row)
    return pd.DataFrame(rows)


def paired_tests(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], metric: str = "auc") -> pd.DataFrame:
    """Paired t-test per pair of models over the folds both have (the paired unit: the fold
    model); p is NaN with fewer than two folds."""
    from scipy.stats import ttest_rel

    rows = []
    for a, b in pairs:
        x = frame[frame["Model"] == a].set_index("fold")[metric]
        y = frame[frame["Model"] == b].set_index("fold")[metric]
        common = x.index.intersection(y.index)
        xa, yb = x.loc[common].to_numpy(float), y.loc[common].to_numpy(float)
        ok = np.isfinite(xa) & np.isfinite(yb)
        n = int(ok.sum())
        if n >= 2 and np.any(xa[ok] != yb[ok]):
            res = ttest_rel(xa[ok], yb[ok])
            t, p = float(res.statistic), float(res.pvalue)
        else:
            t = p = np.nan
        rows.append({"A": a, "B": b, "metric": metric, "paired unit": "fold model", "n": n,
                     "mean A − B": float(np.mean(xa[ok] - yb[ok])) if n else np.nan, "t": t, "p": p})
    return pd.DataFrame(rows)


def f1_from_rates(sensitivity: float, specificity: float, n_pos: int, n_neg: int) -> dict[str, float]:
    """F1 of the positive class, of the negative class and their mean, from sensitivity,
    specificity and the class counts (the confusion matrix they imply)."""
    tp, fn = sensitivity * n_pos, (1 - sensitivity) * n_pos
    tn, fp = specificity * n_neg, (1 - specificity) * n_neg
    f1_pos = 2 * tp / (2 * tp + fp + fn)
    f1_neg = 2 * tn / (2 * tn + fn + fp)
    return {"f1_positive": f1_pos, "f1_negative": f1_neg, "f1_macro": (f1_pos + f1_neg) / 2}
