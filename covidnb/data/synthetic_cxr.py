"""Chest X-ray phantoms: 3-class (:class:`SyntheticCXR`, normal / pneumonia / COVID-19 by
class name) and 14-label (:class:`SyntheticCXR14`, NIH label names, each at its own site)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from covidnb.data.phantom_draw import blob, chest, ellipse, film_noise, grid
from covidnb.data.synthetic_base import SyntheticDataset


class SyntheticCXR(SyntheticDataset):
    """3-class frontal chest X-ray phantoms (normal / pneumonia / COVID-19 by class name)."""

    kind = "cxr"

    def __init__(
        self,
        split: str = "train",
        *,
        classes: Sequence[str] = ("normal", "pneumonia", "COVID-19"),
        **kw,
    ):
        super().__init__(split, classes=classes, **kw)

    def render(self, i: int) -> np.ndarray:
        rng = self.rng(i)
        s = self.image_size
        x, y = grid(s, s)
        img, lungs, _ = chest(rng, x, y)
        pattern = self.pattern(i)
        lesion = np.zeros_like(img)
        if pattern in ("pneumonia", "cap"):  # lobar consolidation in one lung
            side = rng.choice([-1, 1])
            lesion += rng.uniform(0.2, 0.35) * blob(
                x, y, side * rng.uniform(0.3, 0.5), rng.uniform(-0.3, 0.4), rng.uniform(0.1, 0.16)
            )
        elif pattern == "covid":  # bilateral, peripheral, lower-zone haze
            for side in (-1, 1):
                lesion += rng.uniform(0.1, 0.2) * blob(
                    x,
                    y,
                    side * rng.uniform(0.55, 0.68),
                    rng.uniform(0.15, 0.45),
                    rng.uniform(0.14, 0.22),
                )
        img += lesion * lungs
        img += film_noise(rng, s)
        return img


class SyntheticCXR14(SyntheticDataset):
    """14-label chest X-ray phantoms (NIH label names); ``normal`` = no label set."""

    kind = "cxr14"
    _per_sample = SyntheticDataset._per_sample + ("normal",)

    def __init__(
        self,
        split: str = "train",
        *,
        classes: Sequence[str] | None = None,
        n: int = 64,
        prevalence: float = 0.12,
        seed: int = 0,
        **kw,
    ):
        from covidnb.data.nih import NIH_LABELS

        classes = list(classes or NIH_LABELS)
        rng = np.random.default_rng([int(seed), zlib.crc32(split.encode()), 104729])
        targets = (rng.random((n, len(classes))) < prevalence).astype(np.float32)
        self.prevalence = prevalence
        super().__init__(
            split, classes=classes, n=n, seed=seed, multilabel=True, targets=targets, **kw
        )
        self.normal = (self.targets.sum(axis=1) == 0).astype(np.float32)
        site_rng = np.random.default_rng(2018)  # label sites fixed across seeds and splits
        self._sites = [
            (
                site_rng.choice([-1, 1]) * site_rng.uniform(0.25, 0.55),
                site_rng.uniform(-0.45, 0.45),
                site_rng.uniform(0.03, 0.1),
            )
            for _ in classes
        ]

    def params(self) -> dict[str, Any]:
        return {**super().params(), "prevalence": self.prevalence}

    def render(self, i: int) -> np.ndarray:
        rng = self.rng(i)
        s = self.image_size
        x, y = grid(s, s)
        names = [c.lower() for c in self.classes]
        on = {names[j] for j in np.flatnonzero(self.targets[i])}
        img, lungs, _ = chest(rng, x, y, heart_scale=1.35 if "cardiomegaly" in on else 1.0)
        for j, name in enumerate(names):
            if name not in on or name == "cardiomegaly":
                continue
            amp = rng.uniform(0.15, 0.3)
            if name == "effusion":
                img += amp * (y > 0.35 + rng.normal(0, 0.03)) * lungs
            elif name == "pneumothorax":
                img -= 0.15 * ellipse(x, y, rng.choice([-1, 1]) * 0.55, -0.45, 0.15, 0.2) * lungs
            elif name == "nodule":
                cx, cy, _ = self._sites[j]
                img += 0.35 * blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), 0.02)
            elif name == "mass":
                cx, cy, _ = self._sites[j]
                img += 0.35 * blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), 0.07)
            elif name == "hernia":
                img += 0.3 * blob(x, y, 0.0, 0.7, 0.08)
            else:
                cx, cy, sig = self._sites[j]
                img += (
                    amp
                    * blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), sig)
                    * lungs
                )
        img += film_noise(rng, s)
        return img

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i)), "normal": torch.tensor(self.normal[i])}
