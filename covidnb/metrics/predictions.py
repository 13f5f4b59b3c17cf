"""Metrics of a predictions table (``covidnb.train.predict`` / a run's ``predictions.csv``).

Binary (two classes): the positive class is ``classes[1]`` and its probability ``p_<classes[1]>``
is thresholded at ``threshold``. Multi-class: :func:`multiclass_metrics` on the ``p_<class>``
columns (argmax prediction). Multi-label: per-label AUC on ``label_<name>`` / ``p_<name>``, stored
as ``per_label.<name>.auc`` and ``macro.auc`` so tables read like the multi-class ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from covidnb.metrics.binary import binary_metrics
from covidnb.metrics.multiclass import multiclass_metrics
from covidnb.metrics.multilabel import multilabel_auc


def _columns(df: pd.DataFrame, names: list[str], what: str) -> np.ndarray:
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise KeyError(f"predictions lack {what} column(s) {missing}; columns: {list(df.columns)}")
    return df[names].to_numpy(dtype=float)


def metrics_from_predictions(
    df: pd.DataFrame, classes: Sequence[str], multilabel: bool = False, threshold: float = 0.5
) -> dict:
    classes = list(classes)
    scores = _columns(df, [f"p_{c}" for c in classes], "score")
    if multilabel:
        Y = _columns(df, [f"label_{c}" for c in classes], "label")
        m = multilabel_auc(Y, scores, classes)
        return {
            "task": "multilabel",
            "classes": classes,
            "n": len(df),
            "per_label": {c: {"auc": v} for c, v in m["per_label"].items()},
            "macro": {"auc": m["macro"]},
            "n_defined": m["n_defined"],
        }
    y = _columns(df, ["label"], "label")[:, 0].astype(int)
    if len(classes) == 2:
        out = binary_metrics(y, scores[:, 1], threshold=threshold)
        return {"task": "binary", "classes": classes, "positive": classes[1], **out}
    return {"task": "multiclass", **multiclass_metrics(y, scores, classes)}
