"""How far a fixed, simple model can predict a patient-level label from features, cross-validated
by patient, with a permutation test: the shortcut audit's second estimator of "is the source
collection visible in the image?" (``nbs/pepx_resnet/05-shortcuts``).

A network trained on about 65 images answers that question noisily: its validation split of
about 20 images can call a chance ranker excellent (the cpu source-task run of seed 2 has
validation AUC 0.93 and test AUC 0.38). A linear model sees every image of the pool once as a
held-out image (k-fold, whole patients per fold), so its out-of-fold AUC uses all of them, and
shuffling the label between patients says how often chance alone reaches that AUC
(Ojala & Garriga 2010, test 1). Nothing is tuned: the model and its regularisation are fixed
beforehand, so there is no choice that could be fitted to the folds.

scikit-learn's ``permutation_test_score`` is not used: given ``groups`` it shuffles labels only
*within* each group, and a patient's source is the same on all its images, so every shuffle
would leave the labels unchanged. Here the labels move between whole patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from covidnb.metrics.binary import safe_auc


def _group_labels(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct groups, each one's label, and each sample's group index; a group whose
    samples disagree is refused (the permutation moves labels between whole groups)."""
    names, index = np.unique(groups, return_inverse=True)
    per_group = np.full(len(names), -1)
    for g in range(len(names)):
        values = np.unique(labels[index == g])
        if len(values) != 1:
            raise ValueError(f"group {names[g]!r} holds samples of labels {values.tolist()}: a "
                             "grouped probe needs one label per group (e.g. a patient's source)")
        per_group[g] = values[0]
    return names, per_group, index


def out_of_fold_scores(features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                       folds: int = 5, C: float = 1.0, seed: int = 0) -> np.ndarray:
    """Each sample's score from an L2 logistic regression (features standardised on the
    training folds) fitted without its patient: ``StratifiedGroupKFold`` keeps every group in
    one fold and the label shares of the folds close."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="liblinear"))
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, features, labels, groups=groups, cv=cv,
                             method="predict_proba")[:, 1]


def grouped_probe(features: np.ndarray, labels: Sequence[int], groups: Sequence[Any],
                  folds: int = 5, permutations: int = 100, C: float = 1.0,
                  seed: int = 0) -> dict[str, Any]:
    """Out-of-fold AUC of :func:`out_of_fold_scores` for the binary ``labels``, and its
    permutation p-value: the share of ``permutations`` shufflings of the label between groups
    (the stratified folds recomputed for each shuffled labelling) whose AUC is at least the observed one, counting the observed
    labelling itself, (1 + k) / (1 + permutations)."""
    x = np.asarray(features, dtype=float).reshape(len(labels), -1)
    y, g = np.asarray(labels, dtype=int), np.asarray(groups)
    if set(np.unique(y)) != {0, 1}:
        raise ValueError(f"grouped_probe needs binary labels 0/1, got {np.unique(y).tolist()}")
    _, per_group, index = _group_labels(y, g)
    observed = safe_auc(y, out_of_fold_scores(x, y, g, folds, C, seed))
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(permutations):
        y_perm = rng.permutation(per_group)[index]
        null.append(safe_auc(y_perm, out_of_fold_scores(x, y_perm, g, folds, C, seed)))
    null = np.asarray(null, dtype=float)
    p = (1 + int(np.sum(null >= observed))) / (1 + len(null))
    return {"auc": float(observed), "p_value": float(p), "null_mean": float(np.nanmean(null)) if len(null) else float("nan"),
            "null_95": float(np.nanquantile(null, 0.95)) if len(null) else float("nan"),
            "images": len(y), "groups": len(per_group), "positives": int(y.sum()),
            "folds": folds, "permutations": permutations}
