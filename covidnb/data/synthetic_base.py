"""The base of the synthetic phantoms (:mod:`covidnb.data.synthetic`): the sample table of
:class:`~covidnb.data.base.BaseDataset` filled from generator parameters instead of files."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from covidnb.data.base import BaseDataset
from covidnb.data.phantom_draw import pattern_of

PHANTOM_VERSION = 1


class SyntheticDataset(BaseDataset):
    """The phantoms' base: class targets drawn from ``(seed, split)`` (balanced, or by
    ``class_probs``), sample ids ``synthetic/<i>``, one generator per sample, and a checksum of
    the generator parameters instead of files."""

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
        loading = {"transform": transform, "image_size": image_size, "channels": channels}
        self._set_samples(
            name=name or f"synthetic-{self.kind}",
            split=split,
            classes=classes,
            targets=targets,
            sample_ids=[f"synthetic/{i}" for i in range(n)],
            patient_ids=[f"synthetic-{i}" for i in range(n)],
            sources="synthetic",
            multilabel=multilabel,
            synthetic=True,
            **loading,
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

    def pattern(self, i: int) -> str:
        """The lesion pattern of sample ``i``'s class (:func:`pattern_of`)."""
        k = int(self.targets[i])
        return pattern_of(self.classes[k], k, len(self.classes))

    def render(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, i: int) -> dict[str, Any]:
        return {"image": self._as_image(self.render(i))}

    def _as_image(self, img: np.ndarray) -> torch.Tensor:
        img = np.clip(img, 0.0, 1.0).astype(np.float32)
        t = torch.from_numpy(img)[None]
        return t.repeat(self.channels, 1, 1) if self.channels > 1 else t
