"""Samplers: class-balanced re-sampling and the size-balanced sampling of Ouyang et al. (2020)."""

from covidnb.sampling.class_balanced import class_balanced_sampler, class_balanced_weights
from covidnb.sampling.size_balanced import (
    SizeGroups,
    size_balanced_sampler,
    size_balanced_weights,
    size_groups,
)

__all__ = [
    "SizeGroups",
    "class_balanced_sampler",
    "class_balanced_weights",
    "size_balanced_sampler",
    "size_balanced_weights",
    "size_groups",
]
