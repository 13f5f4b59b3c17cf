"""3-D chest CT phantoms for the dual-sampling chapter (Ouyang et al., IEEE TMI 39(8) 2020):
COVID-19 vs CAP volumes with lung and infection masks, labelled synthetic everywhere.

What they copy from the paper, and what they do not:

- Infection-ratio mix per class (infected / lung voxels, §III-C): Table III's TV shares in the
  groups < 0.005 / 0.005–0.030 / > 0.030 (COVID-19 0.138 / 0.291 / 0.571, CAP 0.767 / 0.168 /
  0.065). Table III does not split "< 0.005" at the sampler's 0.001; the text says both group
  weights of the sampler were "approximately 1.5", and ``W_large^cap = N_small^cap / N_large^cap
  = 1.5`` puts 60 % of CAP at ≤ 0.001, i.e. 0.600 / 0.767 = 78 % of CAP's "< 0.005" group
  (:data:`BELOW_0001_SHARE`; used for both classes).
- Appearance (an assumption, not the paper's): COVID-19 lesions are 2–6 peripheral ground-glass
  foci (−600 to −300 HU), CAP lesions 1–2 denser foci anywhere in one lung (−400 to −50 HU); the
  HU ranges overlap, and every class has vessels (small dense blobs) in the lungs, so small
  lesions are hard to tell apart from vessels.
- Preprocessing as §IV-B after resampling: window [−1350, 150] HU scaled to [0, 1], and, with
  ``lung_masked`` (default), the image multiplied by the lung mask after scaling.

Chapter options (all through ``open_dataset(..., phantom="dual_sampling", ...)``):
``n_folds`` / ``fold`` / ``tv_n``: the ``train`` and ``val`` splits are the folds of one
training-validation pool ("TV set", stratified by class, ``tv_n`` volumes), ``test`` is an
independent set; ``sampling="size_balanced"`` makes each item of the ``train`` split one draw of
the size-balanced sampler (a group by its probability, then a volume uniformly within it,
§III-C) from torch's global generator, so draws differ every epoch and follow the run's seed;
``channels=2`` appends the infection mask as a second channel (for the attention loss; the
network reads channel 0 only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from covidnb.data.synthetic_ct import TABLE3_MIX, SyntheticVolumes, torso

__all__ = ["BELOW_0001_SHARE", "RATIO_RANGES", "DualSamplingPhantoms"]

BELOW_0001_SHARE = 0.600 / 0.767
RATIO_RANGES = ((0.0, 0.001), (0.001, 0.005), (0.005, 0.030), (0.030, 0.15))
HU_WINDOW = (-1350.0, 150.0)
CACHE_VOXELS = 48 * 2**20  # ~0.4 GB of float32 image + masks at most, per dataset
PHANTOM_KEYS = ("phantom", "n_folds", "fold", "tv_n", "sampling", "lung_masked")


class DualSamplingPhantoms(SyntheticVolumes):
    """COVID-19 / CAP volume phantoms (module doc). ``image`` is ``C×D×H×W`` (C = 1, or 2 with the
    infection mask), with ``lung_mask`` and ``infection_mask``."""

    kind = "ct-volume-dual-sampling"

    def __init__(self, split: str = "train", *, n_folds: int | None = None, fold: int = 0,
                 tv_n: int | None = None, sampling: str | None = None, lung_masked: bool = True,
                 **kw: Any):
        if sampling not in (None, "uniform", "size_balanced"):
            raise ValueError(f"sampling must be None, 'uniform' or 'size_balanced', got {sampling!r}")
        if kw.get("channels", 1) not in (1, 2):
            raise ValueError(f"channels must be 1 (CT) or 2 (CT + infection mask), got {kw['channels']}")
        self.n_folds, self.fold, self.lung_masked = n_folds, int(fold), bool(lung_masked)
        self.sampling = None if split != "train" else (None if sampling == "uniform" else sampling)
        pooled = bool(n_folds) and split in ("train", "val")
        if pooled:
            if not 0 <= self.fold < int(n_folds):
                raise ValueError(f"fold {fold} is not one of 0…{int(n_folds) - 1}")
            kw["n"] = int(tv_n or kw.get("n", 64))
        self.tv_n = kw.get("n") if pooled else None
        super().__init__("tv" if pooled else split, **kw)
        if pooled:
            ids = self.fold_ids()
            keep = np.flatnonzero((ids == self.fold) if split == "val" else (ids != self.fold))
            for attr in self._per_sample:
                val = getattr(self, attr)
                setattr(self, attr, val[keep] if isinstance(val, np.ndarray) else [val[i] for i in keep])
            self.split = split
        self._ratios: np.ndarray | None = None
        self._groups = None

    # -- the TV pool and its folds ----------------------------------------------------------------
    def fold_ids(self) -> np.ndarray:
        """Fold of every pool volume, stratified by class (a seeded permutation per class)."""
        rng = np.random.default_rng([self.seed, 4242])
        ids = np.zeros(len(self.targets), int)
        for c in np.unique(self.targets):
            idx = np.flatnonzero(self.targets == c)
            ids[rng.permutation(idx)] = np.arange(len(idx)) % int(self.n_folds)
        return ids

    def params(self) -> dict[str, Any]:
        return {**super().params(), "phantom": "dual_sampling", "n_folds": self.n_folds,
                "fold": self.fold, "tv_n": self.tv_n, "sampling": self.sampling,
                "lung_masked": self.lung_masked, "below_0001_share": round(BELOW_0001_SHARE, 6),
                "hu_window": list(HU_WINDOW)}

    # -- what a phantom holds ---------------------------------------------------------------------
    def target_ratio(self, rng, pattern: str) -> float:
        mix = TABLE3_MIX["cap" if pattern in ("cap", "pneumonia") else "covid"]
        shares = (mix[0] * BELOW_0001_SHARE, mix[0] * (1 - BELOW_0001_SHARE), mix[1], mix[2])
        lo, hi = RATIO_RANGES[rng.choice(4, p=np.asarray(shares) / sum(shares))]
        return float(rng.uniform(lo, hi))

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(image, lung, infection)`` of volume ``i``; kept in memory for small volumes (a
        phantom is re-read every epoch, and drawing it costs more than a small network step)."""
        key = int(self.gen_index[i])
        cache = self.__dict__.setdefault("_render_cache", {})
        if key not in cache:
            out = self._render(i)
            if int(np.prod(self.volume_size)) * (len(cache) + 1) <= CACHE_VOXELS:
                cache[key] = out
            return out
        return cache[key]

    def _render(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng(i)
        d, h, w = self.volume_size
        (_, _, x), hu, lung = torso(rng, self.volume_size, lung_jitter=0.01)
        lung_idx = np.argwhere(lung)
        zz, yy, xx = np.ogrid[0:d, 0:h, 0:w]
        for _ in range(int(rng.integers(4, 10))):  # vessels in every class
            cz, cy, cx = lung_idx[rng.integers(len(lung_idx))]
            r = rng.uniform(0.6, 1.5)
            ball = (((zz - cz) / max(r * d / w, 0.5)) ** 2 + ((yy - cy) / r) ** 2
                    + ((xx - cx) / r) ** 2) <= 1
            hu[ball & lung] = rng.uniform(-150, 40)
        pattern = self.pattern(i)
        covid = pattern == "covid"
        target = self.target_ratio(rng, pattern) * len(lung_idx)
        infection = np.zeros_like(lung)
        if covid:  # peripheral: centres within a few voxels of the lung border
            depth = ndimage.distance_transform_edt(lung)
            centres = np.argwhere(lung & (depth <= max(2.0, 0.08 * min(h, w))))
            n_les = int(rng.integers(2, 7))
        else:
            side = rng.choice([-1, 1])
            centres = np.argwhere(lung & ((x * side) > 0))
            n_les = int(rng.integers(1, 3))
        for _ in range(60):
            have = int(infection.sum())
            if target < 0.5 or have >= target - 0.5:  # the nearest whole number of voxels
                break
            vol = max(target - have, 1.0) / n_les
            r = max((3 * vol / (4 * np.pi)) ** (1 / 3), 0.7)
            cz, cy, cx = centres[rng.integers(len(centres))]
            ball = (((zz - cz) / (r * d / w)) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2) <= 1
            grow = ball & lung
            if have + grow.sum() > 1.2 * target + 1:  # a ball overshoots small targets
                keep = max(round(target - have), 1)
                grow &= (grow & ~infection).ravel().cumsum().reshape(grow.shape) <= keep
            infection |= grow
        lo, hi = (-600.0, -300.0) if covid else (-400.0, -50.0)
        hu[infection] = rng.uniform(lo, hi) + rng.normal(0, 40, size=int(infection.sum()))
        hu += rng.normal(0, 30, size=hu.shape).astype(np.float32)
        image = np.clip((hu - HU_WINDOW[0]) / (HU_WINDOW[1] - HU_WINDOW[0]), 0, 1).astype(np.float32)
        if self.lung_masked:
            image = image * lung
        return image, lung.astype(np.uint8), infection.astype(np.uint8)

    def _load(self, i: int) -> dict[str, Any]:
        image, lung, inf = self.render(i)
        img = torch.from_numpy(image)[None]
        if self.channels == 2:
            img = torch.cat([img, torch.from_numpy(inf.astype(np.float32))[None]])
        return {"image": img, "lung_mask": torch.from_numpy(lung)[None],
                "infection_mask": torch.from_numpy(inf)[None]}

    # -- infection ratios and the size-balanced draw ------------------------------------------------
    def infection_ratios(self) -> np.ndarray:
        """Measured ratio (infected / lung voxels) of every volume, as the paper's masks give it."""
        if self._ratios is None:
            out = []
            for i in range(len(self.targets)):
                _, lung, inf = self.render(i)
                out.append(float((inf & lung).sum() / max(int(lung.sum()), 1)))
            self._ratios = np.asarray(out)
        return self._ratios

    def size_groups(self, positive: int = 1):
        from covidnb.sampling import size_groups

        if self._groups is None:
            self._groups = size_groups(self.targets == positive, self.infection_ratios())
        return self._groups

    def draw(self, generator: torch.Generator | None = None) -> int:
        """One size-balanced draw (§III-C): a group by ``W / W_sum``, then a volume uniformly."""
        g = self.size_groups()
        k = int(torch.multinomial(torch.as_tensor(g.group_probabilities), 1, generator=generator))
        members = np.flatnonzero(g.group == k)
        return int(members[int(torch.randint(len(members), (1,), generator=generator))])

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.sampling == "size_balanced":
            if not -len(self) <= i < len(self):
                raise IndexError(f"{self.name}/{self.split}: index {i} out of range ({len(self)})")
            i = self.draw()
        return super().__getitem__(i)

    def subset(self, indices: Sequence[int]):
        out = super().subset(indices)
        out._ratios, out._groups = None, None  # the render cache is keyed by generator index
        return out
