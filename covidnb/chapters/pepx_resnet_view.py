"""What only the PEPX-ResNet chapter shows of the paper's tables: per-class Tables 2–4 (at the
argmax and at the class offsets chosen on validation), three-class confusion matrices, per-class
F1 per epoch, one-vs-rest ROC and bootstrap intervals. The learned A, B, C are
:mod:`covidnb.chapters.pepx_resnet_blocks`; the shortcut audit :mod:`covidnb.chapters.pepx_resnet_shortcuts`.

The shared runs frame (:func:`covidnb.chapters.views.runs_frame`) holds the binary metric names;
Zhang & Zhang report precision, sensitivity and F1 per class, so :func:`frame` adds one column per
(metric, class), computed from each run's stored confusion matrix. An undefined value (no image
predicted as a class: precision; no image of it: sensitivity; F1 built on either) is NaN, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from covidnb.chapters import views
from covidnb.chapters.contract import Comparison
from covidnb.chapters.pepx_resnet import CLASSES, LOSS_NAMES, PAPER_CLASSES, SPEC
from covidnb.chapters.views.frames import VAL_SUFFIX
from covidnb.metrics.operating import balanced_accuracy_from_confusion, most_called_share

PER_CLASS = ("precision", "sensitivity", "f1", "auc")
TABLE_METRIC = {"2": "precision", "3": "sensitivity", "4": "f1"}
# a multi-class run's operating point chosen on validation (covidnb.metrics.operating.class_offsets)
OFFSETS_LABEL = "class offsets chosen on validation (max balanced accuracy)"


def column(metric: str, cls: str) -> str:
    return f"{metric}_{cls}"


def per_class_from_confusion(cm: Sequence[Sequence[int]], classes: Sequence[str]) -> dict[str, float]:
    """Precision, sensitivity and F1 of each class from a confusion matrix (rows: true class,
    columns: predicted), NaN where undefined."""
    cm = np.asarray(cm, dtype=float)
    out = {}
    for k, c in enumerate(classes):
        tp, fp, fn = cm[k, k], cm[:, k].sum() - cm[k, k], cm[k].sum() - cm[k, k]
        p = tp / (tp + fp) if tp + fp else math.nan
        s = tp / (tp + fn) if tp + fn else math.nan
        f = math.nan if math.isnan(p) or math.isnan(s) else (2 * p * s / (p + s) if p + s else 0.0)
        out.update({column("precision", c): p, column("sensitivity", c): s, column("f1", c): f})
    return out


def run_columns(run) -> dict[str, float]:
    """The per-class columns of one run (and ``auc_macro``) from its metrics record."""
    m = run.metrics or {}
    classes = m.get("classes") or list(CLASSES)
    out = per_class_from_confusion(m["confusion_matrix"], classes) if "confusion_matrix" in m else {}
    for c in classes if m.get("task") != "binary" else []:
        auc = ((m.get("per_class") or {}).get(c) or {}).get("auc")
        out[column("auc", c)] = math.nan if auc is None else float(auc)
    # a two-class task (the audit's source target) records one AUC, of its second class
    auc = m.get("auc") if m.get("task") == "binary" else (m.get("macro") or {}).get("auc")
    out["auc_macro"] = math.nan if auc is None else float(auc)
    # balanced accuracy (mean sensitivity, chance 1 / K): what the validation offsets maximise
    out["balanced_accuracy"] = balanced_accuracy_from_confusion(m.get("confusion_matrix") or [])
    # the same per-class values at the class offsets chosen on validation (NaN where none)
    op = m.get("val_offsets") or {}
    at_val = per_class_from_confusion(op["confusion_matrix"], classes) if op.get("confusion_matrix") else {}
    out["balanced_accuracy" + VAL_SUFFIX] = balanced_accuracy_from_confusion(op.get("confusion_matrix") or [])
    for metric in TABLE_METRIC.values():
        for c in classes:
            out[column(metric, c) + VAL_SUFFIX] = at_val.get(column(metric, c), math.nan)
    offsets = op.get("offsets")
    out["val_offsets"] = (", ".join(f"{c} {offsets[c]:+.2f}" for c in classes) if offsets
                          else op.get("why", "—" if m.get("task") == "multiclass" else None))
    return out


def at_validation_offsets(runs_frame: pd.DataFrame) -> pd.DataFrame:
    """``runs_frame`` with accuracy and every per-class value replaced by its value at the class
    offsets chosen on each run's validation split (:func:`views.at_validation_threshold` for the
    shared columns), labelled in an ``operating point`` column; AUC stays. A run whose validation
    split could not choose offsets shows NaN ("—"), never its argmax value."""
    out = views.at_validation_threshold(runs_frame)
    for metric in TABLE_METRIC.values():
        for c in CLASSES:
            col = column(metric, c)
            if col + VAL_SUFFIX in out:
                out[col] = out[col + VAL_SUFFIX]
    out["operating point"] = OFFSETS_LABEL
    return out


def called_share_at_offsets(run) -> float:
    """The share of test images a run puts in its most-called class at its validation offsets
    (NaN when it has none)."""
    return most_called_share((run.metrics.get("val_offsets") or {}).get("confusion_matrix"))


def balanced_accuracy_table(runs_frame: pd.DataFrame, by=("Model", "Loss")) -> pd.DataFrame:
    """Mean ± std over seeds of balanced accuracy at the argmax and at the validation offsets
    (what the offsets were chosen to raise; chance is 1 / 3), beside accuracy at both."""
    rows = []
    for key, g in runs_frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["balanced accuracy, argmax"] = views.mean_std_cell(g["balanced_accuracy"], 3)
        row["balanced accuracy, validation offsets"] = views.mean_std_cell(g["balanced_accuracy" + VAL_SUFFIX], 3)
        row["accuracy, argmax"] = views.mean_std_cell(g["accuracy"], 3)
        row["accuracy, validation offsets"] = views.mean_std_cell(g["accuracy" + VAL_SUFFIX], 3)
        row["runs"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows).set_index(list(by))


def frame(runs: Sequence) -> pd.DataFrame:
    """The shared runs frame with the per-class columns added."""
    runs = [r for r in runs if r is not None]
    out = views.runs_frame(SPEC, runs)
    if out.empty:
        return out
    extra = pd.DataFrame([run_columns(r) for r in runs], index=out.index)
    return pd.concat([out, extra], axis=1)


def table_comparisons() -> list[Comparison]:
    """Tables 2–4 (precision, sensitivity, F1 per class), each for both losses."""
    return [Comparison(f"Table {t} ({LOSS_NAMES[loss]})", t, on=("Model", "Model"),
                       metrics={PAPER_CLASSES[c]: column(metric, c) for c in CLASSES},
                       where={"loss": loss, "target": "class", "view": "full", "sources": "all"})
            for t, metric in TABLE_METRIC.items() for loss in ("focal", "ce")]


def tables_1_to_4(runs_frame: pd.DataFrame, profile: str | None = None) -> dict[str, pd.DataFrame]:
    """Every reported table beside the re-run (Table 1 from the declaration, Tables 2–4 here)."""
    if runs_frame.empty:
        return {}
    out = views.compare_all(SPEC, runs_frame, profile)
    for cmp in table_comparisons():
        out[cmp.name] = views.compare_one(SPEC, cmp, runs_frame, profile)
    return out


def per_class_table(runs_frame: pd.DataFrame, metric: str, by=("Model", "Loss")) -> pd.DataFrame:
    """Mean ± std over seeds of ``metric`` per class, one row per group (the paper's class names)."""
    cols = {PAPER_CLASSES[c]: column(metric, c) for c in CLASSES}
    rows = []
    for key, g in runs_frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for name, col in cols.items():
            row[name] = views.mean_std_cell(g[col], 4)
        row["runs"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows).set_index(list(by))


# -- figures ------------------------------------------------------------------------------------
def _called(run, at_validation: bool) -> pd.DataFrame | None:
    """``run``'s test labels and called classes: the argmax, or at its validation offsets
    (``None`` when it has none)."""
    from covidnb.metrics.operating import predict_with_offsets

    p = run.predictions
    scores = p[[f"p_{c}" for c in CLASSES]].to_numpy(float)
    if not at_validation:
        return pd.DataFrame({"label": p["label"], "called": scores.argmax(1)})
    offsets = (run.metrics.get("val_offsets") or {}).get("offsets")
    if not offsets:
        return None
    return pd.DataFrame({"label": p["label"],
                         "called": predict_with_offsets(scores, [offsets[c] for c in CLASSES])})


def confusion_3class(runs: Sequence, by=("Model", "Loss"), at_validation: bool = False):
    """One confusion matrix per group (counts summed over its seeds): the argmax, or with
    ``at_validation`` the calls at each run's class offsets chosen on validation (runs without
    offsets are left out, and the title counts the seeds kept)."""
    import matplotlib.pyplot as plt

    from covidnb.plots import confusion_matrix_plot

    groups: dict[str, list[pd.DataFrame]] = {}
    for r in runs:
        label = " | ".join(str(views.label_of(SPEC, r, b)) for b in by)
        called = _called(r, at_validation)
        if called is not None:
            groups.setdefault(label, []).append(called)
    if not groups:  # e.g. records made before runs chose offsets: say so, draw nothing
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.text(0.5, 0.5, "no run here records class offsets chosen on validation", ha="center",
                va="center", fontsize=9)
        ax.axis("off")
        return fig
    fig, axes = plt.subplots(1, len(groups), figsize=(3.3 * len(groups), 3.2), squeeze=False)
    names = [PAPER_CLASSES[c] for c in CLASSES]
    for ax, (label, preds) in zip(axes[0], groups.items()):
        pred = pd.concat(preds, ignore_index=True)
        confusion_matrix_plot(pred["label"].to_numpy(int), pred["called"].to_numpy(int), names, ax=ax,
                              title=label + (f"\n(sum of {len(preds)} seeds)" if len(preds) > 1 else ""))
    fig.tight_layout()
    return fig


def _epoch_f1(run) -> pd.DataFrame:
    """The run's per-epoch validation F1 per class (columns: class names), empty if its history
    has none (records made before :func:`covidnb.train.fit` kept ``val_f1_<k>``)."""
    h = run.history if run is not None else pd.DataFrame()
    cols = sorted((c for c in h.columns if c.startswith("val_f1_")), key=lambda c: int(c[7:]))
    if not cols or "epoch" not in h:
        return pd.DataFrame()
    classes = (run.metrics or {}).get("classes") or list(CLASSES)
    if len(classes) != len(cols) or list(classes) != list(CLASSES):
        return pd.DataFrame()  # another target (e.g. the audit's source collections)
    out = h[cols].astype(float).set_axis(list(classes), axis=1)
    return out.assign(epoch=h["epoch"].to_numpy())


def has_epoch_f1(runs: Sequence) -> bool:
    """Whether any run recorded the per-class validation F1 of every epoch (Fig. 10 drawable)."""
    return any(len(_epoch_f1(r)) for r in runs if r is not None)


def f1_per_epoch(runs: Sequence, by=("Model", "Loss")):
    """Fig. 10 of Zhang & Zhang (§4.2; panels a–c: Normal, Non-COVID, COVID-19) on the re-run:
    per-class F1 against the epoch, one panel per class, a line per group of ``by``, the mean over
    its seeds. The loop scores the *validation* split after each epoch (the test split is used
    once), so the axes say so. A class with no F1 in a seed's epoch (never predicted there, or
    absent) is left out of that epoch's mean; an epoch where no seed has one is a gap. With one
    epoch per run, prints the values instead."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    parts = []
    for r in runs:
        f = _epoch_f1(r)
        if len(f):
            parts.append(f.assign(_group=" | ".join(str(views.label_of(SPEC, r, b)) for b in by),
                                  _seed=r.config.get("seed")))
    if not parts:
        raise ValueError("f1_per_epoch: no run recorded per-class F1 per epoch (see has_epoch_f1)")
    hist = pd.concat(parts, ignore_index=True)
    names = list(CLASSES)
    groups = list(dict.fromkeys(hist["_group"]))
    if hist["epoch"].nunique() < 2:
        print("one epoch per run: no curve to draw; validation F1 per class after it (mean over seeds):")
        display(hist.groupby("_group", sort=False)[names].mean().rename(columns=PAPER_CLASSES).round(4))
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False,
                             sharex=True, sharey=True)
    for ax, c in zip(axes[0], names):
        for g in groups:
            sub = hist[hist["_group"] == g]
            mean = sub.groupby("epoch")[c].mean()
            k = sub["_seed"].nunique()
            ax.plot(mean.index, mean.values, marker="o", ms=3, label=f"{g} ({k} seed{'s' * (k > 1)})")
        if hist[c].isna().all():  # an empty panel must not read as a drawing failure
            ax.text(0.5, 0.5, "no F1 in any epoch:\nthe class was never predicted\n(or is absent)",
                    ha="center", va="center", transform=ax.transAxes, fontsize="small")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="epoch", xlim=(hist["epoch"].min() - 0.3, hist["epoch"].max() + 0.3),
               ylim=(-0.02, 1.02), title=f"F1 {PAPER_CLASSES[c]}, validation split")
    axes[0][0].set_ylabel("F1 (mean over seeds)")
    axes[0][-1].legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


def roc_one_vs_rest(runs: Sequence, by=("Model", "Loss"), seed: int | None = None):
    """One panel per class: that class against the rest, a curve per group, for one seed."""
    import matplotlib.pyplot as plt

    from covidnb.plots import roc_curves

    seeds = sorted({r.config["seed"] for r in runs})
    seed = seeds[0] if seed is None else seed
    chosen = [r for r in runs if r.config["seed"] == seed]
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(4.4 * len(CLASSES), 4.0), squeeze=False)
    for ax, c in zip(axes[0], CLASSES):
        curves = {}
        for r in chosen:
            p = r.predictions
            y = (p["label"].to_numpy(int) == CLASSES.index(c)).astype(int)
            if np.unique(y).size == 2:
                curves[" | ".join(str(views.label_of(SPEC, r, b)) for b in by)] = (y, p[f"p_{c}"].to_numpy(float))
        if curves:
            roc_curves(curves, ax=ax, title=f"{PAPER_CLASSES[c]} vs rest (seed {seed})")
        else:
            ax.set_title(f"{PAPER_CLASSES[c]}: not in this test split")
        ax.legend(fontsize="x-small", loc="lower right")
    fig.tight_layout()
    return fig


# -- intervals ----------------------------------------------------------------------------------
def _confusion(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    k = scores.shape[1]
    return np.bincount(y * k + scores.argmax(1), minlength=k * k).reshape(k, k)


def bootstrap_table(runs: Sequence, by=("Model", "Loss"), n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Percentile bootstrap 95 % intervals of accuracy and of each class's precision, sensitivity
    and F1, over the test images of all seeds of a group pooled (each seed's test split holds
    other patients, so the pool is the re-run's whole test evidence). Cells: ``estimate [low,
    high]``; a metric undefined in every resample shows "—"."""
    from covidnb.metrics import bootstrap_ci

    groups: dict[tuple, list] = {}
    for r in runs:
        groups.setdefault(tuple(views.label_of(SPEC, r, b) for b in by), []).append(r.predictions)
    rows = []
    for key, preds in groups.items():
        p = pd.concat(preds, ignore_index=True)
        y = p["label"].to_numpy(int)
        s = p[[f"p_{c}" for c in CLASSES]].to_numpy(float)
        fns = {"accuracy": lambda yy, ss: float((ss.argmax(1) == yy).mean())}
        for metric in ("precision", "sensitivity", "f1"):
            for c in CLASSES:
                fns[f"{metric} {PAPER_CLASSES[c]}"] = (
                    lambda yy, ss, m=metric, c=c:
                    per_class_from_confusion(_confusion(yy, ss), CLASSES)[column(m, c)])
        row = dict(zip(by, key))
        for name, fn in fns.items():
            ci = bootstrap_ci(fn, y, s, n=n, seed=seed)
            row[name] = ("—" if math.isnan(ci.low) else f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]")
        row["test images (all seeds)"] = len(y)
        rows.append(row)
    return pd.DataFrame(rows).set_index(list(by))


def mode_gap(net, dataset, batch_size: int = 16) -> pd.DataFrame:
    """Accuracy and the share of the most-predicted class on ``dataset`` with the normalisation
    layers in evaluation mode (running statistics, as every test here) and in training mode
    (the statistics of each batch of ``batch_size``). A large gap means the running statistics do
    not describe what the network saw in training. ``net`` is not changed (a copy runs)."""
    import copy

    import torch

    x = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    y = np.asarray(dataset.targets)
    rows = []
    for mode in ("eval", "train"):
        m = copy.deepcopy(net).train(mode == "train")
        with torch.no_grad():
            pred = torch.cat([m(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).argmax(1).numpy()
        rows.append({"normalisation statistics": "running (evaluation mode)" if mode == "eval"
                     else f"per batch of {batch_size} (training mode)",
                     "accuracy": float((pred == y).mean()),
                     "share of the most-predicted class": float(np.bincount(pred).max() / len(pred))})
    return pd.DataFrame(rows).set_index("normalisation statistics")


def one_class_share(run) -> float:
    """The share of test images a run puts in its most-predicted class (1.0: one class for all)."""
    p = run.predictions
    guess = p[[f"p_{c}" for c in CLASSES]].to_numpy(float).argmax(1)
    return float(np.bincount(guess).max() / len(guess)) if len(guess) else math.nan


def closing_note(runs: Sequence, audit_frame: pd.DataFrame | None, audit_labels: Sequence[str] = ()) -> str:
    """The page's closing paragraph, every number computed from the runs: Table 1 re-run beside
    the paper's, the runs that call every test image one class, and the audit's key rows."""
    from covidnb import report

    f = frame(runs)
    paper = report.reported_table("pepx_resnet", "1").set_index("Model")["Accuracy"].astype(float)
    lines = ["**Closing note, computed from the committed reference re-run.**", ""]
    for (model, loss), g in f.groupby(["Model", "Loss"], sort=False):
        lines.append(f"- {model}, {loss}: accuracy {g['accuracy'].mean():.3f} ± {g['accuracy'].std():.3f} "
                     f"over {len(g)} seeds, against the paper's {paper.get(model, math.nan):.4f}.")
    at_val = at_validation_offsets(f)
    for (model, loss), g in at_val.groupby(["Model", "Loss"], sort=False):
        defined = g["accuracy"].notna().sum()
        lines.append(f"- {model}, {loss}, at the {OFFSETS_LABEL}: accuracy "
                     + (f"{g['accuracy'].mean():.3f} ± {g['accuracy'].std():.3f} over {defined} of "
                        f"{len(g)} seeds" if defined else "— (no seed's validation split chose offsets)")
                     + f"; balanced accuracy {g['balanced_accuracy' + VAL_SUFFIX].mean():.3f} against "
                     f"{g['balanced_accuracy'].mean():.3f} at the argmax (chance {1 / len(CLASSES):.3f}).")
    one = [r for r in runs if one_class_share(r) >= 1.0]
    most = [r for r in runs if one_class_share(r) >= 0.9]
    shares = [called_share_at_offsets(r) for r in runs]
    most_val = sum(v >= 0.9 for v in shares if not math.isnan(v))
    lines.append(f"- {len(one)} of {len(runs)} runs call every test image one class at the argmax"
                 + (f" ({', '.join(sorted({views.label_of(SPEC, r, 'Model') for r in one}))}; "
                    "04-evaluation compares running and batch statistics)" if one else "")
                 + f"; {len(most)} call at least 90 % of them one class; at their validation offsets "
                 f"{most_val} of the {sum(not math.isnan(v) for v in shares)} runs that have them do.")
    if audit_frame is not None and len(audit_frame):
        a = audit_frame.assign(task=list(audit_labels)).groupby("task")
        acc, auc, maj = a["accuracy"].mean(), a["auc_macro"].mean(), a["majority_share"].mean()
        for task in acc.index:
            lines.append(f"- audit, {task}: accuracy {acc[task]:.3f} (majority share {maj[task]:.3f}), "
                         f"AUC {auc[task]:.3f}.")
    return "\n".join(lines)
