"""Classification metrics on numpy arrays (CONTRACTS.md, "Metrics").

Names: ``accuracy, precision, sensitivity, specificity, f1, g_mean, auc``.
"""

from covidnb.metrics.binary import (
    NAMES,
    UndefinedMetricWarning,
    binary_metrics,
    confusion_counts,
    mark_undefined,
    metrics_from_counts,
    safe_auc,
)
from covidnb.metrics.multiclass import confusion_matrix, multiclass_metrics
from covidnb.metrics.multilabel import multilabel_auc
from covidnb.metrics.predictions import metrics_from_predictions
from covidnb.metrics.summary import CI, bootstrap_ci, flatten, format_mean_std, mean_std

__all__ = [
    "CI",
    "NAMES",
    "UndefinedMetricWarning",
    "binary_metrics",
    "bootstrap_ci",
    "confusion_counts",
    "confusion_matrix",
    "flatten",
    "format_mean_std",
    "mark_undefined",
    "mean_std",
    "metrics_from_counts",
    "metrics_from_predictions",
    "multiclass_metrics",
    "multilabel_auc",
    "safe_auc",
]
