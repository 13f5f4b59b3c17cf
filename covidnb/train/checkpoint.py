"""The training loop's checkpoints: ``last.pt`` (everything a resume needs) and ``best.pt``.

``last.pt`` holds the model, the loss's own parameters, optimiser, scheduler, scaler, RNG states,
history and best-epoch bookkeeping, written atomically after every epoch, so a killed run resumes
at the next epoch and ends with the same weights as an uninterrupted one. A checkpoint written
with a different training configuration (other than the fields in ``RESUMABLE_DIFFS``) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from covidnb.train.config import TrainConfig
from covidnb.train.seed import rng_state, set_rng_state

LAST = "last.pt"
BEST = "best.pt"
# Fields that may differ between the run that wrote last.pt and the one resuming it: they do not
# change what is trained (or, for ``epochs``, extend it).
RESUMABLE_DIFFS = {
    "epochs",
    "progress",
    "num_workers",
    "device",
    "amp",
    "eval_batch_size",
    "restore_best",
}


def check_resumable(saved: dict, cfg: TrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    diffs = {
        k: (saved.get(k), now.get(k))
        for k in set(saved) | set(now)
        if k not in RESUMABLE_DIFFS and saved.get(k) != now.get(k)
    }
    if diffs:
        detail = "; ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in sorted(diffs.items()))
        raise ValueError(
            f"{path}: checkpoint was written with a different training configuration ({detail}); "
            f"delete it or use another checkpoint_dir"
        )


def loss_state(loss_fn) -> dict | None:
    return loss_fn.state_dict() if isinstance(loss_fn, torch.nn.Module) else None


def resume(ckpt: Path, cfg: TrainConfig, model, loss_fn, optimizer, scheduler, scaler) -> dict:
    """Load ``ckpt/last.pt`` into the training objects; returns ``{history, best_epoch,
    best_score, epoch}``."""
    state = torch.load(ckpt / LAST, map_location="cpu", weights_only=False)  # RNG states on CPU
    check_resumable(state["config"], cfg, ckpt / LAST)
    model.load_state_dict(state["model"])
    if isinstance(loss_fn, torch.nn.Module) and state.get("loss") is not None:
        loss_fn.load_state_dict(state["loss"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return {"history": list(state["history"]), "best_epoch": state["best_epoch"],
            "best_score": state["best_score"], "epoch": int(state["epoch"])}


def save_best(ckpt: Path, epoch: int, score: float, select: str, model, loss_fn) -> None:
    from covidnb.runs.atomic import atomic_torch_save

    atomic_torch_save({"epoch": epoch, "score": score, "select": select,
                       "model": model.state_dict(), "loss": loss_state(loss_fn)}, ckpt / BEST)


def save_last(ckpt: Path, epoch: int, cfg: TrainConfig, model, loss_fn, optimizer, scheduler,
              scaler, amp: bool, history: list[dict], best_epoch, best_score) -> None:
    from covidnb.runs.atomic import atomic_torch_save

    state: dict[str, Any] = {
        "epoch": epoch,
        "config": cfg.to_dict(),
        "model": model.state_dict(),
        "loss": loss_state(loss_fn),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if amp else None,
        "rng": rng_state(),
        "history": history,
        "best_epoch": best_epoch,
        "best_score": best_score,
    }
    atomic_torch_save(state, ckpt / LAST)


def load_best_weights(ckpt: Path, model) -> None:
    model.load_state_dict(torch.load(ckpt / BEST, map_location="cpu", weights_only=False)["model"])
