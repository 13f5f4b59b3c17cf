"""Drawing primitives of the synthetic phantoms (:mod:`covidnb.data.synthetic`): coordinate
grids, ellipses, Gaussian blobs, low-frequency texture, a frontal chest background, and the
lesion pattern a class name stands for. Every random draw comes from the caller's generator, in a
fixed order, so a phantom is a function of ``(seed, split, index)``."""

from __future__ import annotations

import numpy as np
import torch


def pattern_of(cls: str, index: int, n_classes: int) -> str:
    """The lesion pattern a class name stands for: ``covid``, ``pneumonia``, ``cap``, ``normal``
    or ``severity<k>`` (MosMed ``CT-k``)."""
    c = cls.lower().replace("_", "-")
    if c.startswith("ct-") and c[3:].isdigit():
        return f"severity{c[3:]}"
    if "non" in c and "covid" in c:
        return "normal"
    if "covid" in c or c in ("ncp",):
        return "covid"
    if c in ("cap",) or "community" in c:
        return "cap"
    if "pneumonia" in c or c in ("cp", "bacterial", "viral"):
        return "pneumonia"
    if "normal" in c or c in ("healthy", "negative"):
        return "normal"
    return "normal" if index == 0 else ("covid" if index == n_classes - 1 else "pneumonia")


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (x + 0.5) / w * 2 - 1, (y + 0.5) / h * 2 - 1


def ellipse(x, y, cx, cy, ax, ay) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def blob(x, y, cx, cy, sigma) -> np.ndarray:
    return np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)))


def smooth_noise(rng, h, w, sd, scale=4) -> np.ndarray:
    """Low-frequency texture: coarse noise upsampled, so no pixel-wise threshold removes it."""
    coarse = rng.normal(0, sd, size=(max(2, h // scale), max(2, w // scale))).astype(np.float32)
    t = torch.from_numpy(coarse)[None, None]
    return torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


def film_noise(rng, size: int) -> np.ndarray:
    """A radiograph's texture and quantum noise: low-frequency plus pixel-wise."""
    return smooth_noise(rng, size, size, 0.04) + rng.normal(0, 0.025, size=(size, size)).astype(
        np.float32
    )


def chest(rng, x, y, heart_scale=1.0):
    """A frontal chest radiograph background: (image, lung mask, [left, right] lung masks)."""
    img = np.full(x.shape, 0.05, np.float32)
    thorax = ellipse(x, y, 0, 0.1, 0.9 + rng.normal(0, 0.02), 1.05)
    img[thorax] = 0.5
    lungs_lr = []
    for side in (-1, 1):
        lung = ellipse(
            x,
            y,
            side * (0.4 + rng.normal(0, 0.02)),
            -0.05 + rng.normal(0, 0.02),
            0.3 + rng.normal(0, 0.02),
            0.62 + rng.normal(0, 0.03),
        )
        lungs_lr.append(lung)
    lungs = lungs_lr[0] | lungs_lr[1]
    img[lungs] = 0.22
    ribs = 0.05 * (np.sin((y + rng.uniform(0, 1)) * 14 * np.pi) > 0.6)
    img += ribs * lungs
    heart = ellipse(x, y, 0.12, 0.3, 0.28 * heart_scale, 0.24 * heart_scale)
    img[heart & thorax] = 0.55
    return img, lungs, lungs_lr
