"""PEPX-ResNet's learned path weights A, B, C (§3.2) after training: per block from a run's record
or checkpoint, over seeds, and how far the run's optimiser could have moved them at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from covidnb.chapters import views
from covidnb.chapters.pepx_resnet import LOSS_NAMES


def _weights_frame(rows: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), index=pd.Index(range(1, len(rows) + 1), name="block"))


def block_weights(model) -> pd.DataFrame:
    """The learned A, B, C of each block of a PEPX-ResNet (rows: blocks 1–4)."""
    return _weights_frame(model.block_weights())


def learned_block_weights(run, store=None) -> pd.DataFrame:
    """A, B, C per block of a PEPX-ResNet run after training: from its record (runs keep them),
    else from its checkpoint (:func:`views.trained_model`, which raises ``views.NotReRun`` where
    there is none to read, as in the book)."""
    rows = (run.metrics or {}).get("block_weights")
    if rows:
        return _weights_frame(rows)
    net, _ = views.trained_model(run, store)
    return block_weights(net)


def adam_reach(run) -> dict[str, Any] | None:
    """How far a run could have moved one scalar weight such as A, B or C: Adam's step on a
    parameter is about at most the learning rate (Kingma & Ba 2015, §2.1), so (optimiser steps) ×
    lr bounds the change from the start. Steps: ``ceil(training images / batch)`` per epoch (the
    cap ``max_steps_per_epoch`` where set) times the epochs run. ``None`` unless the run used
    Adam with a constant learning rate."""
    t = run.config.get("train") or {}
    n = ((run.provenance or {}).get("datasets", {}).get("train") or {}).get("n")
    epochs = (run.metrics.get("training") or {}).get("epochs_run")
    if t.get("optimizer") != "adam" or t.get("scheduler") or not n or not epochs:
        return None
    per_epoch = math.ceil(n / int(t["batch_size"]))
    if t.get("max_steps_per_epoch"):
        per_epoch = min(per_epoch, int(t["max_steps_per_epoch"]))
    steps = per_epoch * int(epochs)
    return {"steps": steps, "lr": float(t["lr"]), "reach": steps * float(t["lr"])}


def block_weights_over_seeds(runs: Sequence) -> pd.DataFrame:
    """Mean ± std over seeds of each block's recorded A, B, C, one row per (loss, block), from the
    PEPX-ResNet runs whose records keep them (empty when none does)."""
    parts = []
    for r in runs:
        rows = (r.metrics or {}).get("block_weights")
        if r.config.get("model") == "pepx_resnet" and rows:
            parts.append(_weights_frame(rows).reset_index().assign(
                Loss=LOSS_NAMES.get(r.config.get("loss"), r.config.get("loss")), seed=r.config["seed"]))
    if not parts:
        return pd.DataFrame()
    f = pd.concat(parts, ignore_index=True)
    names = [c for c in ("A", "B", "C") if c in f]
    out = f.groupby(["Loss", "block"], sort=False)[names].agg(lambda v: views.mean_std_cell(v, 3))
    out["seeds"] = f.groupby(["Loss", "block"], sort=False)["seed"].nunique()
    return out
