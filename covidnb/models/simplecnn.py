"""SimpleCNN, the thesis' weakest baseline (Xu 2021 thesis §2.3.1, Fig. 2.1, Table 5.1).

The thesis says only that SimpleCNN uses "a very simple 3*3 convolution"; Fig. 2.1 is not in the
text. Our reading: three plain blocks of 3×3 conv → ReLU → 2×2 max-pool (no batch norm, to keep
it the plainest model of the seven) with ``width``, 2·``width`` and 4·``width`` channels, a global
average pool so any input size works, and one linear layer to the logits.
"""

from __future__ import annotations

import torch
from torch import nn

from covidnb.models import MODELS
from covidnb.models.unet import check_model_args


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: int = 64):
        super().__init__()
        check_model_args("simplecnn", in_channels, num_classes, width)
        layers: list[nn.Module] = []
        c = in_channels
        for mult in (1, 2, 4):
            layers += [nn.Conv2d(c, width * mult, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = width * mult
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def cam_layer(self) -> nn.Module:
        """The last conv, for Grad-CAM."""
        return self.features[-3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@MODELS.register("simplecnn")
def simplecnn(in_channels: int = 1, num_classes: int = 1, width: int = 64) -> SimpleCNN:
    return SimpleCNN(in_channels, num_classes, width)
