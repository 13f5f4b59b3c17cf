"""Deep supervision network on VGG-16-BN (Hu et al. 2021, §3.2, Fig. 2, Eq. 1–2; Table 4).

VGG-16-BN has five stages of 3×3 conv–BN–ReLU layers separated by 2×2 max pooling. Each stage gets
an auxiliary chain (:class:`SideBranch`): a 1×1 convolution to 21 channels on the tapped maps,
the 21-channel maps of the stage summed (RCF style, Liu et al. 2017) and fused by a 1×1
convolution, an adaptive average pool to 7×7 and one fully connected classifier. The model returns
``(main, side1, …, side5)``: element 0 is VGG's own classifier, the prediction (CONTRACTS.md);
the loss sums over all six (Eq. 2).

The paper gives neither the fused width nor which convolutions are tapped beyond "each
intermediate convolutional layer". Readings and their parameter counts (1-channel input,
3 classes; VGG-16-BN baseline 134,280,131 = Table 4's 134.28 M):

* ``taps="stage"`` (default): one tap per stage, on the stage's output (its last conv, before the
  pooling), fused to 1 channel, classifier 49 → C: +31,877 → 134.31 M (Table 4: 134.32 M). The
  same chain on the four ResNet/ResNeXt stages plus the stem gives 23.59 M and 23.06 M, exactly
  Table 4's counts — the reason it is the default.
* ``taps="every_conv"``: a 21-channel 1×1 conv after every one of the 13 convolutions, summed per
  stage: +89,837 → 134.37 M.
* ``fused_channels=None``: no fusing conv, the classifier reads all 21·7·7 maps: with
  ``taps="stage"`` +46,467 → 134.33 M.

``table4_comparison()`` (in :mod:`covidnb.models.dsn_backbones`) computes these beside Table 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision
from torch import nn

from covidnb.models import MODELS
from covidnb.models.weights import load_imagenet_weights, no_weights_info

__all__ = [
    "DSNVGG",
    "TAPS",
    "WEIGHT_OPTIONS",
    "SideBranch",
    "attach_weights",
    "register_backbone",
    "replace_first_conv",
]

TAPS = ("stage", "every_conv")


def replace_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` (freshly initialised) reading ``in_channels`` channels; ``conv`` if unchanged."""
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    if conv.in_channels == in_channels:
        return conv
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        device=conv.weight.device,
    )


class SideBranch(nn.Module):
    """One auxiliary classifier: 1×1 conv → ``width`` per tapped map, summed, 1×1 fuse conv →
    ``fused_channels``, adaptive average pool → ``pool_size``², linear → ``num_classes``.

    ``fused_channels=None`` skips the fusing conv (the classifier then reads ``width`` maps).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        width: int = 21,
        fused_channels: int | None = 1,
        pool_size: int = 7,
    ):
        super().__init__()
        if not in_channels:
            raise ValueError("a side branch needs at least one tapped layer")
        self.reduce = nn.ModuleList(nn.Conv2d(c, width, kernel_size=1) for c in in_channels)
        self.fuse = (
            nn.Conv2d(width, fused_channels, kernel_size=1) if fused_channels else nn.Identity()
        )
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.fc = nn.Linear((fused_channels or width) * pool_size * pool_size, num_classes)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feats) != len(self.reduce):
            raise ValueError(
                f"side branch expects {len(self.reduce)} feature maps, got {len(feats)}"
            )
        x = self.reduce[0](feats[0])
        for conv, f in zip(self.reduce[1:], feats[1:]):
            x = x + conv(f)
        x = self.pool(self.fuse(x))
        return self.fc(torch.flatten(x, 1))


def _vgg_stages(features: nn.Sequential) -> list[list[tuple[int, int]]]:
    """Per stage, ``(index of the ReLU after a conv, its channels)`` for every conv, in order."""
    stages, current, channels = [], [], None
    for i, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            channels = layer.out_channels
        elif isinstance(layer, nn.ReLU) and channels is not None:
            current.append((i, channels))
            channels = None
        elif isinstance(layer, nn.MaxPool2d):
            stages.append(current)
            current = []
    return stages


class DSNVGG(nn.Module):
    """VGG with one :class:`SideBranch` per stage; ``forward`` → ``(main, side1, …, side5)``."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        taps: str = "stage",
        side_width: int = 21,
        fused_channels: int | None = 1,
        pool_size: int = 7,
    ):
        super().__init__()
        if taps not in TAPS:
            raise ValueError(f"taps must be one of {TAPS}, got {taps!r}")
        self.backbone = backbone
        self.taps = taps
        stages = _vgg_stages(backbone.features)
        tapped = [s if taps == "every_conv" else s[-1:] for s in stages]
        self._tap_stage = {i: k for k, stage in enumerate(tapped) for i, _ in stage}
        self._stage_end = {
            i for i, layer in enumerate(backbone.features) if isinstance(layer, nn.MaxPool2d)
        }
        self.sides = nn.ModuleList(
            SideBranch([c for _, c in stage], num_classes, side_width, fused_channels, pool_size)
            for stage in tapped
        )

    def forward(self, x: torch.Tensor):
        side_outputs, buffer = [], []
        for i, layer in enumerate(self.backbone.features):
            if i in self._stage_end:  # the stage is complete before its pooling
                side_outputs.append(self.sides[len(side_outputs)](buffer))
                buffer = []
            x = layer(x)
            if i in self._tap_stage:
                buffer.append(x)
        x = torch.flatten(self.backbone.avgpool(x), 1)
        return (self.backbone.classifier(x), *side_outputs)


def _vgg16_bn_backbone(in_channels: int, num_classes: int) -> nn.Module:
    model = torchvision.models.vgg16_bn(num_classes=num_classes)
    model.features[0] = replace_first_conv(model.features[0], in_channels)
    return model


WEIGHT_OPTIONS = ("pretrained", "weights_file", "weights_sha256")


def attach_weights(
    model,
    backbone_prefix,
    arch,
    first_conv,
    pretrained=False,
    weights_file=None,
    weights_sha256=None,
):
    """Load ImageNet weights when ``pretrained`` (see :mod:`covidnb.models.weights`) and set
    ``model.weights_info``; DSN side branches (``model.sides``) always start random (Algorithm 1)."""
    if pretrained:
        info = load_imagenet_weights(
            model, arch, first_conv, weights_file, weights_sha256, prefix=backbone_prefix
        )
        if info["loaded"] and hasattr(model, "sides"):
            info["random_init"] = info["random_init"] + ["sides (auxiliary chain)"]
    else:
        if weights_file is not None:
            raise ValueError("weights_file is given but pretrained=False")
        info = no_weights_info()
    model.weights_info = info
    return model


def register_backbone(arch: str, make_backbone, first_conv: str, cam_layer: str, dsn=None) -> None:
    """Register the torchvision baseline ``arch`` and, given its DSN class ``dsn``, ``dsn_<arch>``.

    Both builders take ``in_channels``, ``num_classes`` and the weight options ``pretrained``,
    ``weights_file``, ``weights_sha256`` (:func:`attach_weights`, loading into ``first_conv``'s
    network); ``dsn_<arch>`` passes its other keywords (``side_width``, ``fused_channels``,
    ``pool_size``, VGG's ``taps``) to ``dsn(backbone, num_classes, **side)``. ``cam_layer`` is
    the module Grad-CAM hooks (``cam_layer_name``; under ``backbone.`` in the DSN model).
    """

    def baseline(in_channels: int = 1, num_classes: int = 2, **weights):
        model = make_backbone(in_channels, num_classes)
        model.cam_layer_name = cam_layer
        return attach_weights(model, "", arch, first_conv, **weights)

    def deeply_supervised(in_channels: int = 1, num_classes: int = 2, **options):
        weights = {k: options.pop(k) for k in WEIGHT_OPTIONS if k in options}
        model = dsn(make_backbone(in_channels, num_classes), num_classes, **options)
        model.cam_layer_name = f"backbone.{cam_layer}"
        return attach_weights(model, "backbone", arch, first_conv, **weights)

    what = f"torchvision {arch} with an ``in_channels`` stem and ``num_classes`` outputs"
    baseline.__name__, baseline.__doc__ = arch, f"{what}."
    MODELS.register(arch)(baseline)
    if dsn is not None:
        deeply_supervised.__name__ = f"dsn_{arch}"
        deeply_supervised.__doc__ = (
            f"DSN on {what} → ``(main, side1, …, side5)``; see {dsn.__name__}."
        )
        MODELS.register(f"dsn_{arch}")(deeply_supervised)


register_backbone("vgg16_bn", _vgg16_bn_backbone, "features.0", "features.42", DSNVGG)
