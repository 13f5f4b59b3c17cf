"""The optimiser, the learning-rate schedule and the trainable parameters of a ``fit``
(``TrainConfig.optimizer``, ``scheduler`` and ``scheduler_kwargs``; see its docstring)."""

from __future__ import annotations

import itertools

import torch

from covidnb.train.config import TrainConfig


def _optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    kw = {k: v for k, v in cfg.scheduler_kwargs.items() if k != "interval"}
    if cfg.scheduler is None:
        return None
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(
            opt, step_size=int(kw["step_size"]), gamma=float(kw.get("gamma", 0.1))
        )
    period = int(kw.get("T_max", cfg.epochs))
    eta_min = float(kw.get("eta_min", 0.0))
    if kw.get("restarts", False):
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=period, T_mult=int(kw.get("T_mult", 1)), eta_min=eta_min
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=period, eta_min=eta_min)


def _trainable_params(model: torch.nn.Module, loss_fn: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The model's parameters and the loss's own (e.g. SAAL's learnable α, β), each once."""
    seen: set[int] = set()
    params = []
    mods = [model] + ([loss_fn] if isinstance(loss_fn, torch.nn.Module) else [])
    for p in itertools.chain.from_iterable(m.parameters() for m in mods):
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    return params
