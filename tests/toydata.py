"""An in-memory dataset with the CONTRACTS.md sample dict, for the training/run/CAM tests."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    """``n`` images ``channels×size×size``; class k has a bright square in a class-specific place,
    so a tiny CNN learns it in a few steps. ``multilabel=True`` gives one square per active label."""

    def __init__(
        self,
        n: int = 32,
        classes=("neg", "pos"),
        size: int = 16,
        channels: int = 1,
        seed: int = 0,
        multilabel: bool = False,
        split: str = "train",
        name: str = "toy",
    ):
        rng = np.random.default_rng(seed)
        self.name, self.split, self.root = name, split, None
        self.classes = list(classes)
        self.multilabel = multilabel
        self.synthetic = True
        c = len(self.classes)
        if multilabel:
            self.targets = (rng.random((n, c)) < 0.5).astype(np.float32)
            self.targets[0], self.targets[1] = 1, 0  # every label both present and absent
        else:
            self.targets = np.arange(n) % c
            rng.shuffle(self.targets)
        imgs = rng.random((n, channels, size, size)).astype(np.float32) * 0.3
        q = size // 4
        for i in range(n):
            active = np.flatnonzero(self.targets[i]) if multilabel else [self.targets[i]]
            for k in active:
                r, col = divmod(int(k), 3)
                imgs[i, :, r * q : (r + 1) * q, col * q : (col + 1) * q] += 0.7
        self.images = torch.from_numpy(np.clip(imgs, 0, 1))
        self.sample_ids = [f"{split}/{i}" for i in range(n)]
        self.patient_ids = [f"p{i // 2}" for i in range(n)]
        self.sources = [name] * n

    def __len__(self):
        return len(self.sample_ids)

    def __getitem__(self, i):
        label = (
            torch.from_numpy(self.targets[i].copy())
            if self.multilabel
            else torch.tensor(int(self.targets[i]), dtype=torch.int64)
        )
        return {
            "image": self.images[i],
            "label": label,
            "sample_id": self.sample_ids[i],
            "patient_id": self.patient_ids[i],
            "source": self.sources[i],
        }

    def info(self):
        counts = (
            self.targets.sum(0)
            if self.multilabel
            else np.bincount(self.targets, minlength=len(self.classes))
        )
        return {
            "name": self.name,
            "split": self.split,
            "root": None,
            "n": len(self),
            "class_counts": {c: int(k) for c, k in zip(self.classes, counts)},
            "checksum": hashlib.sha256(self.images.numpy().tobytes()).hexdigest(),
            "synthetic": True,
        }
