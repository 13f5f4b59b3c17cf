"""Class-balanced re-sampling: every class is drawn with equal probability.

A sample of class c gets weight 1 / n_c, so the expected class mix of a drawn batch is uniform.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def class_balanced_weights(targets) -> np.ndarray:
    y = np.asarray(targets)
    if y.ndim != 1:
        raise ValueError(f"class-balanced sampling needs single-label targets, got shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    per_class = dict(zip(classes.tolist(), (1.0 / counts).tolist()))
    return np.array([per_class[c] for c in y.tolist()], dtype=np.float64)


def class_balanced_sampler(targets, num_samples: int | None = None, seed: int = 0) -> WeightedRandomSampler:
    w = class_balanced_weights(targets)
    g = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(w), num_samples or len(w), replacement=True, generator=g)
