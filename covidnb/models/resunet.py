"""The ScseResUNet family: ResUNet, ResUNet-ECSA, ResUNet-FPRM (and DResUNet) — Xu 2021 thesis §2.3.4, §3.1.

The thesis describes only DResUNet (§3.1, Fig. 3.1–3.4). The three other members of the family
are named (Table 5.1; code list "ScseResUNet", "ResUNet_ECSA", "ResUNet_FPRM", "DResUNet" in
Fig. 4.3; appendix files ``scse-resunet.py`` and ``scse.py``) but never described. Our reading:
all four share DResUNet's layout; ResUNet is the base, the two middle ones each add one of
DResUNet's modules to it, DResUNet has all of them.

Shared layout (``ScseResUNet``), channels for ``width`` = w, map size for an H×H input:

- x1 stem: 3×3 conv → BN → ReLU → 2×2 max-pool (w, H/2).
- x2…x5 residual stages: first 3×3 conv (stride 1 in x2, 2 in x3–x5) → BN → ReLU, two 3×3
  conv → BN → ReLU, a 1×1 conv → BN, plus a shortcut (identity, or 1×1 conv → BN when the shape
  changes), then ReLU. Channels w, 2w, 4w, 8w; maps H/2, H/4, H/8, H/16.
- decoder x44, x33, x22: ×2 bilinear upsampling, pad to the skip (x4, x3, x2), concatenate,
  two 3×3 conv → BN → ReLU (``unet.Up``), then scSE. Channels 4w, 2w, w.
- head: four 2×2 max-pools, dropout 0.5, a 1×1 conv (w → 2w) → ReLU, [FPRM with x1], global
  average pool, two fully connected layers (2w → w → classes).

Members:

- ``resunet``: the layout above. Table 5.1's "ResUNet" is read as the code list's "ScseResUNet"
  (the base the other three "improve", §2.3.4), hence scSE after each decoder stage, as Roy et al.
  (2018) place scSE after the blocks of a U-Net. ``scse=False`` removes it.
- ``resunet_ecsa``: + ECAsE (sSE + ECA, ``attention.ECAsE``) in x5 after its last 3×3 conv; the
  name is read as ECA + Spatial Attention.
- ``resunet_fprm``: + FPRM (``fprm.FPRM``) in the head, fusing the head map with x1; no ECAsE, so
  that each of the two ablations changes one thing against ``resunet``.
- ``dresunet`` (``dresunet.py``): ECAsE + FPRM + modulated deformable convs.

Other readings (vague or missing in the thesis):

- *"Five up-samplings" vs three named decoder stages.* We build the three stages the text and
  Fig. 3.3 name (x44, x33, x22); with x1–x5 at H/2…H/16 three ×2 upsamplings return to x2's size.
- *Head "four max-pools down to 1×1".* Four 2×2 pools of x22 (H/2) leave H/32 (8×8 at 256 px),
  not 1×1; we keep four pools (ceil mode, so any input ≥ 64 px works) and let the global average
  pool before the FC layers reach 1×1.
- *Widths.* None given; ``width`` = 64 by default (x5 has 512 channels, as UNet's bottleneck).
- *Output.* "One probability thresholded at 0.5": one logit for BCE by default (``num_classes``
  = 1); ``num_classes`` = 2 gives two logits for cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn

from covidnb.models import MODELS
from covidnb.models.attention import SCSE, ECAsE
from covidnb.models.deform import ModulatedDeformConv2d
from covidnb.models.fprm import FPRM
from covidnb.models.unet import Up, check_model_args, conv_bn_relu


class ResidualStage(nn.Module):
    """One of x2…x5: (deformable) 3×3 conv, two 3×3 convs, [attention], 1×1 conv → BN, plus shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 deformable: bool = False, attention: nn.Module | None = None):
        super().__init__()
        first = (ModulatedDeformConv2d(in_channels, out_channels, 3, stride=stride) if deformable
                 else nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False))
        layers: list[nn.Module] = [
            first, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            conv_bn_relu(out_channels, out_channels),
            conv_bn_relu(out_channels, out_channels),
        ]
        if attention is not None:
            layers.append(attention)
        layers += [nn.Conv2d(out_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ScseResUNet(nn.Module):
    """The shared layout; ``deformable``, ``ecase``, ``fprm`` and ``scse`` switch the members' parts on."""

    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: int = 64, *,
                 deformable: bool = False, ecase: bool = False, fprm: bool = False,
                 scse: bool = True, dropout: float = 0.5, name: str = "scse_resunet"):
        super().__init__()
        check_model_args(name, in_channels, num_classes, width)
        w = width
        self.x1 = nn.Sequential(conv_bn_relu(in_channels, w), nn.MaxPool2d(2))
        self.x2 = ResidualStage(w, w, 1, deformable)
        self.x3 = ResidualStage(w, 2 * w, 2, deformable)
        self.x4 = ResidualStage(2 * w, 4 * w, 2, deformable)
        self.x5 = ResidualStage(4 * w, 8 * w, 2, deformable, ECAsE(8 * w) if ecase else None)
        self.up44 = Up(8 * w, 4 * w, 4 * w)
        self.up33 = Up(4 * w, 2 * w, 2 * w)
        self.up22 = Up(2 * w, w, w)
        self.att44 = SCSE(4 * w) if scse else nn.Identity()
        self.att33 = SCSE(2 * w) if scse else nn.Identity()
        self.att22 = SCSE(w) if scse else nn.Identity()
        self.pools = nn.Sequential(*[nn.MaxPool2d(2, ceil_mode=True) for _ in range(4)])
        self.dropout = nn.Dropout(dropout)
        self.focus = (ModulatedDeformConv2d(w, 2 * w, kernel_size=1, bias=True) if deformable
                      else nn.Conv2d(w, 2 * w, kernel_size=1))
        self.fprm = FPRM(2 * w, w) if fprm else None
        self.fc = nn.Sequential(nn.Linear(2 * w, w), nn.ReLU(inplace=True), nn.Linear(w, num_classes))

    def cam_layer(self) -> nn.Module:
        """The last decoder stage (x22, at half the input's resolution), for Grad-CAM."""
        return self.att22 if isinstance(self.att22, SCSE) else self.up22.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.x1(x)
        x2 = self.x2(x1)
        x3 = self.x3(x2)
        x4 = self.x4(x3)
        x5 = self.x5(x4)
        d = self.att44(self.up44(x5, x4))
        d = self.att33(self.up33(d, x3))
        d = self.att22(self.up22(d, x2))
        h = torch.relu(self.focus(self.dropout(self.pools(d))))
        if self.fprm is not None:
            h = self.fprm(h, x1)
        return self.fc(h.mean(dim=(2, 3)))


@MODELS.register("resunet")
def resunet(in_channels: int = 1, num_classes: int = 1, width: int = 64, scse: bool = True,
            dropout: float = 0.5) -> ScseResUNet:
    return ScseResUNet(in_channels, num_classes, width, scse=scse, dropout=dropout, name="resunet")


@MODELS.register("resunet_ecsa")
def resunet_ecsa(in_channels: int = 1, num_classes: int = 1, width: int = 64, scse: bool = True,
                 dropout: float = 0.5) -> ScseResUNet:
    return ScseResUNet(in_channels, num_classes, width, ecase=True, scse=scse, dropout=dropout,
                       name="resunet_ecsa")


@MODELS.register("resunet_fprm")
def resunet_fprm(in_channels: int = 1, num_classes: int = 1, width: int = 64, scse: bool = True,
                 dropout: float = 0.5) -> ScseResUNet:
    return ScseResUNet(in_channels, num_classes, width, fprm=True, scse=scse, dropout=dropout,
                       name="resunet_fprm")
