"""``tinycnn``: a two-convolution CNN for tests, smoke runs and benchmarks (not from a paper).

``aux=True`` makes it return ``(main_logits, aux_logits)``, the shape of a deeply supervised model,
so code handling auxiliary outputs can be tested in milliseconds. ``dropout`` exercises the RNG.
"""

from __future__ import annotations

import torch
from torch import nn

from covidnb.models import MODELS


class TinyCNN(nn.Module):
    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        width: int = 8,
        aux: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, num_classes)
        self.aux_head = nn.Linear(width, num_classes) if aux else None

    def forward(self, x: torch.Tensor):
        h1 = self.pool(torch.relu(self.conv1(x)))
        h2 = torch.relu(self.conv2(h1))
        main = self.head(self.drop(h2.mean(dim=(2, 3))))
        if self.aux_head is None:
            return main
        return main, self.aux_head(h1.mean(dim=(2, 3)))


@MODELS.register("tinycnn")
def tinycnn(in_channels: int = 1, num_classes: int = 2, **kw) -> TinyCNN:
    return TinyCNN(in_channels=in_channels, num_classes=num_classes, **kw)
