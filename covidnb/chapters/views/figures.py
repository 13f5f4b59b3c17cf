"""Figures every chapter draws from its runs, grouped by any column of the chapter's
``describe`` (model, loss, kept fraction, …): training curves, ROC curves, confusion matrices,
and rows of Grad-CAMs (live or stored with the run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters.registry import get_chapter


def _nothing_committed(what: str, ax=None):
    """In the book (read-only), a figure of runs that are not committed yet is a small panel
    saying so, not an error: the page goes on (its "not re-run yet" list names the commands).
    Returns that panel's axes, or ``None`` outside the book (the caller raises)."""
    import matplotlib.pyplot as plt

    from covidnb.chapters.views.stores import read_only

    if not read_only():
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 1.2))
    ax.text(0.5, 0.5, f"{what}: no committed run to draw yet (not re-run yet)", ha="center",
            va="center", fontsize=9)
    ax.axis("off")
    return ax


def _as_list(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def label_of(chapter, run, by: str | Sequence[str]) -> Any:
    """The run's value of ``by`` (``describe`` columns or config keys); several columns are
    joined with ``" + "`` (``["network", "Loss"]`` → ``"DSN-VGG-16-BN + SAAL"``)."""
    ch = get_chapter(chapter)
    d = {**run.config, **ch.describe(run.config)}
    values = [d.get(b) for b in _as_list(by)]
    return values[0] if len(values) == 1 else " + ".join(str(v) for v in values)


def select(chapter, runs: Sequence, where: Mapping[str, Any] | None = None) -> list:
    """The runs (``None`` skipped) whose ``describe`` / config values match ``where``."""
    ch = get_chapter(chapter)
    out = []
    for r in runs:
        if r is None:
            continue
        d = {**r.config, **ch.describe(r.config)}
        if all(d.get(k) == v for k, v in (where or {}).items()):
            out.append(r)
    return out


def _order(chapter, by, labels) -> list:
    ch = get_chapter(chapter)
    order = ch.row_orders.get(by if isinstance(by, str) else "", [])
    rank = {v: i for i, v in enumerate(order)}
    return sorted(dict.fromkeys(labels), key=lambda v: rank.get(v, len(rank)))


def curves_by(chapter, runs: Sequence, by: str | Sequence[str] = "Model",
              quantities: Sequence[str] = ("train_loss", "val_loss", "val_auc"), figsize=None):
    """Per-epoch training history, one line per group (mean over its seeds), a panel per quantity."""
    import matplotlib.pyplot as plt

    frames = [r.history.assign(_group=label_of(chapter, r, by)) for r in runs
              if r is not None and len(r.history)]
    if not frames:
        empty = _nothing_committed("training curves")
        if empty is not None:
            return empty.figure
        raise ValueError("curves_by: no run has a training history")
    hist = pd.concat(frames, ignore_index=True)
    quantities = [q for q in quantities if q in hist]
    if hist["epoch"].nunique() < 2:  # one epoch is a dot, not a curve: say what it was instead
        from IPython.display import display

        last = hist.groupby("_group")[quantities].mean()
        print("one epoch per run: no curve to draw; the values after that epoch (mean over seeds):")
        display(last.round(4))
        return None
    fig, axes = plt.subplots(1, len(quantities), figsize=figsize or (4.2 * len(quantities), 3.4), squeeze=False)
    averaged = hist.groupby("_group")["epoch"].size().max() > hist["epoch"].nunique()
    for ax, q in zip(axes[0], quantities):
        for name in _order(chapter, by, hist["_group"]):
            mean = hist[hist._group == name].groupby("epoch")[q].mean()
            ax.plot(mean.index, mean.values, marker="o", ms=3, label=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="epoch", title=q + (" (mean over seeds)" if averaged else ""))
    axes[0][-1].legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


def roc_by(chapter, runs: Sequence, by: str | Sequence[str] = "Model", seed: int | None = None,
           where: Mapping[str, Any] | None = None, ax=None, title: str | None = None):
    """ROC curves on the test split, one per group of ``by``, for one seed (default: the
    smallest) among the runs matching ``where``."""
    from covidnb.plots import roc_curves

    ch = get_chapter(chapter)
    chosen = select(ch, runs, where)
    seeds = sorted({r.config["seed"] for r in chosen})
    if not seeds:
        empty = _nothing_committed("ROC curves", ax)
        if empty is not None:
            return empty
        raise ValueError(f"roc_by: no run matches {where or {}}")
    seed = seeds[0] if seed is None else seed
    curves = {label_of(ch, r, by): r.predictions for r in chosen if r.config["seed"] == seed}
    curves.pop(None, None)  # a run with no label for ``by`` is in no group
    curves = {k: curves[k] for k in _order(ch, by, curves)}
    return roc_curves(curves, positive=ch.positive, ax=ax,
                      title=title or f"ROC on the test split (seed {seed})")


def predicted(chapter, pred: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
    """1 where the score of the chapter's positive class reaches ``threshold``."""
    return (pred[f"p_{get_chapter(chapter).positive}"].to_numpy(float) >= threshold).astype(int)


def confusion_grid(chapter, runs: Sequence, by: str | Sequence[str] = "Model", cols: str | None = None,
                   where: Mapping[str, Any] | None = None, threshold: float = 0.5, ncols: int = 4,
                   class_names: Sequence[str] | None = None):
    """One confusion matrix per group of ``by`` (counts summed over its seeds) at ``threshold``;
    with ``cols``, a grid: rows the groups of ``by``, columns the values of ``cols``."""
    import matplotlib.pyplot as plt

    from covidnb.plots import confusion_matrix_plot

    ch = get_chapter(chapter)
    groups: dict[tuple, list[pd.DataFrame]] = {}
    for r in select(ch, runs, where):
        key = (label_of(ch, r, by), label_of(ch, r, cols) if cols else None)
        if key[0] is not None:  # a run with no label for ``by`` is in no group
            groups.setdefault(key, []).append(r.predictions)
    if not groups:
        empty = _nothing_committed("confusion matrices")
        if empty is not None:
            return empty.figure
        raise ValueError(f"confusion_grid: no run matches {where or {}}")
    rows = _order(ch, by, [k[0] for k in groups])
    if cols:
        columns = sorted({k[1] for k in groups}, key=lambda v: (-v) if isinstance(v, float) else str(v))
        cells = [[(r, c) for c in columns] for r in rows]
    else:
        flat = [(r, None) for r in rows]
        cells = [flat[i:i + ncols] for i in range(0, len(flat), ncols)]
    width = max(len(line) for line in cells)
    fig, axes = plt.subplots(len(cells), width, figsize=(3.1 * width, 3.0 * len(cells)), squeeze=False)
    names = list(class_names or [c.replace("CT_", "") for c in ch.classes])
    for ax_row, line in zip(axes, cells):
        for ax, key in zip(ax_row, line):
            if key not in groups:
                ax.axis("off")
                continue
            pred = pd.concat(groups[key], ignore_index=True)
            n = len(groups[key])
            confusion_matrix_plot(pred["label"], predicted(ch, pred, threshold), names, ax=ax,
                                  title=" | ".join(str(k) for k in key if k is not None)
                                  + (f"\n(sum of {n} seeds)" if n > 1 else ""))
        for ax in ax_row[len(line):]:
            ax.axis("off")
    fig.tight_layout()
    return fig


# -- Grad-CAM -----------------------------------------------------------------------------------
def confident_indices(run, dataset, cls: str, n: int = 4) -> list[int]:
    """Indices in ``dataset`` of the ``n`` test images of class ``cls`` the run scored most
    confidently as ``cls`` (from its stored predictions), most confident first."""
    pred = run.predictions
    k = list(dataset.classes).index(cls)
    pos = {sid: i for i, sid in enumerate(dataset.sample_ids)}
    rows = pred[pred["label"] == k].sort_values(f"p_{cls}", ascending=False, kind="stable")
    return [pos[s] for s in rows["sample_id"] if s in pos][:n]


def cam_rows(results: Mapping[str, Sequence], image_weight: float = 0.5):
    """One row per image: the image, then each model's CAM over it (``results``: name → the
    :class:`~covidnb.cam.CamResult` list of each model, all of the same images), titled with
    the prediction, its probability and the class the map explains."""
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    from covidnb.cam import cam_colorbar, short_id

    names = list(results)
    n = len(results[names[0]])
    fig, axes = plt.subplots(n, 1 + len(names), figsize=(2.9 * (1 + len(names)), 2.8 * n), squeeze=False)
    for i in range(n):
        first = results[names[0]][i]
        axes[i][0].imshow(first.image)
        axes[i][0].set_title(f"{short_id(first.sample_id)}\nlabel: {first.label}", fontsize=7)
        for j, name in enumerate(names, start=1):
            r = results[name][i]
            axes[i][j].imshow(show_cam_on_image(r.image, r.cam, use_rgb=True, image_weight=image_weight))
            axes[i][j].set_title(f"{name}\npred {r.prediction} ({r.probability:.2f}); CAM of {r.target}",
                                 fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.results = dict(results)
    fig.tight_layout()
    cam_colorbar(fig, axes)
    return fig


def stored_cam_rows(runs: Mapping[str, Any], image_weight: float = 0.5):
    """:func:`cam_rows` drawn from the CAMs stored with the runs (``cams.npz``, written by the
    reference runner for the runs the chapter's ``reference_cams`` names): no checkpoint, no
    model, no data needed."""
    from covidnb.cam import run_cams

    results = {}
    for name, run in runs.items():
        stored = run_cams(run)
        if stored is None:
            raise FileNotFoundError(f"{run.path}: run {run.key[:12]} ({name}) has no stored CAMs")
        results[name] = stored[0]
    ids = {name: [r.sample_id for r in rs] for name, rs in results.items()}
    if len({tuple(v) for v in ids.values()}) > 1:
        raise ValueError(f"stored_cam_rows: the runs' CAMs are of different images: {ids}")
    return cam_rows(results, image_weight)
