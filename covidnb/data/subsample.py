"""Class-imbalance subsets: keep a fraction of chosen classes, whole patients at a time.

Used for the imbalance experiments of Hu et al. (Neurocomputing 458, 2021, §5.3, Table 6:
COVID-19 training images cut to 25 / 10 / 5 / 1 %). The paper does not say whether it cut by
slice or by case; here whole patients are kept when patient ids are known (``by_patient=True``),
so no patient is split between kept and dropped images.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


def subsample(dataset: Any, keep: dict[str, float], seed: int = 0, by_patient: bool = True):
    """A dataset of the same class with only ``keep[cls]`` of each named class (others whole).

    For each class, patients (or single images where the patient id is empty or
    ``by_patient=False``) are shuffled with ``seed`` and taken until the kept images reach
    ``round(fraction × images)`` (at least one group), so the count may overshoot by less than
    one patient. Raises ``ValueError`` naming the class and fraction when a class would be
    emptied, and ``KeyError`` for an unknown class.
    """
    if getattr(dataset, "multilabel", False):
        raise ValueError(
            f"{dataset.name}: subsample keeps fractions of single-label classes; "
            "this dataset is multi-label"
        )
    classes = list(dataset.classes)
    for cls, frac in keep.items():
        if cls not in classes:
            raise KeyError(
                f"{dataset.name}: unknown class {cls!r} in keep; classes: {', '.join(classes)}"
            )
        if not 0.0 <= float(frac) <= 1.0:
            raise ValueError(
                f"{dataset.name}: fraction for class {cls!r} must be in [0, 1], got {frac}"
            )
    targets = np.asarray(dataset.targets)
    rng = np.random.default_rng(seed)
    kept: list[int] = []
    for ci, cls in enumerate(classes):
        idx = np.flatnonzero(targets == ci)
        if cls not in keep:
            kept += idx.tolist()
            continue
        frac = float(keep[cls])
        if frac == 0.0 or len(idx) == 0:
            raise ValueError(
                f"{dataset.name}/{dataset.split}: keeping {frac:g} of class {cls!r} "
                f"({len(idx)} samples) would empty the class"
            )
        groups: dict[str, list[int]] = defaultdict(list)
        for i in idx:
            pid = dataset.patient_ids[i] if by_patient else ""
            groups[pid or f"__sample_{i}"].append(int(i))
        order = sorted(groups)  # sorted first: the shuffle must not depend on dict order
        order = [order[j] for j in rng.permutation(len(order))]
        target = max(1, round(frac * len(idx)))
        chosen: list[int] = []
        for g in order:
            if len(chosen) >= target:
                break
            chosen += groups[g]
        kept += chosen
    out = dataset.subset(sorted(kept))
    out.subsample_spec = {
        "keep": dict(keep),
        "seed": seed,
        "by_patient": by_patient,
        "from_counts": dataset.class_counts(),
    }
    return out
