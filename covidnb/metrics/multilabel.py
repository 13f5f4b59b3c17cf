"""Multi-label metrics: one ROC AUC per label (e.g. the 14 findings of ChestX-ray14).

The macro AUC is the mean over labels whose AUC is defined (a label with one class only in the
test set is NaN, with a warning, and left out; ``n_defined`` says how many counted).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from covidnb.metrics.binary import UndefinedMetricWarning, safe_auc


def multilabel_auc(Y, S, labels: Sequence[str]) -> dict:
    """``{"per_label": {label: auc}, "macro": mean, "n_defined": k}`` for ``N×L`` 0/1 targets ``Y``
    and scores ``S``."""
    labels = list(labels)
    Y = np.asarray(Y)
    S = np.asarray(S, dtype=float)
    if Y.ndim != 2 or Y.shape != S.shape or Y.shape[1] != len(labels):
        raise ValueError(
            f"Y and S must both be N×L with L={len(labels)}, got {Y.shape} and {S.shape}"
        )
    per_label = {}
    for j, name in enumerate(labels):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UndefinedMetricWarning)
            per_label[name] = safe_auc(Y[:, j], S[:, j])
        if caught:
            warnings.warn(
                f"AUC of label {name!r} undefined (one class only); NaN",
                UndefinedMetricWarning,
                stacklevel=2,
            )
    vals = np.array(list(per_label.values()), dtype=float)
    defined = np.isfinite(vals)
    return {
        "per_label": per_label,
        "macro": float(vals[defined].mean()) if defined.any() else float("nan"),
        "n_defined": int(defined.sum()),
    }
