"""Attention gates of the ScseResUNet family (Xu 2021 thesis, §2.3.4 and §3.1, Fig. 2.13–2.15, 3.2).

- ``SSE``: spatial squeeze-and-excitation — a 1×1 conv from C to 1 channel, a sigmoid, and the
  map multiplied back onto every channel (Roy et al. 2018, "sSE").
- ``CSE``: channel squeeze-and-excitation — global average pool, C → C/r → C with ReLU, a
  sigmoid (Hu et al. 2018; Roy et al. 2018 "cSE"). The thesis names r = 2 or 16; we use 2, the
  ratio of Roy et al.'s scSE code, which also keeps narrow CPU-profile models from a one-unit
  bottleneck that a dead ReLU would silence.
- ``SCSE``: the concurrent sum ``x·cSE(x) + x·sSE(x)`` of Roy et al. (MICCAI 2018); the scSE
  module of the thesis' code list (``scse.py``).
- ``ECA``: efficient channel attention (Wang et al., CVPR 2020): global pooling, a 1-D conv of odd
  size ``k = |log2(C)/γ + b/γ|_odd`` across channels (γ = 2, b = 1), a sigmoid. ``pools`` chooses
  average pooling (the ECA-Net default), max pooling, or both; with both, the two descriptors go
  through the same 1-D conv and are summed before the sigmoid (thesis §2.3.4: "a maximum pooling
  and an average pooling ... to make feature fusion").
- ``ECAsE``: the thesis' x5 module (§3.1, Fig. 3.2) = sSE + ECA with both poolings.

Readings where the thesis is vague (Fig. 3.2 is not in the text we have):

- *How sSE and ECA combine.* As scSE combines sSE and cSE: the two gated maps are added,
  ``x·σ(sSE) + x·σ(ECA)``; ECA plays the part of cSE.
- *The 2×2 stride-2 conv.* The thesis says ECA pools and "downsamples by a 2×2, stride 2
  convolution" to halve the map, saving computation. We read it as a learned downsampling inside
  the channel branch: ECA's descriptors are pooled from ``conv2x2/2(x)`` rather than from ``x``.
  ECAsE's output therefore keeps the input's shape (it stays a gate); x5 halves its map with its
  first conv, as x3 and x4 do. The 2×2 conv is depthwise (C·4 weights rather than C²·4), in
  keeping with ECA's aim of adding almost no parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """ECA-Net's adaptive 1-D kernel size: ``t = int(|(log2 C + b) / γ|)``, made odd by adding 1."""
    if channels < 1:
        raise ValueError(f"eca_kernel_size: channels must be ≥ 1, got {channels}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class Gate(nn.Module):
    """An attention gate ``x·gate(x)``; ``gate`` alone is the map, so SCSE and ECAsE can add two
    gated copies of one input."""

    def gate(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SSE(Gate):
    """Spatial SE: one sigmoid map per position, shared by all channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


class CSE(Gate):
    """Channel SE (squeeze: global average pool; excitation: two 1×1 convs with a bottleneck)."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


class SCSE(nn.Module):
    """Concurrent spatial and channel SE: ``x·cSE(x) + x·sSE(x)`` (Roy et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        self.cse = CSE(channels, reduction)
        self.sse = SSE(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.cse.gate(x) + x * self.sse.gate(x)


class ECA(Gate):
    """Efficient channel attention, optionally on both average- and max-pooled descriptors.

    ``downsample=True`` adds the thesis' 2×2 stride-2 conv in front of the pooling (see the module
    docstring); the gate still multiplies the full-size input.
    """

    def __init__(self, channels: int, gamma: float = 2.0, b: float = 1.0,
                 pools: tuple[str, ...] = ("avg",), downsample: bool = False):
        super().__init__()
        unknown = set(pools) - {"avg", "max"}
        if not pools or unknown:
            raise ValueError(f"ECA: pools must be a non-empty subset of ('avg', 'max'), got {pools!r}")
        self.pools = tuple(pools)
        self.kernel_size = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, kernel_size=self.kernel_size,
                              padding=(self.kernel_size - 1) // 2, bias=False)
        # Depthwise keeps the branch cheap and channel-wise, as ECA avoids mixing channels densely.
        self.down = (nn.Conv2d(channels, channels, kernel_size=2, stride=2, groups=channels, bias=False)
                     if downsample else None)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        src = x
        if self.down is not None and min(x.shape[-2:]) >= 2:
            src = self.down(x)
        logits = 0
        for pool in self.pools:
            d = src.mean(dim=(2, 3)) if pool == "avg" else src.amax(dim=(2, 3))
            logits = logits + self.conv(d.unsqueeze(1)).squeeze(1)  # N×C, conv across channels
        return torch.sigmoid(logits)[:, :, None, None]


class ECAsE(nn.Module):
    """The thesis' ECAsE (§3.1, Fig. 3.2): ``x·sSE(x) + x·ECA_{avg+max, 2×2/2}(x)``."""

    def __init__(self, channels: int, gamma: float = 2.0, b: float = 1.0):
        super().__init__()
        self.sse = SSE(channels)
        self.eca = ECA(channels, gamma, b, pools=("avg", "max"), downsample=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sse.gate(x) + x * self.eca.gate(x)
