"""UNet used as a classifier (Xu 2021 thesis §2.3.3, Fig. 2.4–2.10; Ronneberger et al. 2015).

The thesis' ``unet-parts.py`` holds four blocks, rebuilt here:

- ``DoubleConv``: (3×3 conv → BN → ReLU) × 2.
- ``Down``: 2×2 max-pool then ``DoubleConv``; the encoder has four.
- ``Up``: ×2 upsampling, bilinear or by a 2×2 transposed conv, then the smaller map is padded to
  the skip connection's size before the concatenation (the thesis' choice (2), "fill the smaller
  feature and then concat"), then ``DoubleConv``. Padding makes odd input sizes work; when the
  upsampled map is the larger one (odd sizes after a stride-2 conv) the negative pad crops it.
- ``OutConv``: a 1×1 conv to one channel per class.

Readings where the thesis is vague:

- *UNet as a classifier.* The thesis trains UNet for binary classification but does not say how
  the segmentation-shaped output becomes one score. We keep the whole UNet, including
  ``OutConv``, and average its class maps over the image (global average pooling). Because
  ``OutConv`` is linear this equals a linear layer on pooled decoder features, and the class maps
  are directly a class-activation map.
- *Widths.* "Classic" UNet: ``width`` = 64 channels in the first block, doubled per level to
  1024 (512 with bilinear upsampling, which halves the deepest block): ≈ 17 M parameters with
  bilinear upsampling (the default), ≈ 31 M with transposed convs, the latter matching the
  thesis' count for "upsampling with transpose convolution". ``width`` scales every level for the
  CPU profiles (parameters scale as ``width``²).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.models import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DoubleConv(nn.Sequential):
    """(3×3 conv → BN → ReLU) × 2; ``mid_channels`` defaults to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        mid = mid_channels or out_channels
        super().__init__(*conv_bn_relu(in_channels, mid), *conv_bn_relu(mid, out_channels))


class Down(nn.Sequential):
    """2×2 max-pool, then ``DoubleConv``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


def pad_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Pad (or, for a negative difference, crop) ``x`` symmetrically to ``ref``'s height and width."""
    dy = ref.shape[-2] - x.shape[-2]
    dx = ref.shape[-1] - x.shape[-1]
    if dy == 0 and dx == 0:
        return x
    return F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])


class Up(nn.Module):
    """×2 upsampling of the deeper map, pad to the skip's size, concatenate, ``DoubleConv``.

    ``in_channels`` is the deeper map's channel count, ``skip_channels`` the skip's. With
    ``bilinear=False`` a 2×2 transposed conv upsamples and halves the channels.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            cat = in_channels + skip_channels
            # As in the reference UNet code the thesis' unet-parts.py follows: with bilinear
            # upsampling (no learned channel halving) the first conv halves the concatenation.
            self.conv = DoubleConv(cat, out_channels, mid_channels=cat // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels // 2 + skip_channels, out_channels)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = pad_to(self.up(deep), skip)
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Conv2d):
    """1×1 conv to ``num_classes`` maps."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__(in_channels, num_classes, kernel_size=1)


class UNet(nn.Module):
    """The thesis' UNet (Fig. 2.10): four ``Down``, four ``Up``, ``OutConv``, then a global average pool.

    ``forward`` returns logits ``N×num_classes``; ``class_maps(x)`` returns the per-pixel maps.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: int = 64, bilinear: bool = True):
        super().__init__()
        check_model_args("unet", in_channels, num_classes, width)
        w = [width * 2**i for i in range(5)]
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(in_channels, w[0])
        self.down1 = Down(w[0], w[1])
        self.down2 = Down(w[1], w[2])
        self.down3 = Down(w[2], w[3])
        self.down4 = Down(w[3], w[4] // factor)
        self.up1 = Up(w[4] // factor, w[3], w[3] // factor, bilinear)
        self.up2 = Up(w[3] // factor, w[2], w[2] // factor, bilinear)
        self.up3 = Up(w[2] // factor, w[1], w[1] // factor, bilinear)
        self.up4 = Up(w[1] // factor, w[0], w[0], bilinear)
        self.outc = OutConv(w[0], num_classes)

    def cam_layer(self) -> nn.Module:
        """The last decoder block, for Grad-CAM."""
        return self.up4.conv

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]  # the encoder's maps, finest first
        for down in (self.down1, self.down2, self.down3, self.down4):
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in (self.up1, self.up2, self.up3, self.up4):  # each joins the next finer map
            x = up(x, skips.pop())
        return self.outc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_maps(x).mean(dim=(2, 3))


def check_model_args(name: str, in_channels: int, num_classes: int, width: int) -> None:
    if in_channels < 1 or num_classes < 1 or width < 1:
        raise ValueError(f"{name}: in_channels, num_classes and width must be ≥ 1, "
                         f"got in_channels={in_channels}, num_classes={num_classes}, width={width}")


@MODELS.register("unet")
def unet(in_channels: int = 1, num_classes: int = 1, width: int = 64, bilinear: bool = True) -> UNet:
    return UNet(in_channels, num_classes, width, bilinear)
