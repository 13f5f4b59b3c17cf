"""Figures of results: ROC curves, confusion matrices, training curves, mean ± std bars.

Every function draws on ``ax`` when given (else a new figure) and returns the Axes (or, for
several panels, the Figure), so a notebook can style or save it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _axes(ax, figsize=(4.5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _roc_input(item, positive: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(y, score)`` from a pair, or from a predictions frame (``label`` + ``p_<positive>``)."""
    if isinstance(item, pd.DataFrame):
        pcols = [c for c in item.columns if c.startswith("p_")]
        if positive is None:
            if len(pcols) != 2:
                raise ValueError(
                    f"predictions have {len(pcols)} classes {pcols}: name the positive class"
                )
            positive = pcols[1][2:]
        col = f"p_{positive}"
        if col in pcols and "label" in item:
            return (item["label"].to_numpy() == pcols.index(col)).astype(int), item[col].to_numpy(
                float
            )
        if col in pcols and f"label_{positive}" in item:  # multi-label: one label's curve
            return item[f"label_{positive}"].to_numpy(int), item[col].to_numpy(float)
        raise KeyError(
            f"predictions lack {col!r} or its label column; columns: {list(item.columns)}"
        )
    y, s = item
    return np.asarray(y).astype(int), np.asarray(s, dtype=float)


def roc_curves(
    curves: Mapping[str, object], positive: str | None = None, ax=None, title: str | None = None
):
    """ROC curves of several runs or models on one axis; each legend entry carries its AUC.

    ``curves`` maps a name to ``(y_true, score)`` or to a predictions DataFrame (then the curve is
    ``positive`` vs rest; ``positive`` defaults to the second class of a binary table).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    ax = _axes(ax)
    for name, item in curves.items():
        y, s = _roc_input(item, positive)
        if np.unique(y).size < 2:
            raise ValueError(f"ROC of {name!r}: only one class among the labels")
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC = {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="1 − specificity (FPR)",
        ylabel="sensitivity (TPR)",
        title=title or "ROC",
    )
    ax.set_aspect("equal")
    if len(curves) > 3:  # more curves than the lower-right corner holds: the legend beside the axes
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    else:
        ax.legend(loc="lower right", fontsize="small")
    return ax


def confusion_matrix_plot(
    y_true,
    y_pred,
    classes: Sequence[str],
    normalize: bool = False,
    ax=None,
    title: str | None = None,
    cmap: str = "Blues",
):
    """Counts, or rows normalised to sum to 1 (each true class' distribution of predictions)."""
    import seaborn as sns

    from covidnb.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, len(classes)).astype(float)
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    ax = _axes(ax)
    scale = {"fmt": ".2f", "vmin": 0, "vmax": 1} if normalize else {"fmt": ".0f", "vmin": 0}
    labels = {"xticklabels": classes, "yticklabels": classes}
    sns.heatmap(cm, annot=True, cmap=cmap, cbar=False, square=True, ax=ax, **scale, **labels)
    ax.set(
        xlabel="predicted",
        ylabel="true",
        title=title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix"),
    )
    return ax


def training_curves(history: pd.DataFrame, metrics: Sequence[str] | None = None, figsize=None):
    """One panel per quantity (losses together; then e.g. ``val_auc``, ``lr``, ``loss.*``)."""
    if len(history) == 0:
        raise ValueError("training_curves: empty history")
    if metrics is None:
        metrics = [
            c for c in history.columns if c not in ("epoch", "seconds", "train_loss", "val_loss")
        ]
    if len(history) < 2:  # one epoch is a dot, not a curve: say what it was instead
        print("one epoch: no curve to draw; after it: "
              + ", ".join(f"{c} {history[c].iloc[0]:.4g}" for c in history.columns
                          if c not in ("epoch", "seconds") and pd.api.types.is_number(history[c].iloc[0])))
        return None
    panels = [[c for c in ("train_loss", "val_loss") if c in history]] + [[m] for m in metrics]
    panels = [p for p in panels if p]
    fig, axes = plt.subplots(
        1, len(panels), figsize=figsize or (3.6 * len(panels), 3), squeeze=False
    )
    x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, cols in zip(axes[0], panels):
        for c in cols:
            if c not in history:
                raise KeyError(
                    f"training_curves: {c!r} not in history; columns: {list(history.columns)}"
                )
            ax.plot(x, history[c], marker="o", ms=3, label=c)
        ax.set(xlabel="epoch", title=" / ".join(cols))
        if len(cols) > 1:
            ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def mean_std_bars(
    frame: pd.DataFrame,
    metric: str,
    by: str,
    hue: str | None = None,
    ax=None,
    reference: Mapping[str, float] | None = None,
    title: str | None = None,
):
    """Bars of the mean of ``metric`` per ``by`` (and ``hue``) with ±1 std error bars, computed
    from one row per run (e.g. ``store.table()``); ``reference`` marks a paper's value per bar."""
    from covidnb.metrics import mean_std

    keys = [by] + ([hue] if hue else [])
    s = mean_std(frame, keys, [metric])
    ax = _axes(ax, (max(4, 1.2 * len(s)), 3.5))
    groups = list(dict.fromkeys(s[by]))
    hues = list(dict.fromkeys(s[hue])) if hue else [None]
    width = 0.8 / len(hues)
    for j, h in enumerate(hues):
        sub = s if h is None else s[s[hue] == h]
        pos = [groups.index(g) + (j - (len(hues) - 1) / 2) * width for g in sub[by]]
        ax.bar(
            pos,
            sub[f"{metric}_mean"],
            width,
            yerr=sub[f"{metric}_std"].fillna(0),
            capsize=3,
            label=str(h) if h is not None else None,
        )
    if reference:
        for g, v in reference.items():
            if g in groups:
                i = groups.index(g)
                ax.hlines(v, i - 0.4, i + 0.4, colors="k", linestyles="--", lw=1)
    ax.set_xticks(range(len(groups)), [str(g) for g in groups], rotation=30, ha="right")
    ax.set(ylabel=metric, title=title or f"{metric}: mean ± std over runs")
    if hue and len(hues) > 3:  # many groups: the legend beside the axes, not over the bars
        ax.legend(fontsize="small", title=hue, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    elif hue:
        ax.legend(fontsize="small", title=hue)
    return ax


def sample_grid(dataset, per_class: int = 4, seed: int = 0, size: float = 1.8):
    """A few samples of each class (rows: classes), titled with their sample ids."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    targets = np.asarray(dataset.targets)
    fig, axes = plt.subplots(len(dataset.classes), per_class, figsize=(size * per_class, size * len(dataset.classes)),
                             squeeze=False)
    for c, name in enumerate(dataset.classes):
        idx = np.flatnonzero(targets == c)
        for ax, i in zip(axes[c], rng.choice(idx, size=min(per_class, idx.size), replace=False)):
            img = dataset[int(i)]["image"].numpy()
            ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}\n{Path(dataset.sample_ids[i]).name[:28]}", fontsize=7)
        for ax in axes[c]:
            ax.axis("off")
    if getattr(dataset, "synthetic", False):
        fig.suptitle("SYNTHETIC PHANTOM — not real data", color="red")
    fig.tight_layout()
    return fig
