"""Size-balanced sampling (Ouyang et al., IEEE TMI 2020, §III-C).

Cases are split into four groups by the infection-to-lung volume ratio: COVID-19 with small
infection (ratio < 0.030), COVID-19 with large infection, CAP with small infection, CAP with large
infection (ratio > 0.001). The groups get the weights
``[N_large^covid / N_small^covid, 1, 1, N_small^cap / N_large^cap]``; a draw picks a group with
probability weight / sum of weights, then a case uniformly inside it. Per case, that is
``P(group) / N_group``, which ``size_balanced_weights`` returns so that torch's
``WeightedRandomSampler`` does the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

COVID_SMALL_BELOW = 0.030
CAP_LARGE_ABOVE = 0.001
GROUP_NAMES = ("covid_small", "covid_large", "cap_small", "cap_large")


@dataclass
class SizeGroups:
    group: np.ndarray  # per case, index into GROUP_NAMES
    counts: np.ndarray  # cases per group
    group_weights: np.ndarray  # the paper's W per group
    group_probabilities: np.ndarray  # W / W_sum


def size_groups(is_covid, infection_ratio, covid_small_below: float = COVID_SMALL_BELOW,
                cap_large_above: float = CAP_LARGE_ABOVE) -> SizeGroups:
    covid = np.asarray(is_covid).astype(bool)
    ratio = np.asarray(infection_ratio, dtype=np.float64)
    if covid.shape != ratio.shape:
        raise ValueError(f"is_covid has shape {covid.shape} but infection_ratio {ratio.shape}")
    if np.any(~np.isfinite(ratio)) or np.any(ratio < 0) or np.any(ratio > 1):
        bad = np.flatnonzero(~np.isfinite(ratio) | (ratio < 0) | (ratio > 1))[:5]
        raise ValueError(f"infection ratios must lie in [0, 1]; bad entries at {bad.tolist()}")
    group = np.where(covid, np.where(ratio < covid_small_below, 0, 1),
                     np.where(ratio > cap_large_above, 3, 2))
    counts = np.bincount(group, minlength=4)
    empty = [GROUP_NAMES[i] for i in range(4) if counts[i] == 0]
    if empty:
        raise ValueError(f"size-balanced sampling needs every group non-empty; empty: {', '.join(empty)}")
    w = np.array([counts[1] / counts[0], 1.0, 1.0, counts[2] / counts[3]])
    return SizeGroups(group, counts, w, w / w.sum())


def size_balanced_weights(is_covid, infection_ratio, **kw) -> np.ndarray:
    g = size_groups(is_covid, infection_ratio, **kw)
    return g.group_probabilities[g.group] / g.counts[g.group]


def size_balanced_sampler(is_covid, infection_ratio, num_samples: int | None = None, seed: int = 0,
                          **kw) -> WeightedRandomSampler:
    w = size_balanced_weights(is_covid, infection_ratio, **kw)
    gen = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(w), num_samples or len(w), replacement=True, generator=gen)
