"""CT phantoms: axial 2-D slices (:class:`SyntheticCTSlices`) and 3-D volumes with lung and
infection masks (:class:`SyntheticVolumes`, infection ratios after Ouyang et al., IEEE TMI 39(8)
2020, Table III)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from covidnb.data.phantom_draw import blob, ellipse, grid, smooth_noise
from covidnb.data.synthetic_base import SyntheticDataset

# Ouyang et al. 2020, Table III: share of scans with infection ratio
# < 0.005 / 0.005-0.030 / > 0.030.
TABLE3_MIX = {"covid": (0.138, 0.291, 0.571), "cap": (0.767, 0.168, 0.065)}
_RATIO_BINS = ((0.001, 0.005), (0.005, 0.030), (0.030, 0.15))



def torso(rng: np.random.Generator, shape: tuple[int, int, int], lung_jitter: float = 0.0):
    """The phantoms' thorax in HU: coordinates in [-1, 1] per axis, air (-1000) outside an
    elliptic body (40 HU, axes jittered by ``rng``), two ellipsoid lungs (-850 HU) inside it.

    ``lung_jitter`` > 0 also draws each lung's half-width (std ``lung_jitter``); at 0 no draw is
    made, so the random stream of a phantom that does not jitter is unchanged.
    Returns ``((z, y, x), hu, lung)``.
    """
    d, h, w = shape
    z, y, x = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
    z, y, x = (z + 0.5) / d * 2 - 1, (y + 0.5) / h * 2 - 1, (x + 0.5) / w * 2 - 1
    hu = np.full((d, h, w), -1000.0, np.float32)
    body = (x / (0.85 + rng.normal(0, 0.03))) ** 2 + (y / (0.65 + rng.normal(0, 0.03))) ** 2 <= 1
    hu[body] = 40.0
    lung = np.zeros((d, h, w), bool)
    for side in (-1, 1):
        half = 0.27 + (rng.normal(0, lung_jitter) if lung_jitter > 0 else 0.0)
        lung |= (((x - side * 0.37) / half) ** 2 + ((y + 0.03) / 0.45) ** 2
                 + ((z - 0.05) / 0.9) ** 2) <= 1
    lung &= body
    hu[lung] = -850.0
    return (z, y, x), hu, lung

class SyntheticCTSlices(SyntheticDataset):
    """Axial CT slice phantoms; classes by name (see :func:`pattern_of`)."""

    kind = "ct-slice"

    def __init__(
        self, split: str = "train", *, classes: Sequence[str] = ("CT_NonCOVID", "CT_COVID"), **kw
    ):
        super().__init__(split, classes=classes, **kw)

    def render(self, i: int) -> np.ndarray:
        rng = self.rng(i)
        s = self.image_size
        x, y = grid(s, s)
        img = np.zeros((s, s), np.float32)
        body = ellipse(
            x,
            y,
            rng.normal(0, 0.03),
            0.05 + rng.normal(0, 0.03),
            0.85 + rng.normal(0, 0.04),
            0.65 + rng.normal(0, 0.04),
        )
        img[body] = 0.55
        lungs = np.zeros_like(body)
        for side in (-1, 1):
            lungs |= ellipse(
                x,
                y,
                side * (0.37 + rng.normal(0, 0.02)),
                rng.normal(-0.03, 0.02),
                0.26 + rng.normal(0, 0.02),
                0.42 + rng.normal(0, 0.03),
            )
        lungs &= body
        img[lungs] = 0.12
        img[ellipse(x, y, 0, 0.5, 0.09, 0.08)] = 0.9  # vertebra
        for _ in range(rng.integers(8, 20)):  # vessels, in every class
            cx, cy = rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.35)
            img += 0.25 * blob(x, y, cx, cy, rng.uniform(0.008, 0.02)) * lungs
        pattern = self.pattern(i)
        lesion = np.zeros_like(img)
        if pattern == "covid":  # ground-glass: faint, peripheral, often both lungs
            for _ in range(rng.integers(1, 5)):
                side = rng.choice([-1, 1])
                cx, cy = side * rng.uniform(0.45, 0.6), rng.uniform(-0.35, 0.3)
                lesion += rng.uniform(0.08, 0.22) * blob(x, y, cx, cy, rng.uniform(0.05, 0.12))
        elif pattern in ("pneumonia", "cap"):  # consolidation: denser, one lung, more central
            side = rng.choice([-1, 1])
            cx, cy = side * rng.uniform(0.25, 0.45), rng.uniform(-0.3, 0.3)
            lesion += rng.uniform(0.25, 0.45) * blob(x, y, cx, cy, rng.uniform(0.06, 0.1))
        elif rng.random() < 0.3:  # a small nodule now and then in normal slices
            cx, cy = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5), rng.uniform(-0.3, 0.3)
            lesion += 0.3 * blob(x, y, cx, cy, rng.uniform(0.015, 0.03))
        img += lesion * lungs
        img += smooth_noise(rng, s, s, 0.03) * body + rng.normal(0, 0.03, size=img.shape).astype(
            np.float32
        )
        return img


class SyntheticVolumes(SyntheticDataset):
    """3-D chest CT phantoms (``1×D×H×W``) with lung and infection masks.

    Each scan's infection ratio (infected / lung voxels) falls in one of Table III's groups
    (< 0.005, 0.005–0.030, > 0.030) drawn with its class's mix; COVID-like lesions are several,
    smaller, ground-glass and bilateral, CAP-like ones fewer, larger and denser. ``CT-k`` classes
    (MosMedData) use severity bins of the lung involvement instead.
    """

    kind = "ct-volume"

    def __init__(
        self,
        split: str = "train",
        *,
        classes: Sequence[str] = ("CAP", "COVID-19"),
        volume_size: Sequence[int] = (32, 64, 64),
        **kw,
    ):
        self.volume_size = tuple(int(v) for v in volume_size)
        super().__init__(split, classes=classes, **kw)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "volume_size": list(self.volume_size)}

    def target_ratio(self, rng, pattern: str) -> float:
        if pattern.startswith("severity"):
            k = int(pattern[len("severity") :])
            lo, hi = [(0.0, 0.0), (0.02, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9)][min(k, 4)]
            return float(rng.uniform(lo, hi))
        if pattern == "normal":
            return 0.0
        mix = TABLE3_MIX["cap" if pattern in ("cap", "pneumonia") else "covid"]
        lo, hi = _RATIO_BINS[rng.choice(3, p=mix)]
        return float(rng.uniform(lo, hi))

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from covidnb.data.volumes import DEFAULT_HU_WINDOW, window

        rng = self.rng(i)
        d, h, w = self.volume_size
        _, hu, lung = torso(rng, self.volume_size)
        pattern = self.pattern(i)
        ratio = self.target_ratio(rng, pattern)
        infection = np.zeros_like(lung)
        lung_vox = int(lung.sum())
        covid_like = pattern == "covid" or pattern.startswith("severity")
        n_les = int(rng.integers(2, 7)) if covid_like else int(rng.integers(1, 3))
        target = ratio * lung_vox
        lung_idx = np.argwhere(lung)
        for _ in range(50):  # add lesions until the target volume is reached
            if infection.sum() >= target or target == 0:
                break
            vol = max(target - infection.sum(), 1.0) / max(n_les, 1)
            r = max((3 * vol / (4 * np.pi)) ** (1 / 3), 1.0)
            cz, cy, cx = lung_idx[rng.integers(len(lung_idx))]
            zz, yy, xx = np.ogrid[0:d, 0:h, 0:w]
            ball = ((zz - cz) / (r * d / w)) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2 <= 1
            infection |= ball & lung
        hu[infection] = -450.0 if covid_like else -100.0
        hu += rng.normal(0, 25, size=hu.shape).astype(np.float32)
        return window(hu, DEFAULT_HU_WINDOW), lung.astype(np.uint8), infection.astype(np.uint8)

    def infection_ratio(self, i: int) -> float:
        _, lung, inf = self.render(i)
        return float(inf.sum() / max(lung.sum(), 1))

    def _load(self, i: int) -> dict[str, Any]:
        image, lung, inf = self.render(i)
        return {
            "image": torch.from_numpy(image)[None],
            "lung_mask": torch.from_numpy(lung)[None],
            "infection_mask": torch.from_numpy(inf)[None],
        }

    def info(self) -> dict[str, Any]:
        return {**super().info(), "volume_size": list(self.volume_size)}
