"""The DSN auxiliary chain on ResNet-50, DenseNet-169 and ResNeXt-50, the plain torchvision
baselines (with MobileNet-V2), and the parameter counts beside Table 4 of Hu et al. 2021 (§5.2).

Hu et al. add "the auxiliary supervised chain" to the stages of these networks without details.
Here each of five stages gets one :class:`~covidnb.models.dsn.SideBranch` (1×1 conv → 21, fuse →
1, pool 7×7, linear 49 → C) on the stage's output:

* ResNet-50 / ResNeXt-50-32×4d: the stem (after its max pool, 64 ch) and ``layer1``–``layer4``
  (256, 512, 1024, 2048 ch). +82,949 parameters: 23.59 M and 23.06 M, as in Table 4.
* DenseNet-169: the stem (64 ch), ``transition1``–``3`` (128, 256, 640 ch) and the final
  ``norm5`` + ReLU (1664 ch). +58,757 → 12.54 M, not Table 4's 12.49 M: an increase of ≈0.01 M
  would fit only about 450 tapped channels in total (e.g. the stem and the first two transitions),
  which leaves no side output on the deeper stages; five stage taps are kept for symmetry with the
  other backbones and the difference is reported.

Every model returns ``(main, side1, …, side5)``; baselines return the logits tensor. All models
have ``weights_info`` (see :mod:`covidnb.models.weights`) and ``cam_layer_name`` (the module
Grad-CAM should hook, for ``model.get_submodule``). DenseNet's final ReLU is applied out of place
(torchvision applies it in place after ``features``, which breaks Grad-CAM's hooks).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from covidnb.models import MODELS, count_parameters
from covidnb.models.dsn import SideBranch, register_backbone, replace_first_conv

__all__ = [
    "TABLE4_PARAMS_M",
    "CamFriendlyDenseNet",
    "DSNDenseNet",
    "DSNResNet",
    "table4_comparison",
]

# Table 4 of Hu et al. 2021: parameters in millions, (baseline, DSN)
TABLE4_PARAMS_M = {
    "VGG-16": ("vgg16_bn", 134.28, 134.32),
    "ResNet-50": ("resnet50", 23.51, 23.59),
    "DenseNet-169": ("densenet169", 12.48, 12.49),
    "ResNeXt-50": ("resnext50", 22.98, 23.06),
}


def _side_kwargs(num_classes, side_width, fused_channels, pool_size):
    return {
        "num_classes": num_classes,
        "width": side_width,
        "fused_channels": fused_channels,
        "pool_size": pool_size,
    }


# ---------------------------------------------------------------- ResNet-50 / ResNeXt-50


def _resnet_backbone(arch: str, in_channels: int, num_classes: int) -> nn.Module:
    ctor = {
        "resnet50": torchvision.models.resnet50,
        "resnext50": torchvision.models.resnext50_32x4d,
    }[arch]
    model = ctor(num_classes=num_classes)
    model.conv1 = replace_first_conv(model.conv1, in_channels)
    return model


class DSNResNet(nn.Module):
    """ResNet/ResNeXt with side branches on the stem and ``layer1``–``layer4``."""

    def __init__(
        self, backbone: nn.Module, num_classes: int, side_width=21, fused_channels=1, pool_size=7
    ):
        super().__init__()
        self.backbone = backbone
        widths = [backbone.conv1.out_channels] + [
            layer[-1].conv3.out_channels for layer in self._layers()
        ]
        kw = _side_kwargs(num_classes, side_width, fused_channels, pool_size)
        self.sides = nn.ModuleList(SideBranch([c], **kw) for c in widths)

    def _layers(self):
        b = self.backbone
        return [b.layer1, b.layer2, b.layer3, b.layer4]

    def forward(self, x: torch.Tensor):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        sides = [self.sides[0]([x])]
        for layer, side in zip(self._layers(), self.sides[1:]):
            x = layer(x)
            sides.append(side([x]))
        main = b.fc(torch.flatten(b.avgpool(x), 1))
        return (main, *sides)


for _arch in ("resnet50", "resnext50"):
    register_backbone(_arch, partial(_resnet_backbone, _arch), "conv1", "layer4", DSNResNet)


# ---------------------------------------------------------------- DenseNet-169


class CamFriendlyDenseNet(torchvision.models.DenseNet):
    """torchvision DenseNet whose final ReLU is out of place (hookable by Grad-CAM)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


def _densenet_backbone(in_channels: int, num_classes: int) -> nn.Module:
    model = CamFriendlyDenseNet(
        growth_rate=32, block_config=(6, 12, 32, 32), num_init_features=64, num_classes=num_classes
    )
    model.features.conv0 = replace_first_conv(model.features.conv0, in_channels)
    return model


class DSNDenseNet(nn.Module):
    """DenseNet with side branches on the stem, ``transition1``–``3`` and the final features."""

    _TAPS = ("pool0", "transition1", "transition2", "transition3", "norm5")

    def __init__(
        self, backbone: nn.Module, num_classes: int, side_width=21, fused_channels=1, pool_size=7
    ):
        super().__init__()
        self.backbone = backbone
        f = backbone.features
        widths = [f.conv0.out_channels] + [
            getattr(f, f"transition{i}").conv.out_channels for i in (1, 2, 3)
        ]
        widths.append(f.norm5.num_features)
        kw = _side_kwargs(num_classes, side_width, fused_channels, pool_size)
        self.sides = nn.ModuleList(SideBranch([c], **kw) for c in widths)

    def forward(self, x: torch.Tensor):
        sides, k = [], 0
        for name, layer in self.backbone.features.named_children():
            x = layer(x)
            if name in self._TAPS:
                if name == "norm5":
                    x = F.relu(x)  # torchvision's final ReLU, out of place
                sides.append(self.sides[k]([x]))
                k += 1
        main = self.backbone.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return (main, *sides)


register_backbone(
    "densenet169", _densenet_backbone, "features.conv0", "features.norm5", DSNDenseNet
)


# ---------------------------------------------------------------- MobileNet-V2 (baseline only)


def _mobilenet_v2_backbone(in_channels: int, num_classes: int) -> nn.Module:
    model = torchvision.models.mobilenet_v2(num_classes=num_classes)
    model.features[0][0] = replace_first_conv(model.features[0][0], in_channels)
    return model


register_backbone("mobilenet_v2", _mobilenet_v2_backbone, "features.0.0", "features.18")


# ---------------------------------------------------------------- Table 4


def _count(name: str, **kw) -> int:
    # the meta device allocates nothing: a 134 M-parameter VGG is counted in milliseconds
    with torch.device("meta"):
        model = MODELS.build(name, **kw)
    return count_parameters(model)


def table4_comparison(in_channels: int = 1, num_classes: int = 3, alternatives: bool = True):
    """Parameter counts of the baselines and DSN models beside Table 4 (millions, 2 decimals).

    Table 4 counts correspond to a 1-channel input and 3 classes (COVID19-Diag). With
    ``alternatives`` the other VGG readings (see :mod:`covidnb.models.dsn`) are added as rows.
    Columns: ``model, variant, reading, params, params_M, reported_M, diff_M, matches``.
    """
    import pandas as pd

    rows = []
    for label, (base, reported_base, reported_dsn) in TABLE4_PARAMS_M.items():
        variants = [("Baseline", base, {}, "torchvision, 1-channel stem, C outputs", reported_base)]
        variants.append(
            ("DSN", f"dsn_{base}", {}, "one side branch per stage (default)", reported_dsn)
        )
        if alternatives and base == "vgg16_bn":
            variants.append(
                (
                    "DSN",
                    "dsn_vgg16_bn",
                    {"taps": "every_conv"},
                    "side conv after every conv",
                    reported_dsn,
                )
            )
            variants.append(
                (
                    "DSN",
                    "dsn_vgg16_bn",
                    {"fused_channels": None},
                    "per stage, classifier on 21·7·7",
                    reported_dsn,
                )
            )
        for variant, name, kw, reading, reported in variants:
            n = _count(name, in_channels=in_channels, num_classes=num_classes, **kw)
            rows.append(
                {
                    "model": label,
                    "variant": variant,
                    "name": name,
                    "reading": reading,
                    "params": n,
                    "params_M": round(n / 1e6, 2),
                    "reported_M": reported,
                }
            )
    df = pd.DataFrame(rows)
    df["diff_M"] = (df["params_M"] - df["reported_M"]).round(2)
    df["matches"] = df["diff_M"] == 0
    return df
