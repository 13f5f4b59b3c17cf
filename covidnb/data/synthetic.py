"""Synthetic phantoms with the same interface as the real datasets, for when data are absent.

Every phantom is deterministic given ``(seed, split, index)``, has ``synthetic=True``, sample
ids ``synthetic/<i>`` and source ``"synthetic"``, and keeps the class names it is given (the
real dataset's), choosing each class's pattern from its name:

- 2-D CT slice (:class:`SyntheticCTSlices`): body ellipse, two lungs, vessels; COVID-like
  classes get peripheral ground-glass blobs, pneumonia-like classes a denser consolidation,
  normal / non-COVID classes sometimes a small nodule (so the task is not trivial).
- 3-class chest X-ray (:class:`SyntheticCXR`): thorax, lungs, heart, ribs; pneumonia =
  unilateral consolidation, COVID-19 = bilateral peripheral lower-zone haze.
- 14-label chest X-ray (:class:`SyntheticCXR14`): each label a pattern at its own site
  (cardiomegaly = larger heart, effusion = basal haze, nodule = small dot, …), labels drawn
  independently; the ``normal`` flag is set when none is.
- 3-D volume (:class:`SyntheticVolumes`): body, lungs, lesions with lung and infection masks;
  infection ratios drawn from the per-class group mix of Ouyang et al. (IEEE TMI 39(8) 2020,
  Table III) for CAP / COVID-19, or MosMed-style CT-0…CT-4 bins.

Print :data:`SYNTHETIC_BANNER` (or :func:`synthetic_warning`) next to any result on phantoms.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from covidnb.data.base import BaseDataset

SYNTHETIC_BANNER = (
    "*** SYNTHETIC DATA *** These results come from generated phantoms, not from patients. "
    "They show that the pipeline runs; they say nothing about the paper's claims."
)

PHANTOM_VERSION = 1

# Ouyang et al. 2020, Table III: share of scans with infection ratio
# < 0.005 / 0.005-0.030 / > 0.030.
TABLE3_MIX = {"covid": (0.138, 0.291, 0.571), "cap": (0.767, 0.168, 0.065)}
_RATIO_BINS = ((0.001, 0.005), (0.005, 0.030), (0.030, 0.15))


def synthetic_warning(ds: Any) -> str:
    """The banner when ``ds`` is synthetic (naming it), else an empty string."""
    if getattr(ds, "synthetic", False):
        return (
            f"{SYNTHETIC_BANNER}\n(dataset: {getattr(ds, 'name', '?')}/{getattr(ds, 'split', '?')})"
        )
    return ""


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


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (x + 0.5) / w * 2 - 1, (y + 0.5) / h * 2 - 1


def _ellipse(x, y, cx, cy, ax, ay) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _blob(x, y, cx, cy, sigma) -> np.ndarray:
    return np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)))


def _smooth_noise(rng, h, w, sd, scale=4) -> np.ndarray:
    """Low-frequency texture: coarse noise upsampled, so no pixel-wise threshold removes it."""
    coarse = rng.normal(0, sd, size=(max(2, h // scale), max(2, w // scale))).astype(np.float32)
    t = torch.from_numpy(coarse)[None, None]
    return torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


class _SyntheticBase(BaseDataset):
    kind = "base"
    _per_sample = BaseDataset._per_sample + ("gen_index",)

    def __init__(
        self,
        split: str = "train",
        *,
        n: int = 64,
        classes: Sequence[str],
        name: str | None = None,
        image_size: int = 64,
        channels: int = 1,
        seed: int = 0,
        transform=None,
        class_probs: Sequence[float] | None = None,
        multilabel: bool = False,
        targets=None,
        **_: Any,
    ):
        self.seed = int(seed)
        self._split_code = zlib.crc32(split.encode())
        self.class_probs = list(class_probs) if class_probs is not None else None
        k = len(classes)
        if targets is None:
            rng = np.random.default_rng([self.seed, self._split_code, 7919])
            if self.class_probs is not None:
                targets = rng.choice(
                    k, size=n, p=np.asarray(self.class_probs) / np.sum(self.class_probs)
                )
            else:
                targets = rng.permutation(np.arange(n) % k)
        super().__init__(
            name=name or f"synthetic-{self.kind}",
            split=split,
            classes=classes,
            targets=targets,
            sample_ids=[f"synthetic/{i}" for i in range(n)],
            patient_ids=[f"synthetic-{i}" for i in range(n)],
            sources="synthetic",
            root=None,
            multilabel=multilabel,
            synthetic=True,
            transform=transform,
            image_size=image_size,
            channels=channels,
        )
        self.gen_index = np.arange(n)

    def rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self._split_code, int(self.gen_index[i])])

    def params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": PHANTOM_VERSION,
            "seed": self.seed,
            "split": self.split,
            "image_size": self.image_size,
            "channels": self.channels,
            "classes": self.classes,
            "class_probs": self.class_probs,
        }

    def checksum(self) -> str:
        """sha256 of the generator parameters and the generated indices (after any subset)."""
        if self._checksum is None:
            payload = json.dumps(
                {"params": self.params(), "indices": sorted(int(g) for g in self.gen_index)},
                sort_keys=True,
                default=str,
            )
            self._checksum = hashlib.sha256(payload.encode()).hexdigest()
        return self._checksum

    def _files(self, i: int):
        return []

    def _as_image(self, img: np.ndarray) -> torch.Tensor:
        img = np.clip(img, 0.0, 1.0).astype(np.float32)
        t = torch.from_numpy(img)[None]
        return t.repeat(self.channels, 1, 1) if self.channels > 1 else t


class SyntheticCTSlices(_SyntheticBase):
    """Axial CT slice phantoms; classes by name (see :func:`pattern_of`)."""

    kind = "ct-slice"

    def __init__(
        self, split: str = "train", *, classes: Sequence[str] = ("CT_NonCOVID", "CT_COVID"), **kw
    ):
        super().__init__(split, classes=classes, **kw)

    def render(self, i: int) -> np.ndarray:
        rng = self.rng(i)
        s = self.image_size
        x, y = _grid(s, s)
        img = np.zeros((s, s), np.float32)
        body = _ellipse(
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
            lungs |= _ellipse(
                x,
                y,
                side * (0.37 + rng.normal(0, 0.02)),
                rng.normal(-0.03, 0.02),
                0.26 + rng.normal(0, 0.02),
                0.42 + rng.normal(0, 0.03),
            )
        lungs &= body
        img[lungs] = 0.12
        img[_ellipse(x, y, 0, 0.5, 0.09, 0.08)] = 0.9  # vertebra
        for _ in range(rng.integers(8, 20)):  # vessels, in every class
            cx, cy = rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.35)
            img += 0.25 * _blob(x, y, cx, cy, rng.uniform(0.008, 0.02)) * lungs
        pattern = pattern_of(
            self.classes[int(self.targets[i])], int(self.targets[i]), len(self.classes)
        )
        lesion = np.zeros_like(img)
        if pattern == "covid":  # ground-glass: faint, peripheral, often both lungs
            for _ in range(rng.integers(1, 5)):
                side = rng.choice([-1, 1])
                cx, cy = side * rng.uniform(0.45, 0.6), rng.uniform(-0.35, 0.3)
                lesion += rng.uniform(0.08, 0.22) * _blob(x, y, cx, cy, rng.uniform(0.05, 0.12))
        elif pattern in ("pneumonia", "cap"):  # consolidation: denser, one lung, more central
            side = rng.choice([-1, 1])
            cx, cy = side * rng.uniform(0.25, 0.45), rng.uniform(-0.3, 0.3)
            lesion += rng.uniform(0.25, 0.45) * _blob(x, y, cx, cy, rng.uniform(0.06, 0.1))
        elif rng.random() < 0.3:  # a small nodule now and then in normal slices
            cx, cy = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5), rng.uniform(-0.3, 0.3)
            lesion += 0.3 * _blob(x, y, cx, cy, rng.uniform(0.015, 0.03))
        img += lesion * lungs
        img += _smooth_noise(rng, s, s, 0.03) * body + rng.normal(0, 0.03, size=img.shape).astype(
            np.float32
        )
        return img

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i))}


def _chest(rng, x, y, heart_scale=1.0):
    """A frontal chest radiograph background: (image, lung mask, [left, right] lung masks)."""
    img = np.full(x.shape, 0.05, np.float32)
    thorax = _ellipse(x, y, 0, 0.1, 0.9 + rng.normal(0, 0.02), 1.05)
    img[thorax] = 0.5
    lungs_lr = []
    for side in (-1, 1):
        lung = _ellipse(
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
    heart = _ellipse(x, y, 0.12, 0.3, 0.28 * heart_scale, 0.24 * heart_scale)
    img[heart & thorax] = 0.55
    return img, lungs, lungs_lr


class SyntheticCXR(_SyntheticBase):
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
        x, y = _grid(s, s)
        img, lungs, _ = _chest(rng, x, y)
        pattern = pattern_of(
            self.classes[int(self.targets[i])], int(self.targets[i]), len(self.classes)
        )
        lesion = np.zeros_like(img)
        if pattern in ("pneumonia", "cap"):  # lobar consolidation in one lung
            side = rng.choice([-1, 1])
            lesion += rng.uniform(0.2, 0.35) * _blob(
                x, y, side * rng.uniform(0.3, 0.5), rng.uniform(-0.3, 0.4), rng.uniform(0.1, 0.16)
            )
        elif pattern == "covid":  # bilateral, peripheral, lower-zone haze
            for side in (-1, 1):
                lesion += rng.uniform(0.1, 0.2) * _blob(
                    x,
                    y,
                    side * rng.uniform(0.55, 0.68),
                    rng.uniform(0.15, 0.45),
                    rng.uniform(0.14, 0.22),
                )
        img += lesion * lungs
        img += _smooth_noise(rng, s, s, 0.04) + rng.normal(0, 0.025, size=img.shape).astype(
            np.float32
        )
        return img

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i))}


class SyntheticCXR14(_SyntheticBase):
    """14-label chest X-ray phantoms (NIH label names); ``normal`` = no label set."""

    kind = "cxr14"
    _per_sample = _SyntheticBase._per_sample + ("normal",)

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
        x, y = _grid(s, s)
        names = [c.lower() for c in self.classes]
        on = {names[j] for j in np.flatnonzero(self.targets[i])}
        img, lungs, _ = _chest(rng, x, y, heart_scale=1.35 if "cardiomegaly" in on else 1.0)
        for j, name in enumerate(names):
            if name not in on or name == "cardiomegaly":
                continue
            amp = rng.uniform(0.15, 0.3)
            if name == "effusion":
                img += amp * (y > 0.35 + rng.normal(0, 0.03)) * lungs
            elif name == "pneumothorax":
                img -= 0.15 * _ellipse(x, y, rng.choice([-1, 1]) * 0.55, -0.45, 0.15, 0.2) * lungs
            elif name == "nodule":
                cx, cy, _ = self._sites[j]
                img += 0.35 * _blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), 0.02)
            elif name == "mass":
                cx, cy, _ = self._sites[j]
                img += 0.35 * _blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), 0.07)
            elif name == "hernia":
                img += 0.3 * _blob(x, y, 0.0, 0.7, 0.08)
            else:
                cx, cy, sig = self._sites[j]
                img += (
                    amp
                    * _blob(x, y, cx + rng.normal(0, 0.05), cy + rng.normal(0, 0.05), sig)
                    * lungs
                )
        img += _smooth_noise(rng, s, s, 0.04) + rng.normal(0, 0.025, size=img.shape).astype(
            np.float32
        )
        return img

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i)), "normal": torch.tensor(self.normal[i])}


class SyntheticVolumes(_SyntheticBase):
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
        z, y, x = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
        z, y, x = (z + 0.5) / d * 2 - 1, (y + 0.5) / h * 2 - 1, (x + 0.5) / w * 2 - 1
        hu = np.full((d, h, w), -1000.0, np.float32)
        body = (
            (x / (0.85 + rng.normal(0, 0.03))) ** 2 + (y / (0.65 + rng.normal(0, 0.03))) ** 2
        ) <= 1
        hu[body] = 40.0
        lung = np.zeros((d, h, w), bool)
        for side in (-1, 1):
            lung |= (
                ((x - side * 0.37) / 0.27) ** 2 + ((y + 0.03) / 0.45) ** 2 + ((z - 0.05) / 0.9) ** 2
            ) <= 1
        lung &= body
        hu[lung] = -850.0
        pattern = pattern_of(
            self.classes[int(self.targets[i])], int(self.targets[i]), len(self.classes)
        )
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


def synthetic_for(modality: str, *, multilabel: bool = False, **kw) -> _SyntheticBase:
    """The phantom class for a manifest's modality (``ct-slice``, ``cxr``, ``ct-volume``)."""
    if modality == "ct-slice":
        return SyntheticCTSlices(**kw)
    if modality == "cxr":
        return SyntheticCXR14(**kw) if multilabel else SyntheticCXR(**kw)
    if modality == "ct-volume":
        return SyntheticVolumes(**kw)
    raise ValueError(f"no phantom for modality {modality!r}")
