"""Batch mixing: mixup (Xu 2021 thesis §2.4.2, §3.2, Fig. 3.5; Zhang et al. 2018) and CutMix (extension).

Mixup, as the thesis' code does it: draw ``λ ~ Beta(α, α)`` once per batch (``λ = 1`` when
α ≤ 0), pair every sample with one of a random permutation of the batch, and feed
``λ·x + (1−λ)·x[perm]``; the loss is ``λ·L(out, y) + (1−λ)·L(out, y[perm])`` (``mixed_loss``).
The thesis' code defaults to α = 1.0 while its docstring recommends 0.4.

CutMix (Yun et al., ICCV 2019) is only background in the thesis (§2.4.2, its eq. 1–2); it is
offered here as a labelled extension, not part of the re-run method. A box of size
``W·√(1−λ) × H·√(1−λ)`` centred at a uniform point is cut from ``x[perm]`` and pasted into ``x``;
the box is clipped to the image, and λ is then set to the fraction of the image left untouched,
as in the reference implementation, so that the loss weights match the pixels.

Randomness comes from ``generator`` (a ``torch.Generator``) when one is given: the permutation,
the box position, and λ (through a seed drawn from it, since torch's Beta sampler takes none).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

MODES = ("mixup", "cutmix")


def _sample_lam(alpha: float, generator: torch.Generator | None) -> float:
    if alpha <= 0:
        return 1.0
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _uniform(high: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(0, high, (1,), generator=generator).item())


def cutmix_box(height: int, width: int, lam: float,
               generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """CutMix's box ``(y1, y2, x1, x2)`` for a given λ, clipped to the image (Yun et al. 2019, eq. 2)."""
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = _uniform(height, generator), _uniform(width, generator)
    y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y1, y2, x1, x2


def mix_batch(images: torch.Tensor, targets: torch.Tensor, alpha: float, mode: str = "mixup",
              generator: torch.Generator | None = None, lam: float | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mix a batch; returns ``(mixed, targets_a, targets_b, lam)``.

    ``images`` is ``N×C×H×W`` (any trailing dims for mixup), ``targets`` has ``N`` rows.
    ``lam`` fixes λ instead of drawing it (for figures and tests); for CutMix the returned λ is
    the one adjusted to the box actually pasted.
    """
    if mode not in MODES:
        raise ValueError(f"mix_batch: mode must be one of {MODES}, got {mode!r}")
    if images.shape[0] != targets.shape[0]:
        raise ValueError(f"mix_batch: {images.shape[0]} images but {targets.shape[0]} targets")
    if lam is None:
        lam = _sample_lam(float(alpha), generator)
    elif not 0.0 <= lam <= 1.0:
        raise ValueError(f"mix_batch: lam must lie in [0, 1], got {lam}")
    perm = torch.randperm(images.shape[0], generator=generator).to(images.device)
    targets_a, targets_b = targets, targets[perm.to(targets.device)]
    if mode == "mixup":
        mixed = lam * images + (1.0 - lam) * images[perm]
        return mixed, targets_a, targets_b, float(lam)
    if images.dim() != 4:
        raise ValueError(f"mix_batch: cutmix needs N×C×H×W images, got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    y1, y2, x1, x2 = cutmix_box(h, w, lam, generator)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[perm][:, :, y1:y2, x1:x2]
    lam = 1.0 - (y2 - y1) * (x2 - x1) / float(h * w)
    return mixed, targets_a, targets_b, float(lam)


def mixed_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], outputs,
               targets_a: torch.Tensor, targets_b: torch.Tensor, lam: float) -> torch.Tensor:
    """``λ·L(outputs, y_a) + (1−λ)·L(outputs, y_b)`` (thesis Fig. 3.5, ``mixup_loss_fn``)."""
    return lam * loss_fn(outputs, targets_a) + (1.0 - lam) * loss_fn(outputs, targets_b)
