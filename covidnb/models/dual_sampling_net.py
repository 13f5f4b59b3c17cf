"""3-D ResNet-34 with a stride-1 last stage and the online attention module of Ouyang et al.,
IEEE TMI 39(8) 2020, "Dual-sampling attention network" (§III-A, §III-B, Eq. 1–2).

- Backbone (§III-A): MONAI's 3-D ResNet (Hara et al.'s design: 7³ stem of stride 2, max-pool,
  four stages of basic blocks [3, 4, 6, 3]), with the first block of the last stage set to
  stride 1 so the last feature map is 1/16 of the input in every axis (the paper's choice, to
  keep a finer attention map); global average pooling; one FC unit (BCE, §III-A).
- Online attention (§III-B): ``A = ReLU(conv_1×1×1(f, w))`` with ``w`` the FC weights
  (Eq. 1), upsampled to the input size, min–max normalised to [0, 1] per volume, and
  ``T(A) = 1 / (1 + exp(−α(A − β)))`` with α = 100, β = 0.4 (Eq. 2). The 1×1×1 convolution's
  weights are the FC's, "copied" and "only updated by the BCE loss": here ``w`` is the FC weight
  detached, so the attention loss moves the features ``f`` but not ``w``.

Readings where the paper is silent: the FC bias is not in ``A`` (``attention_bias=False``;
adding the bias shifts every voxel alike, which min–max normalisation removes anyway unless the
ReLU clips), trilinear upsampling, min–max as the "normalise to [0, 1]", ε = 1e-6 against a
constant map.

Outputs (``covidnb/CONTRACTS.md``): ``rn34_3d`` returns the logits ``N×1``; ``attention_rn34_3d``
returns ``(logits, T(A), M)``: the trimmed attention map ``N×1×D×H×W`` and the infection mask
``M`` taken from the input's second channel (zeros when the input has one channel). The network
reads only channel 0: the mask travels with the image only so that the shared training loop can
hand it to :class:`covidnb.losses.dual_sampling.AttentionBCELoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.models import MODELS

__all__ = ["ALPHA", "BETA", "DualSamplingResNet3D", "minmax_normalise", "online_attention",
           "resnet34_3d", "trim"]

ALPHA, BETA = 100.0, 0.4  # Eq. 2
LAYERS_34 = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)


def resnet34_3d(in_channels: int = 1, width: float = 1.0, last_stride: int = 1,
                layers=LAYERS_34) -> nn.Module:
    """MONAI's 3-D ResNet-34 without its head, last stage at ``last_stride`` (1: §III-A)."""
    from monai.networks.nets import ResNet

    net = ResNet(block="basic", layers=list(layers), block_inplanes=list(WIDTHS),
                 spatial_dims=3, n_input_channels=in_channels, conv1_t_size=7,
                 conv1_t_stride=2, widen_factor=width, feed_forward=False, shortcut_type="B")
    if last_stride != 2:
        # MONAI fixes stride 2 in layer4; its first block's 3³ conv and its 1×1×1 projection
        # shortcut are the only strided parts of the stage.
        first = net.layer4[0]
        first.conv1.stride = (last_stride,) * 3
        if first.downsample is not None:
            first.downsample[0].stride = (last_stride,) * 3
    return net


def minmax_normalise(a: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each volume of ``N×1×…`` to [0, 1]: ``(a − min) / (max − min + ε)``."""
    flat = a.flatten(1)
    lo = flat.min(dim=1).values.view(-1, *([1] * (a.ndim - 1)))
    hi = flat.max(dim=1).values.view(-1, *([1] * (a.ndim - 1)))
    return (a - lo) / (hi - lo + eps)


def trim(a: torch.Tensor, alpha: float = ALPHA, beta: float = BETA) -> torch.Tensor:
    """Eq. 2: ``T(A) = 1 / (1 + exp(−α(A − β)))``."""
    return torch.sigmoid(alpha * (a - beta))


def online_attention(f: torch.Tensor, w: torch.Tensor, size, bias: torch.Tensor | None = None,
                     alpha: float = ALPHA, beta: float = BETA, mode: str = "trilinear"):
    """Eq. 1–2 on features ``f`` (``N×C×d×h×w``) with FC weights ``w`` (``1×C``): returns
    ``(A, T(A))``, both upsampled to ``size`` and ``A`` min–max normalised. ``w`` is used as
    given: pass it detached to keep the attention loss off the FC weights."""
    a = F.conv3d(f, w.view(w.shape[0], w.shape[1], 1, 1, 1), bias)
    a = F.relu(a)
    a = F.interpolate(a, size=tuple(size), mode=mode,
                      align_corners=False if mode in ("trilinear", "linear") else None)
    a = minmax_normalise(a)
    return a, trim(a, alpha, beta)


class DualSamplingResNet3D(nn.Module):
    """3-D ResNet-34 (stride-1 last stage) + GAP + FC, with or without the online attention."""

    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: float = 1.0,
                 attention: bool = True, alpha: float = ALPHA, beta: float = BETA,
                 attention_bias: bool = False, last_stride: int = 1, layers=LAYERS_34,
                 upsample: str = "trilinear"):
        super().__init__()
        if num_classes != 1:
            raise ValueError(f"the paper's head is one BCE unit (§III-A); got num_classes={num_classes}")
        if in_channels not in (1, 2):
            raise ValueError("input: 1 channel (CT) or 2 (CT, infection mask for the attention "
                             f"loss); got {in_channels}")
        self.backbone = resnet34_3d(1, width, last_stride, layers)
        self.fc = nn.Linear(int(WIDTHS[-1] * width), 1)
        self.attention, self.alpha, self.beta = attention, alpha, beta
        self.attention_bias, self.upsample = attention_bias, upsample

    def features(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        x = b.act(b.bn1(b.conv1(x)))
        if not b.no_max_pool:
            x = b.maxpool(x)
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def attention_maps(self, f: torch.Tensor, size):
        bias = self.fc.bias.detach() if self.attention_bias else None
        return online_attention(f, self.fc.weight.detach(), size, bias, self.alpha, self.beta,
                                self.upsample)

    def forward(self, x: torch.Tensor):
        image = x[:, :1]
        f = self.features(image)
        logits = self.fc(f.mean(dim=(2, 3, 4)))
        if not self.attention:
            return logits
        _, t = self.attention_maps(f, image.shape[2:])
        mask = x[:, 1:2] if x.shape[1] > 1 else torch.zeros_like(image)
        return logits, t, mask


@MODELS.register("rn34_3d")
def rn34_3d(in_channels: int = 1, num_classes: int = 1, width: float = 1.0, **kw):
    """RN34 (the paper's baseline "RN34 + US"): no attention module."""
    return DualSamplingResNet3D(in_channels, num_classes, width, attention=False, **kw)


@MODELS.register("attention_rn34_3d")
def attention_rn34_3d(in_channels: int = 1, num_classes: int = 1, width: float = 1.0, **kw):
    """Attention RN34 (§III-B): returns ``(logits, T(A), M)``."""
    return DualSamplingResNet3D(in_channels, num_classes, width, attention=True, **kw)
