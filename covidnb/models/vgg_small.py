"""The thesis' small VGG: four conv layers and two fully connected layers (Xu 2021 thesis §2.3.2, Fig. 2.2).

Readings where the thesis is vague (Fig. 2.2 is not in the text): each conv layer is a VGG block
of one 3×3 conv → BN → ReLU → 2×2 max-pool (batch norm as in torchvision's ``vgg*_bn``; the thesis
trains from scratch with Adam at 1e-4), channels ``width``·(1, 2, 4, 8) doubling per block as in
VGG. Before the classifier an adaptive average pool brings any input to 4×4 (torchvision's VGG
does the same to 7×7), so 224, 256 and 480 px inputs share one set of weights. The two fully
connected layers are ``8·width·16 → 8·width`` (ReLU, dropout 0.5, as VGG) and ``8·width → classes``.
"""

from __future__ import annotations

import torch
from torch import nn

from covidnb.models import MODELS
from covidnb.models.unet import check_model_args, conv_bn_relu

POOLED = 4


class VGGSmall(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: int = 64, dropout: float = 0.5):
        super().__init__()
        check_model_args("vgg_small", in_channels, num_classes, width)
        blocks: list[nn.Module] = []
        c = in_channels
        for mult in (1, 2, 4, 8):
            blocks += [conv_bn_relu(c, width * mult), nn.MaxPool2d(2)]
            c = width * mult
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        self.classifier = nn.Sequential(
            nn.Linear(c * POOLED * POOLED, c),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(c, num_classes),
        )

    def cam_layer(self) -> nn.Module:
        """The last conv block, for Grad-CAM (thesis Fig. 4.6 uses VGG)."""
        return self.features[-2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@MODELS.register("vgg_small")
def vgg_small(in_channels: int = 1, num_classes: int = 1, width: int = 64, dropout: float = 0.5) -> VGGSmall:
    return VGGSmall(in_channels, num_classes, width, dropout)
