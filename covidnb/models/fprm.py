"""FPRM — fusion of high-level semantic and low-level features in the ScseResUNet head (Xu 2021 thesis §3.1).

The thesis adds "a module of fprm" after the head's 1×1 deformable conv, "to facilitate the fusion
of information between high-level semantic information and low-level features", and defines it
no further (no figure, no equation, no expansion of the acronym). Our reading, written down so it
can be argued with:

- *Which features.* High-level: the head's map (decoder output after four max-pools and the 1×1
  conv). Low-level: the network's first feature map x1 (stem conv–BN–ReLU–max-pool), the
  least-processed features there are.
- *How they are fused.* The two papers the thesis cites for multi-scale fusion (§2.3.3) are FPN
  (Lin et al. 2017: resize, 1×1 lateral conv, add) and DFN (Yu et al. 2018, whose Channel
  Attention Block lets the high-level stage choose which low-level channels to keep). FPRM here is
  both: the low-level map is average-pooled to the high-level map's size and projected by a 1×1
  conv–BN (FPN lateral); channel weights ``w = σ(conv1×1(ReLU(conv1×1(GAP([high, low])))))`` are
  computed from both, without a bottleneck, as in DFN's CAB; the output is ``high + w · low``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FPRM(nn.Module):
    """``high + w ⊙ lateral(pool(low))``, with ``w`` a channel gate computed from both inputs."""

    def __init__(self, high_channels: int, low_channels: int):
        super().__init__()
        self.lateral = nn.Sequential(
            nn.Conv2d(low_channels, high_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(high_channels),
        )
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(2 * high_channels, high_channels, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(high_channels, high_channels, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        # Pooling (not strided conv) brings the large low-level map down without new weights.
        low = self.lateral(F.adaptive_avg_pool2d(low, high.shape[-2:]))
        w = self.gate(torch.cat([high, low], dim=1))
        return high + w * low
