"""Data-parallel training across processes: :func:`fit` under ``torchrun``.

Run any script that calls :func:`covidnb.train.fit` as

    torchrun --nproc_per_node 4 my_script.py

and ``fit`` finds the process group's settings in the environment ``torchrun`` sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``), starts the group (``nccl`` on CUDA,
``gloo`` on CPU) and trains with ``DistributedDataParallel``. Nothing in ``TrainConfig`` changes,
so a run's key is the same on one process or many:

* ``batch_size`` stays the batch of one optimiser step, split evenly over the processes (the 3-D
  paper profile's batch 20 over 4 GPUs is 5 per GPU; a batch that does not divide is refused).
* The data order is the single-process order: every process draws the same permutation from the
  epoch's generator and takes every ``world``-th index of it (:class:`ShardSampler`, a
  ``DistributedSampler``), so step *k* of the group sees exactly the samples of step *k* of one
  process with the whole batch. With losses that are means over the batch, DDP's averaged
  gradient is then the whole batch's gradient, and the run matches one process within
  floating-point reduction order (``tests/test_distributed_fit.py`` checks it with 2 ``gloo``
  processes). Where the training set does not divide by the number of processes, the last
  indices are padded by repeating the first ones (as ``DistributedSampler`` does).
* The training loss and the validation predictions are gathered from every process, so the
  history, the best-epoch choice and the non-finite-loss check are the same on all of them.
* Checkpoints (``last.pt``, ``best.pt``, ``nonfinite.json``) are written once, by rank 0, from
  the unwrapped model (so a distributed checkpoint resumes in one process and vice versa); the
  others wait for it (a barrier) and every process resumes from the same ``last.pt``.
* Batch norm: per-process statistics on CPU (``SyncBatchNorm`` needs CUDA); on CUDA the model's
  batch-norm layers are converted to ``SyncBatchNorm``, so they see the whole batch too.
* Parameters of the loss itself (e.g. SAAL's α, β) are outside the DDP module: their gradients
  are averaged over the processes by hand.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler


def env_world_size() -> int:
    """``WORLD_SIZE`` as ``torchrun`` sets it (1 when unset)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


class ShardSampler(DistributedSampler):
    """This process's share of ``base``'s order: indices ``rank, rank + world, …``.

    ``base`` (a sampler drawing from the same generator on every process, e.g. ``RandomSampler``)
    is iterated lazily, when the ``DataLoader`` first asks, so the generator is consumed in the
    same order as in one process. ``pad`` repeats the first indices so every process gets the
    same count (training); without it (evaluation) shares may differ by one and nothing repeats.
    """

    def __init__(self, dataset, base: Sampler | None, num_replicas: int, rank: int,
                 pad: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False,
                         drop_last=False)
        self.base = base
        self.pad = pad
        n = len(base) if base is not None else len(dataset)
        self.num_samples = -(-n // num_replicas) if pad else len(range(rank, n, num_replicas))
        self.total_size = self.num_samples * num_replicas if pad else n

    def __iter__(self) -> Iterator[int]:
        order = list(self.base) if self.base is not None else list(range(len(self.dataset)))
        if self.pad and len(order) < self.total_size:
            extra = self.total_size - len(order)
            order += (order * (extra // max(len(order), 1) + 1))[:extra]
        yield from order[self.rank : self.total_size : self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples


@dataclass
class DistContext:
    """One process of a data-parallel run."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        if batch_size % self.world:
            raise ValueError(
                f"TrainConfig.batch_size {batch_size} does not divide over {self.world} "
                f"processes; use a multiple of {self.world}"
            )
        return batch_size // self.world

    def prepare(self, model: torch.nn.Module, params: list, batch_size: int):
        """``(ddp_model, loss_params, local_batch)``: the wrapped model that trains (the
        unwrapped one evaluates and is checkpointed), the trainable parameters that are not
        the model's (averaged by hand), and this process's share of the batch."""
        own = {id(p) for p in model.parameters()}
        return (self.wrap(model), [p for p in params if id(p) not in own],
                self.local_batch(batch_size))

    def steps(self, n: int, local_batch: int) -> int:
        """Optimiser steps in one pass over this process's (padded) share of ``n`` samples."""
        return math.ceil(math.ceil(n / self.world) / local_batch)

    def train_sampler(self, dataset, sampler: Sampler | None, generator) -> ShardSampler:
        """This process's share of the single-process order: ``sampler``'s (e.g. the
        class-balanced one), else the shuffle ``RandomSampler`` draws from ``generator``."""
        from torch.utils.data import RandomSampler

        base = sampler if sampler is not None else RandomSampler(dataset, generator=generator)
        return ShardSampler(dataset, base, self.world, self.rank)

    def eval_sampler(self, dataset) -> ShardSampler:
        return ShardSampler(dataset, None, self.world, self.rank, pad=False)

    def step_loss(self, value: float, n: int) -> tuple[float, int]:
        """The whole step's mean loss and batch size, the same on every process."""
        total, count = self.sum(value * n, n)
        return total / count, int(count)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DDP(model, device_ids=[self.device.index], output_device=self.device.index)
        return DDP(model)

    def sum(self, *values: float) -> list[float]:
        """Element-wise sums over the processes."""
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def average_grads(self, params) -> None:
        """Average the gradients of parameters DDP does not own (the loss's own)."""
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad /= self.world

    def gather_eval(self, probs: np.ndarray, labels: np.ndarray, loss_mean: float,
                    indices: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
        """Every process's evaluation share put back in dataset order, on every process."""
        parts: list = [None] * self.world
        dist.all_gather_object(parts, (indices, probs, labels, loss_mean, len(indices)))
        idx = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
        order = np.argsort(idx, kind="stable")
        shares = [p for p in parts if p[4]]
        p_all = np.concatenate([p[1] for p in shares])[order] if shares else probs
        y_all = np.concatenate([p[2] for p in shares])[order] if shares else labels
        n = sum(p[4] for p in parts)
        losses = [p[3] * p[4] for p in parts if p[4]]
        loss = float(sum(losses) / n) if n and all(np.isfinite(losses)) else float("nan")
        return p_all, y_all, loss

    def barrier(self) -> None:
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def context(device: torch.device) -> DistContext | None:
    """The data-parallel context of this process, or ``None`` when it runs alone. Starts the
    process group from ``torchrun``'s environment when no one has yet."""
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    else:
        world = env_world_size()
        if world <= 1:
            return None
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch has no torch.distributed")
        rank = int(os.environ.get("RANK", "0"))
    if world <= 1:
        return None
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world)
    return DistContext(rank=rank, world=world, local_rank=local, device=device)
