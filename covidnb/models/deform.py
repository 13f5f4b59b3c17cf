"""Modulated deformable convolution (DCNv2, Zhu et al. CVPR 2019) for DResUNet (Xu 2021 thesis §3.1).

The thesis ships ``deform-conv-v2.py`` (appendix), i.e. the modulated form: each of the k×k
sampling points gets a learned 2-D offset Δp and a modulation scalar Δm ∈ (0, 1),
``y(p) = Σ_k w_k · x(p + p_k + Δp_k) · Δm_k`` (DCNv2, eq. 3). The sampling itself is
``torchvision.ops.DeformConv2d`` with its ``mask`` argument; offsets and masks come from an ordinary
conv with the same kernel, stride and padding, zero-initialised as in DCNv2 so that training starts
from a plain convolution (Δp = 0) scaled by σ(0) = 0.5.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import DeformConv2d


class ModulatedDeformConv2d(nn.Module):
    """``DeformConv2d`` whose offsets (2·k² channels) and mask (k², sigmoid) are predicted from the input."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = False):
        super().__init__()
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        self.k2 = kernel_size * kernel_size
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size, stride=stride,
                                 padding=padding, dilation=dilation, bias=bias)
        self.offset_mask = nn.Conv2d(in_channels, 3 * self.k2, kernel_size, stride=stride,
                                     padding=padding, dilation=dilation, bias=True)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    @property
    def weight(self) -> torch.Tensor:
        return self.conv.weight

    def offsets_and_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        om = self.offset_mask(x)
        return om[:, : 2 * self.k2], torch.sigmoid(om[:, 2 * self.k2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset, mask = self.offsets_and_mask(x)
        return self.conv(x, offset, mask)
