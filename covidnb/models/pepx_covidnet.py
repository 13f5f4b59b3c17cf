"""A COVID-Net-style network (Wang, Lin & Wong, Sci Rep 10:19549, 2020) built from depth-wise PEPX
modules: this book's extension, not a model of Zhang & Zhang, whose tables quote COVID-Net's
published result (COVIDNet-CXR3-B) rather than re-running it.

COVID-Net's design, as its paper draws it: a 7×7 stem, then four stages of 3, 4, 6 and 3 PEPX
modules with the 3×3 step depth-wise, densely connected inside a stage: each module reads the
sum of a 1×1 projection of the stage input and every earlier module's output. The widths here are
``width·(1, 2, 4, 8)`` (COVID-Net's own widths are larger); the head is average pool + linear in
place of COVID-Net's three dense layers, so that parameter counts compare with ResNet-18's on the
convolutional part.
"""

from __future__ import annotations

import torch
from torch import nn

from covidnb.models import MODELS
from covidnb.models.pepx import PEPX


class DenseStage(nn.Module):
    """``n`` PEPX modules, the first strided; module ``i`` reads ``shortcut + Σ_{j<i} out_j``."""

    def __init__(self, c_in: int, c_out: int, n: int, stride: int, depthwise: bool = True):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out))
        self.first = PEPX(c_in, c_out, stride, depthwise)
        self.rest = nn.ModuleList(PEPX(c_out, c_out, 1, depthwise) for _ in range(n - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.shortcut(x) + self.first(x)
        for module in self.rest:
            total = total + module(torch.relu(total))
        return torch.relu(total)


class COVIDNetStyle(nn.Module):
    cam_layer_name = "stages"  # the last feature map, for Grad-CAM

    def __init__(self, in_channels: int = 1, num_classes: int = 3, width: int = 64,
                 depths=(3, 4, 6, 3), depthwise: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], width
        for k, n in enumerate(depths):
            c_out = width * 2 ** k
            stages.append(DenseStage(c_in, c_out, n, 1 if k == 0 else 2, depthwise))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stages(self.stem(x)).mean(dim=(2, 3)))


@MODELS.register("covidnet_style")
def covidnet_style(in_channels: int = 1, num_classes: int = 3, **kw) -> COVIDNetStyle:
    return COVIDNetStyle(in_channels=in_channels, num_classes=num_classes, **kw)
