"""Seeding and RNG snapshots, so a run is repeatable and a resumed run continues identically.

Data order does not depend on a snapshot: every epoch's loader and mixing generators are seeded
from ``(seed, epoch)`` (:func:`epoch_seed`). The global RNGs (dropout, augmentations drawn with
``torch``/``numpy``/``random``) are snapshotted into ``last.pt`` and restored on resume.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A seed for one epoch and one purpose (0: data order, 1: mixing), independent of history."""
    return int(
        np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(
            1, dtype=np.uint64
        )[0]
        >> 1
    )


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: numpy and python follow torch's per-worker seed."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if (
        "cuda" in state
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])
