"""PEPX and PEPX-ResNet (Zhang & Zhang, "Deep Learning for COVID-19 Recognition", §3.1–3.3),
and torchvision's ResNet-18 as the paper's baseline.

**PEPX (§3.3, taken from COVID-Net, Wang et al. 2020).** Five steps: projection to fewer
channels, expansion to more, a 3×3 convolution, projection back, extension to the output width.
The paper gives no widths or kernel sizes. Read here as COVID-Net's open re-implementations build
it: 1×1 projection to ``C_in/2``, 1×1 expansion to ``3·C_in/4``, 3×3 convolution at that width
(a *full* convolution: §3.3 says the paper drops COVID-Net's depth-wise step so that the 3×3 step
mixes channels; ``depthwise=True`` restores COVID-Net's form for the extension network), 1×1
projection back to ``C_in/2``, 1×1 extension to ``C_out``. Five linear convolutions in a row
would collapse into one low-rank convolution, so a ReLU follows the expansion and the 3×3 step,
and a BatchNorm closes the module (both our choice; neither paper says).

**The block (§3.2).** Printed as ``Y = F[F1(x) + x] + A·F1(x) + B·x + C·PEPX(X)``, with F1 the
block's first two convolution layers, F its last two, and A, B, C learned. Reading:

* F1 and F are *pre-activation* residual branches (BN-ReLU-conv3×3-BN-ReLU-conv3×3, He et al.
  2016, "Identity mappings"): then no nonlinearity sits after the sums and the equation holds as
  printed. With ``A = B = 1, C = 0`` it is exactly two stacked pre-activation residual units,
  ``h = x + F1(x)``, ``Y = h + F(h)`` — the plain residual form the paper starts from; ``B·x``
  skipping all four convolutions is the "large-scale residual" of §3.1.
* A, B, C are one learned scalar each per block (the paper calls them "weights"; nothing says
  per channel), initialised to 1, so at the start every path counts equally and gradients reach
  all three and every branch.
* Where a block changes width or resolution, ``x`` in the sums is a 1×1 strided projection with
  BN (ResNet's shortcut option B); F1 and PEPX carry the stride.
* ``PEPX(X)``: the capital X, and §3.1's "PEPX … could be interpreted as a network … data just
  could be transferred from PEPX to convolution layers", are read as a *parallel PEPX stream*
  (``pepx_input="stream"``, the default): a chain of PEPX modules starting from the stem output,
  the k-th feeding block k, never fed by the backbone. ``pepx_input="block"`` is the other reading
  (PEPX of the block input, ``X = x``).

**The network (§3.1, Fig. 1 lost).** ResNet-18's stem (7×7/2 conv, BN, ReLU, 3×3/2 max-pool), four
main blocks of 3×3 kernels at widths ``w, 2w, 4w, 8w`` (``w = 64``: ResNet-18's widths and strides,
so each block holds the four convolutions of a ResNet-18 stage), BN-ReLU, global average pool,
linear head. Trained from scratch (the paper states no pre-training).

**Normalisation.** BatchNorm, as in ResNet (``norm="batch"``). On the staged set (about 65
training images, batches of 16) the BatchNorm net fits its training images in training mode but
calls almost all of them COVID-19 in evaluation mode, where the running statistics replace the
batch ones (``04-evaluation`` measures it: ``pepx_resnet_view.mode_gap``). ``norm="group"`` (GroupNorm, the same computation in both
modes) is offered for that case; the paper names no normalisation.
"""

from __future__ import annotations

from functools import partial

import torch
import torchvision
from torch import nn

from covidnb.models import MODELS
from covidnb.models.dsn import replace_first_conv

PEPX_INPUTS = ("stream", "block")
NORMS = ("batch", "group")


def norm_layer(channels: int, norm: str = "batch") -> nn.Module:
    """BatchNorm (ResNet's) or GroupNorm (32 groups, fewer for narrow layers), which computes the
    same statistics in training and in evaluation."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0 and channels // g >= 2
                      or g == 1)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1,
            norm: str = "batch") -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), norm_layer(c_out, norm)]


class PEPX(nn.Module):
    """Projection → expansion → 3×3 (full, or depth-wise with ``depthwise``) → projection →
    extension; widths ``C_in/2``, ``3·C_in/4``, ``3·C_in/4``, ``C_in/2``, ``C_out``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, depthwise: bool = False,
                 norm: str = "batch"):
        super().__init__()
        proj, expand = max(1, c_in // 2), max(1, (3 * c_in) // 4)
        self.widths = (proj, expand, expand, proj, c_out)
        self.project = nn.Conv2d(c_in, proj, 1, bias=False)
        self.expand = nn.Conv2d(proj, expand, 1, bias=False)
        self.conv3 = nn.Conv2d(expand, expand, 3, stride, 1, groups=expand if depthwise else 1,
                               bias=False)
        self.project2 = nn.Conv2d(expand, proj, 1, bias=False)
        self.extend = nn.Conv2d(proj, c_out, 1, bias=False)
        self.bn = norm_layer(c_out, norm)
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.expand(self.project(x)))
        h = self.act(self.conv3(h))
        return self.bn(self.extend(self.project2(h)))


class PreActBranch(nn.Module):
    """Two 3×3 convolutions in pre-activation order: BN-ReLU-conv-BN-ReLU-conv."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(
            norm_layer(c_in, norm), nn.ReLU(), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            norm_layer(c_out, norm), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PEPXBlock(nn.Module):
    """``Y = F[F1(x) + x] + A·F1(x) + B·x + C·PEPX(X)`` (§3.2); ``X`` is given to
    :meth:`forward` as ``pepx_in`` (the stream's input, or ``x`` itself). ``weights`` holds
    ``(A, B, C)``; ``pepx=False`` drops the PEPX term (and C)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, pepx: bool = True,
                 pepx_in: int | None = None, depthwise: bool = False, init=(1.0, 1.0, 1.0),
                 norm: str = "batch"):
        super().__init__()
        self.f1 = PreActBranch(c_in, c_out, stride, norm)
        self.f = PreActBranch(c_out, c_out, 1, norm)
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out
                         else nn.Sequential(*conv_bn(c_in, c_out, 1, stride, norm=norm)))
        self.pepx = PEPX(pepx_in or c_in, c_out, stride, depthwise, norm) if pepx else None
        self.A = nn.Parameter(torch.tensor(float(init[0])))
        self.B = nn.Parameter(torch.tensor(float(init[1])))
        self.C = nn.Parameter(torch.tensor(float(init[2]))) if pepx else None

    def forward(self, x: torch.Tensor, pepx_in: torch.Tensor | None = None):
        """The block output, and the PEPX output (``None`` without PEPX) for the next stream step."""
        f1 = self.f1(x)
        xs = self.shortcut(x)
        y = self.f(f1 + xs) + self.A * f1 + self.B * xs
        p = None
        if self.pepx is not None:
            p = self.pepx(x if pepx_in is None else pepx_in)
            y = y + self.C * p
        return y, p

    def weights(self) -> dict[str, float]:
        out = {"A": self.A.item(), "B": self.B.item()}
        if self.C is not None:
            out["C"] = self.C.item()
        return out


class PEPXResNet(nn.Module):
    """PEPX-ResNet (§3.1): ResNet-18's stem, four :class:`PEPXBlock` at widths
    ``width·(1, 2, 4, 8)`` and strides ``(1, 2, 2, 2)``, BN-ReLU, average pool, linear head."""

    def __init__(self, in_channels: int = 1, num_classes: int = 3, width: int = 64,
                 pepx_input: str = "stream", depthwise: bool = False, init=(1.0, 1.0, 1.0),
                 norm: str = "batch"):
        super().__init__()
        if pepx_input not in PEPX_INPUTS:
            raise ValueError(f"pepx_input must be one of {PEPX_INPUTS}, got {pepx_input!r}")
        self.pepx_input = pepx_input
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                                  norm_layer(width, norm), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        widths = [width, 2 * width, 4 * width, 8 * width]
        strides = [1, 2, 2, 2]
        blocks, c_in = [], width
        for w, s in zip(widths, strides):
            # the stream's k-th PEPX reads the (k-1)-th PEPX's output, whose width is c_in too
            blocks.append(PEPXBlock(c_in, w, s, pepx=True, depthwise=depthwise, init=init, norm=norm))
            c_in = w
        self.blocks = nn.ModuleList(blocks)
        self.head_norm = nn.Sequential(norm_layer(c_in, norm), nn.ReLU())
        self.fc = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        stream = h
        for block in self.blocks:
            h, p = block(h, stream if self.pepx_input == "stream" else None)
            stream = p
        return self.head_norm(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))

    def block_weights(self) -> list[dict[str, float]]:
        """The learned A, B, C of each block, in order."""
        return [b.weights() for b in self.blocks]


@MODELS.register("pepx_resnet")
def pepx_resnet(in_channels: int = 1, num_classes: int = 3, **kw) -> PEPXResNet:
    return PEPXResNet(in_channels=in_channels, num_classes=num_classes, **kw)


@MODELS.register("resnet18_tv")
def resnet18_tv(in_channels: int = 1, num_classes: int = 3, norm: str = "batch") -> nn.Module:
    """torchvision's ResNet-18, randomly initialised (the paper states no pre-training), its
    first convolution reading ``in_channels``; ``norm="group"`` swaps every BatchNorm for the
    GroupNorm of :func:`norm_layer`, so the baseline and PEPX-ResNet can share a normalisation."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes,
                                        norm_layer=partial(norm_layer, norm=norm))
    model.conv1 = replace_first_conv(model.conv1, in_channels)
    return model
