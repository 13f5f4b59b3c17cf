"""``TrainConfig``: every knob of :func:`covidnb.train.fit`, as a JSON-able dataclass.

A run's ``config.json`` stores ``TrainConfig.to_dict()``; :meth:`TrainConfig.from_dict` rebuilds
it and rejects unknown keys, so a typo in a notebook's profile is an error, not a silent default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
SCHEDULERS = (None, "cosine", "step")
# Which epoch's weights a run keeps: the best on a validation score, or "last" (the end of one
# decaying schedule, which no noisy validation score can pull back to an untrained epoch).
SELECTIONS = {"val_loss": "min", "val_auc": "max", "val_accuracy": "max", "last": "max"}
SAMPLERS = (None, "class_balanced")
_SCHEDULER_KEYS = {
    None: set(),
    "cosine": {"T_max", "eta_min", "restarts", "T_mult"},
    "step": {"step_size", "gamma"},
}


@dataclass
class TrainConfig:
    """Training settings.

    ``scheduler``: ``None``; ``"cosine"`` with ``scheduler_kwargs`` ``T_max`` (the period, in
    epochs, default ``epochs``), ``eta_min`` (0), ``restarts`` (``False``:
    ``CosineAnnealingLR``, down over ``T_max`` epochs and, past them, back up: a full cycle is
    ``2·T_max``; ``True``: ``CosineAnnealingWarmRestarts``, down over ``T_max`` then back to
    ``lr`` at once, cycles lengthened by ``T_mult``); ``"step"`` with
    ``step_size`` and ``gamma`` (default 0.1). ``scheduler_kwargs["interval"]`` is ``"epoch"``
    (default) or ``"step"`` (the scheduler steps after every optimiser step, e.g. a decay "after
    9,000 steps").

    ``momentum`` is SGD's momentum and Adam's β₁. ``select`` names the validation quantity the
    best checkpoint is chosen on: ``val_loss`` (lowest), ``val_auc`` or ``val_accuracy`` (highest).
    ``amp``: ``"auto"`` (on for CUDA), ``True`` or ``False``; it is never used on CPU.
    ``progress``: ``None`` shows bars unless the environment sets ``COVIDNB_PROGRESS=0``.
    ``max_steps_per_epoch`` caps optimiser steps per epoch (smoke runs).
    ``sampler``: ``None`` (shuffle) or ``"class_balanced"`` (``covidnb.sampling``).

    GPU speed (:mod:`covidnb.train.speed`; used on CUDA only, off by default): ``amp_dtype``
    (``"float16"`` or ``"bfloat16"``), ``channels_last``, ``cudnn_benchmark``, ``memory_cache``.
    :meth:`to_dict` leaves them out while they hold their defaults, so adding them changed no
    existing run's key.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = None
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    amp: Any = "auto"
    num_workers: int = 0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    max_steps_per_epoch: int | None = None
    progress: bool | None = None
    select: str = "val_loss"
    eval_batch_size: int | None = None
    grad_clip: float | None = None
    sampler: str | None = None
    restore_best: bool = True
    amp_dtype: str = "float16"
    channels_last: bool = False
    cudnn_benchmark: bool = False
    memory_cache: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"TrainConfig.scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}"
            )
        if self.select not in SELECTIONS:
            raise ValueError(
                f"TrainConfig.select must be one of {tuple(SELECTIONS)}, got {self.select!r}"
            )
        if self.sampler not in SAMPLERS:
            raise ValueError(f"TrainConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        from covidnb.train.speed import AMP_DTYPES

        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(
                f"TrainConfig.amp_dtype must be one of {AMP_DTYPES}, got {self.amp_dtype!r}"
            )
        for name in ("channels_last", "cudnn_benchmark", "memory_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(  # noqa: TRY004 — every bad field of TrainConfig is a ValueError
                    f"TrainConfig.{name} must be true or false, got {getattr(self, name)!r}"
                )
        if self.amp not in ("auto", True, False):
            raise ValueError(f"TrainConfig.amp must be 'auto', True or False, got {self.amp!r}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_steps_per_epoch is not None and int(self.max_steps_per_epoch) < 1:
            raise ValueError(
                f"TrainConfig.max_steps_per_epoch must be >= 1 or None, got {self.max_steps_per_epoch!r}"
            )
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ValueError("TrainConfig.mixup_alpha and cutmix_alpha must be >= 0")
        interval = self.scheduler_kwargs.get("interval", "epoch")
        if interval not in ("epoch", "step"):
            raise ValueError(
                f"TrainConfig.scheduler_kwargs['interval'] must be 'epoch' or 'step', got {interval!r}"
            )
        allowed = _SCHEDULER_KEYS[self.scheduler] | {"interval"}
        unknown = sorted(set(self.scheduler_kwargs) - allowed)
        if unknown:
            raise ValueError(
                f"TrainConfig.scheduler_kwargs: {unknown} not understood by scheduler "
                f"{self.scheduler!r}; allowed: {sorted(allowed)}"
            )
        if self.scheduler == "step" and "step_size" not in self.scheduler_kwargs:
            raise ValueError("TrainConfig: scheduler 'step' needs scheduler_kwargs['step_size']")

    def to_dict(self) -> dict[str, Any]:
        """Every field, but the GPU speed fields only when they differ from their defaults (a
        run's key hashes this dict: the fields added for GPUs must not re-key CPU runs)."""
        from covidnb.train.speed import SPEED_FIELDS

        d = dataclasses.asdict(self)
        for name, default in SPEED_FIELDS.items():
            if d.get(name) == default:
                d.pop(name)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | TrainConfig | None) -> TrainConfig:
        if isinstance(d, TrainConfig):
            return d
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
