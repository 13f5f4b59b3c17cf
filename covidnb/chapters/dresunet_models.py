"""The ``dresunet`` model notebook's tables and figures (Xu 2021, BSc thesis, ch. 3): the seven
models' sizes, parts and shapes, the modulated deformable convolution's known values, what each
added module costs, and the readings chosen where the thesis is vague (from the model modules'
docstrings)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from covidnb.chapters.dresunet import TABLE_NAMES


def parameter_table(widths: Mapping[str, int], in_channels: int = 1, num_classes: int = 1) -> pd.DataFrame:
    """Trainable parameters of the seven models at each named width (e.g. ``{"paper": 64}``)."""
    from covidnb.models import build_model, count_parameters

    rows = {}
    for name, label in TABLE_NAMES.items():
        rows[label] = {f"{w_name} (width {w})": count_parameters(
            build_model(name, in_channels=in_channels, num_classes=num_classes, width=w))
            for w_name, w in widths.items()}
    return pd.DataFrame(rows).T


def forward_shapes(width: int, image_size: int, batch: int = 2) -> pd.DataFrame:
    """Input and output shape of each model on a random batch (one logit per image)."""
    import torch

    from covidnb.models import build_model

    x = torch.rand(batch, 1, image_size, image_size)
    rows = {}
    for name, label in TABLE_NAMES.items():
        with torch.no_grad():
            out = build_model(name, width=width).eval()(x)
        rows[label] = {"input": tuple(x.shape), "output": tuple(out.shape)}
    return pd.DataFrame(rows).T


def parts_table(width: int = 4) -> pd.DataFrame:
    """How many of each distinguishing module every model holds, counted in its module tree."""
    from torch import nn

    from covidnb.models import build_model
    from covidnb.models.attention import SCSE, ECAsE
    from covidnb.models.deform import ModulatedDeformConv2d
    from covidnb.models.fprm import FPRM
    from covidnb.models.resunet import ResidualStage

    kinds = {"residual stages": ResidualStage, "deformable convs": ModulatedDeformConv2d,
             "scSE gates": SCSE, "ECAsE": ECAsE, "FPRM": FPRM, "nn.Conv2d (incl. offset branches)": nn.Conv2d,
             "BatchNorm2d": nn.BatchNorm2d}
    rows = {}
    for name, label in TABLE_NAMES.items():
        mods = list(build_model(name, width=width).modules())
        rows[label] = {k: sum(type(m) is t or (t is not nn.Conv2d and isinstance(m, t)) for m in mods)
                       for k, t in kinds.items()}
    return pd.DataFrame(rows).T


def stage_shapes(model_name: str = "dresunet", width: int = 4, image_size: int = 64) -> pd.DataFrame:
    """The output shape of each top-level block of a model (forward hooks), in call order."""
    import torch

    from covidnb.models import build_model

    model = build_model(model_name, width=width).eval()
    rows = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: rows.append(
        {"block": n, "type": type(mod).__name__, "output shape": tuple(out.shape)}))
        for n, m in model.named_children()]
    try:
        with torch.no_grad():
            model(torch.rand(1, 1, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)


def deform_checks(channels: int = 4, size: int = 16, seed: int = 0) -> pd.DataFrame:
    """Known values of the modulated deformable conv (DCNv2, as ``covidnb.models.deform``):

    1. freshly built (offsets 0, mask σ(0) = 0.5) it equals half the plain conv with its weights;
    2. a 1×1 kernel of weight 1 with offset Δx = +1 and mask ≈ 1 reads each pixel's right-hand
       neighbour (zero beyond the border);
    3. Δx = +0.5 reads the bilinear midpoint, the mean of a pixel and its right-hand neighbour.
    """
    import torch
    import torch.nn.functional as F

    from covidnb.models.deform import ModulatedDeformConv2d

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, size, size, generator=g)
    rows = []
    m = ModulatedDeformConv2d(channels, channels, 3)
    with torch.no_grad():
        got, want = m(x), 0.5 * F.conv2d(x, m.weight, padding=1)
    rows.append({"check": "initial offsets 0, mask 0.5 → 0.5 · conv3×3", "max |difference|": float((got - want).abs().max())})
    x1 = x[:, :1]
    shifted = torch.cat([x1[..., 1:], torch.zeros_like(x1[..., :1])], dim=-1)
    for dx, want, text in ((1.0, shifted, "offset Δx = +1 → right-hand neighbour"),
                           (0.5, 0.5 * (x1 + shifted), "offset Δx = +0.5 → bilinear midpoint")):
        got = shift_with_deform_conv(x1, dy=0.0, dx=dx)
        inside = (slice(None), slice(None), slice(None), slice(0, size - 1))  # the border column reads padding
        rows.append({"check": text, "max |difference|": float((got - want)[inside].abs().max())})
    return pd.DataFrame(rows)


def shift_with_deform_conv(x, dy: float, dx: float):
    """Sample a 1-channel ``N×1×H×W`` map at ``p + (dy, dx)`` with a 1×1 modulated deformable conv
    whose offsets and mask are fixed through its (zero-weight) offset branch's bias."""
    import torch

    from covidnb.models.deform import ModulatedDeformConv2d

    m = ModulatedDeformConv2d(1, 1, kernel_size=1)
    with torch.no_grad():
        m.conv.weight.fill_(1.0)
        # torchvision's offset layout: (Δy, Δx) per kernel point, then one mask logit per point.
        m.offset_mask.bias.copy_(torch.tensor([dy, dx, 30.0]))  # σ(30) = 1 − 1e-13
        return m(x)


def deform_shift_figure(image, shifts: Sequence[tuple[float, float]] = ((0, 0), (0, 10), (-15, 0), (7.5, 7.5))):
    """An image sampled through a deformable conv with constant offsets: what an offset does."""
    import matplotlib.pyplot as plt

    x = image[None, :1] if image.dim() == 3 else image
    fig, axes = plt.subplots(1, len(shifts), figsize=(3 * len(shifts), 3.2))
    for ax, (dy, dx) in zip(np.atleast_1d(axes), shifts):
        ax.imshow(shift_with_deform_conv(x, dy, dx)[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"offset (Δy, Δx) = ({dy:g}, {dx:g})", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def module_costs(width: int) -> pd.DataFrame:
    """Parameters each added module costs where DResUNet places it (x5 has 8·width channels,
    the head 2·width), beside the plain layer it extends or the block it gates."""
    import torch
    from torch import nn

    from covidnb.models import count_parameters
    from covidnb.models.attention import CSE, ECA, SCSE, SSE, ECAsE, eca_kernel_size
    from covidnb.models.deform import ModulatedDeformConv2d
    from covidnb.models.fprm import FPRM

    c5, ch = 8 * width, 2 * width
    entries = [
        ("Conv2d 3×3 (x5's plain first conv)", nn.Conv2d(4 * width, c5, 3, padding=1, bias=False), 4 * width),
        ("ModulatedDeformConv2d 3×3 (DResUNet's x5)", ModulatedDeformConv2d(4 * width, c5, 3), 4 * width),
        ("sSE gate (1×1 conv C→1)", SSE(c5), c5),
        ("cSE gate (C→C/2→C)", CSE(c5), c5),
        ("scSE (after each decoder stage; here on x5's channels)", SCSE(c5), c5),
        (f"ECA, avg + max pools, 2×2/2 (1-D kernel {eca_kernel_size(c5)})", ECA(c5, pools=("avg", "max"), downsample=True), c5),
        ("ECAsE = sSE + ECA (x5 of ResUNet_ECSA, DResUNet)", ECAsE(c5), c5),
        ("FPRM (head of ResUNet_FPRM, DResUNet)", FPRM(ch, width), ch),
    ]
    rows = []
    for name, module, cin in entries:
        x = torch.rand(1, cin, 8, 8)
        if isinstance(module, FPRM):
            with torch.no_grad():
                out = module(x, torch.rand(1, width, 32, 32))
        else:
            with torch.no_grad():
                out = module.eval()(x)
        rows.append({"module": name, "input": tuple(x.shape), "output": tuple(out.shape),
                     "parameters": count_parameters(module)})
    return pd.DataFrame(rows).set_index("module")


# Model modules whose docstrings state the readings chosen where the thesis is vague.


# Model modules whose docstrings state the readings chosen where the thesis is vague.
_READING_MODULES = ("simplecnn", "vgg_small", "unet", "resunet", "attention", "fprm", "deform", "dresunet")


def readings(modules: Sequence[str] = _READING_MODULES) -> dict[str, str]:
    """``{module: text}``: each model module's docstring title, then its paragraphs from the first
    one that mentions a reading on (the whole docstring when none does) — the choices made where
    the thesis is vague, as the code states them."""
    import importlib
    import re

    out = {}
    for name in modules:
        doc = inspect.getdoc(importlib.import_module(f"covidnb.models.{name}")) or ""
        paras = re.split(r"\n\s*\n", doc)
        start = next((i for i, p in enumerate(paras) if "reading" in p.lower()), 1)
        out[name] = "\n\n".join(paras[:1] + paras[max(start, 1):]).strip()
    return out


def readings_markdown(modules: Sequence[str] = _READING_MODULES):
    """:func:`readings` as one Markdown object, a section per module."""
    from IPython.display import Markdown

    parts = [f"#### `covidnb.models.{name}`\n\n{text}" for name, text in readings(modules).items()]
    return Markdown("\n\n".join(parts))
