"""A 14-finding chest X-ray phantom with known boxes, labelled from the real label matrix.

*** SYNTHETIC *** The DeepCXray chapter cannot train a 14-label model on 24 real images, so its
loss comparison runs on this phantom. What is realistic about it is only its labels: each image's
14-vector is a row drawn (with replacement) from the real label lists of the same split, so the
per-finding prevalences, the co-occurrences and the "No Finding" share are ChestX-ray14's — and so
is the rarity that makes W-CEL's weights infinite. Each finding is drawn as a Gaussian opacity
(darker for Pneumothorax / Emphysema) at its own fixed site with a per-image jitter; its box
(mean ± 2 σ, clipped to the image) is stored per image, so CAM boxes can be scored against it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from covidnb.data.nih import NIH_LABELS
from covidnb.data.phantom_draw import blob, chest, film_noise, grid
from covidnb.data.synthetic_base import SyntheticDataset

# Positives per finding over the three CheXNet lists of 112,120 images (their PROVENANCE.md
# table, summed); used only when the lists are absent and labels must be drawn independently.
RELEASE_POSITIVES = dict(zip(NIH_LABELS, (11535, 2772, 13307, 19870, 5746, 6323, 1353, 5298,
                                          4667, 2303, 2516, 1686, 3385, 227)))
RELEASE_N = 112120

# finding → (centre x, centre y, σ, amplitude) in the [-1, 1]² frame of phantom_draw.grid;
# sites were chosen once so that no two findings share a place (Edema and Pneumonia are
# bilateral-looking large opacities in real films; here each is one opacity at its own site).
SITES = {
    "Atelectasis": (-0.45, 0.35, 0.10, 0.25),
    "Cardiomegaly": (0.12, 0.30, 0.20, 0.20),
    "Effusion": (0.45, 0.50, 0.10, 0.28),
    "Infiltration": (-0.35, -0.15, 0.12, 0.20),
    "Mass": (0.40, -0.30, 0.08, 0.35),
    "Nodule": (-0.25, -0.45, 0.035, 0.45),
    "Pneumonia": (0.35, 0.05, 0.11, 0.25),
    "Pneumothorax": (-0.55, -0.40, 0.09, -0.20),
    "Consolidation": (-0.15, 0.10, 0.09, 0.30),
    "Edema": (0.20, -0.05, 0.13, 0.18),
    "Emphysema": (0.55, -0.50, 0.10, -0.18),
    "Fibrosis": (-0.50, -0.70, 0.08, 0.25),
    "Pleural_Thickening": (0.65, -0.05, 0.06, 0.30),
    "Hernia": (0.0, 0.75, 0.08, 0.35),
}
JITTER = 0.04


class ChestXray14Phantom(SyntheticDataset):
    """Multi-label phantom (``synthetic=True``) with a ``normal`` flag and per-image boxes.

    ``label_pool``: an ``M×14`` 0/1 matrix (a real split's label vectors) from which each image's
    labels are drawn; ``None`` draws each finding independently at the release's prevalence.
    ``boxes(i)`` lists ``{label, x, y, w, h}`` in pixels of this phantom's ``image_size``.
    """

    kind = "chestxray14_phantom"
    _per_sample = SyntheticDataset._per_sample + ("normal",)

    def __init__(self, split: str = "train", *, n: int = 256, seed: int = 0,
                 classes: Sequence[str] | None = None, label_pool=None, image_size: int = 64, **kw: Any):
        classes = list(classes or NIH_LABELS)
        unknown = [c for c in classes if c not in SITES]
        if unknown:
            raise ValueError(f"no phantom site for finding(s) {unknown}; known: {list(SITES)}")
        rng = np.random.default_rng([int(seed), zlib.crc32(split.encode()), 2018])
        if label_pool is not None:
            pool = np.asarray(label_pool, dtype=np.float32)
            if pool.ndim != 2 or pool.shape[1] != len(classes) or not len(pool):
                raise ValueError(f"label_pool must be M×{len(classes)}, got shape {pool.shape}")
            targets = pool[rng.integers(0, len(pool), size=n)]
            self.label_source = f"rows of the real label matrix ({len(pool)} vectors)"
        else:
            prev = np.array([RELEASE_POSITIVES[c] / RELEASE_N for c in classes])
            targets = (rng.random((n, len(classes))) < prev).astype(np.float32)
            self.label_source = "independent draws at the release prevalences"
        super().__init__(split, classes=classes, n=n, seed=seed, multilabel=True, targets=targets,
                         image_size=image_size, **kw)
        self.normal = (self.targets.sum(axis=1) == 0).astype(np.float32)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "label_source": self.label_source, "sites": SITES}

    def _centres(self, i: int) -> dict[str, tuple[float, float]]:
        rng = np.random.default_rng([self.seed, self._split_code, int(self.gen_index[i]), 1])
        return {c: (SITES[c][0] + rng.normal(0, JITTER), SITES[c][1] + rng.normal(0, JITTER))
                for c in self.classes}

    def render(self, i: int) -> np.ndarray:
        rng = self.rng(i)
        s = self.image_size
        x, y = grid(s, s)
        img, _, _ = chest(rng, x, y)
        centres = self._centres(i)
        for j in np.flatnonzero(self.targets[i]):
            name = self.classes[j]
            cx, cy = centres[name]
            sigma, amp = SITES[name][2], SITES[name][3]
            img = img + amp * rng.uniform(0.8, 1.2) * blob(x, y, cx, cy, sigma)
        return img + film_noise(rng, s)

    def boxes(self, i: int) -> list[dict[str, Any]]:
        """The known box of every finding present in image ``i`` (pixels; mean ± 2 σ, clipped)."""
        s = self.image_size
        out = []
        centres = self._centres(i)
        for j in np.flatnonzero(self.targets[i]):
            name = self.classes[j]
            cx, cy = centres[name]
            sigma = SITES[name][2]
            x0, x1 = [np.clip((v + 1) / 2 * s, 0, s) for v in (cx - 2 * sigma, cx + 2 * sigma)]
            y0, y1 = [np.clip((v + 1) / 2 * s, 0, s) for v in (cy - 2 * sigma, cy + 2 * sigma)]
            out.append({"label": name, "x": float(x0), "y": float(y0), "w": float(x1 - x0), "h": float(y1 - y0)})
        return out

    def bboxes(self, sample_id: str) -> list[dict[str, Any]]:
        """:meth:`boxes` by sample id (``synthetic/<i>``), as the real datasets' ``bboxes``."""
        return self.boxes(self.sample_ids.index(sample_id))

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i)), "normal": torch.tensor(self.normal[i])}
