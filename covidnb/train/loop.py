"""One training loop for every chapter: :func:`fit` and :func:`predict` (CONTRACTS.md, "Training").

``fit`` is seeded (python, numpy, torch; each epoch's data order and mixing draws come from
generators seeded by ``(seed, epoch)``), runs on CPU or CUDA (mixed precision with
``torch.autocast`` + ``GradScaler`` on CUDA only), keeps the best-on-validation weights, writes
``last.pt`` after every epoch (model, optimiser, scheduler, scaler, loss, RNG states, history) so
a killed run resumes at the next epoch and ends with the same weights as an uninterrupted one
(:mod:`covidnb.train.checkpoint`), and stops on a non-finite or diverging loss after writing why
(``nonfinite.json``; the rule is in :mod:`covidnb.train.guard`). Under ``torchrun`` it trains
data-parallel (:mod:`covidnb.train.distributed`); the GPU speed settings are in
:mod:`covidnb.train.speed`, the optimiser and schedule in :mod:`covidnb.train.optim`.

Outputs: a model returns logits or a tuple ``(main, *aux)``; the loss sees the whole output, the
prediction uses ``main_output``. Probabilities: ``N×1`` logits (binary single-logit) → sigmoid,
read as ``[1 − p, p]``; multi-label datasets → sigmoid per label; otherwise softmax.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from covidnb.train.checkpoint import (
    BEST,
    LAST,
    RESUMABLE_DIFFS,
    check_resumable,
    load_best_weights,
    resume,
    save_best,
    save_last,
)
from covidnb.train.config import SELECTIONS, TrainConfig
from covidnb.train.device import resolve_device, use_amp
from covidnb.train.guard import NONFINITE, DivergingLossError, LossGuard, NonFiniteLossError
from covidnb.train.optim import _optimizer, _scheduler, _trainable_params
from covidnb.train.seed import epoch_seed, make_generator, seed_everything, seed_worker
from covidnb.train.speed import apply_backend, batch_to, memory_cached, prepare_model, resolve_speed

__all__ = ["BEST", "LAST", "NONFINITE", "RESUMABLE_DIFFS", "DivergingLossError", "FitResult",
           "NonFiniteLossError", "check_resumable", "fit", "predict", "probabilities"]


@dataclass
class FitResult:
    history: pd.DataFrame
    best_epoch: int | None
    best_score: float | None
    resumed_from: int
    seconds: float


def progress_enabled(setting: bool | None) -> bool:
    """Bars are off when ``COVIDNB_PROGRESS=0`` (batch runs), else as ``setting`` says (default on)."""
    if os.environ.get("COVIDNB_PROGRESS", "1").strip().lower() in ("0", "false", "no"):
        return False
    return True if setting is None else bool(setting)


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Class (or label) probabilities of the main logits; ``N×1`` → ``[1 − σ(z), σ(z)]``."""
    logits = logits.float()
    if logits.ndim == 1:
        logits = logits[:, None]
    if multilabel:
        return torch.sigmoid(logits)
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def _main_output(out):
    from covidnb.models import main_output

    return main_output(out)


def _loader(
    ds,
    batch_size: int,
    cfg: TrainConfig,
    device: torch.device,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    sampler=None,
) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker if cfg.num_workers else None,
        generator=generator,
    )


def _loss_log_values(loss_fn) -> dict[str, float]:
    """The loss's ``log_values()`` (if it has one) as flat floats under ``loss.<name>``."""
    fn = getattr(loss_fn, "log_values", None)
    if not callable(fn):
        return {}
    out = {}
    for k, v in (fn() or {}).items():
        arr = np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, dtype=float)
        if arr.ndim == 0:
            out[f"loss.{k}"] = float(arr)
        else:
            out.update({f"loss.{k}_{i}": float(x) for i, x in enumerate(arr.ravel())})
    return out


def _sampler(ds, cfg: TrainConfig, seed: int):
    if cfg.sampler is None:
        return None
    from covidnb.sampling import class_balanced_sampler

    return class_balanced_sampler(np.asarray(ds.targets), seed=seed)


@torch.no_grad()
def _infer(
    model, loader, device, amp: bool, multilabel: bool, loss_fn=None, progress=False, desc="eval",
    speed=None,
):
    """Probabilities, labels, ids and (with ``loss_fn``) the mean loss over ``loader``."""
    from tqdm.auto import tqdm

    model.eval()
    probs, labels, ids, pids, srcs = [], [], [], [], []
    loss_sum, n = 0.0, 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
        x = batch["image"].to(device, non_blocking=True)
        y = batch["label"].to(device, non_blocking=True)
        if speed is not None:
            x = batch_to(x, speed)
        with torch.autocast(device.type, dtype=speed.amp_dtype if speed else None, enabled=amp):
            out = model(x)
            if loss_fn is not None:
                loss_sum += float(loss_fn(out, y)) * x.shape[0]
        probs.append(probabilities(_main_output(out), multilabel).cpu())
        labels.append(batch["label"])
        ids += list(batch["sample_id"])
        pids += list(batch.get("patient_id", [""] * x.shape[0]))
        srcs += list(batch.get("source", [""] * x.shape[0]))
        n += x.shape[0]
    return (
        torch.cat(probs).numpy() if probs else np.zeros((0, 0)),
        torch.cat(labels).numpy() if labels else np.zeros(0),
        ids,
        pids,
        srcs,
        (loss_sum / n if n and loss_fn is not None else float("nan")),
    )


def _val_scores(p: np.ndarray, y: np.ndarray, multilabel: bool) -> dict[str, float]:
    """Validation AUC and accuracy for checkpoint selection (NaN when undefined); for a
    multi-class run (three or more softmax classes) also each class's F1, ``val_f1_<index>``.

    The per-class F1 is the one-vs-rest F1 of the argmax prediction from
    :func:`covidnb.metrics.multiclass_metrics`, asked for with ``zero_division=NaN`` so that a
    class never predicted or absent from the split has *no* F1 rather than 0 (a curve of a mean
    over seeds would otherwise dip to 0). It draws per-class-F1-per-epoch figures such as Fig. 10
    of Zhang & Zhang (pepx_resnet). Binary and multi-label rows keep exactly their two columns.
    """
    from covidnb.metrics import UndefinedMetricWarning, multiclass_metrics, multilabel_auc, safe_auc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if multilabel:
            return {
                "val_auc": multilabel_auc(y, p, [str(j) for j in range(y.shape[1])])["macro"],
                "val_accuracy": float(((p >= 0.5) == (y >= 0.5)).mean()),
            }
        if p.shape[1] == 2:
            return {
                "val_auc": safe_auc(y, p[:, 1]),
                "val_accuracy": float((p.argmax(1) == y).mean()),
            }
        # zero_division only touches precision/F1-type ratios: macro AUC and accuracy are as before
        m = multiclass_metrics(y, p, [str(j) for j in range(p.shape[1])], zero_division=math.nan)
        out = {"val_auc": m["macro"]["auc"], "val_accuracy": m["accuracy"]}
        out.update({f"val_f1_{j}": float(m["per_class"][str(j)]["f1"]) for j in range(p.shape[1])})
        return out


def _is_better(score: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    if not math.isfinite(score):
        return False
    if not math.isfinite(best):
        return True
    return score < best if mode == "min" else score > best


def fit(
    model: torch.nn.Module,
    loss_fn: Callable,
    train_ds,
    val_ds,
    cfg: TrainConfig | dict,
    checkpoint_dir: str | os.PathLike | None = None,
    run_log: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train_ds``; returns the per-epoch history and the best epoch.

    ``val_ds`` may be ``None`` (then the last epoch is kept). ``run_log(record)`` is called after
    every epoch, once ``last.pt`` is written, with that epoch's history row (train/val loss,
    ``val_auc``, ``val_accuracy``, ``lr``, ``seconds``, the loss's ``log_values()`` under
    ``loss.*``). With ``cfg.restore_best`` the model ends holding the best-on-validation weights.
    Raises :class:`NonFiniteLossError` on a NaN/Inf loss, :class:`DivergingLossError` (a subclass)
    on a diverging one (:mod:`covidnb.train.guard`), after writing ``nonfinite.json``.
    """
    from tqdm.auto import tqdm

    cfg = TrainConfig.from_dict(cfg)
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    amp = use_amp(cfg.amp, device)
    multilabel = bool(getattr(train_ds, "multilabel", False))
    show = progress_enabled(cfg.progress)
    mode = SELECTIONS[cfg.select]
    keeps_last = val_ds is None or cfg.select == "last"  # no score can keep an earlier epoch
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None

    from covidnb.train.distributed import context as dist_context

    ddp = dist_context(device)  # None unless started by torchrun (covidnb.train.distributed)
    device = ddp.device if ddp is not None else device
    main = ddp is None or ddp.is_main
    speed = resolve_speed(cfg, device)  # GPU-only settings; all off on a CPU
    apply_backend(speed)
    if speed.memory_cache:
        train_ds, val_ds = memory_cached(train_ds), val_ds and memory_cached(val_ds)
    seed_everything(cfg.seed)
    model.to(device)
    prepare_model(model, speed)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    params = _trainable_params(model, loss_fn)
    # the model DDP wraps trains; the unwrapped one evaluates and is checkpointed
    net, loss_params, local_bs = (ddp.prepare(model, params, cfg.batch_size) if ddp is not None
                                  else (model, [], cfg.batch_size))
    optimizer = _optimizer(params, cfg)
    scheduler = _scheduler(optimizer, cfg)
    step_sched = cfg.scheduler_kwargs.get("interval", "epoch") == "step"
    scaler = torch.amp.GradScaler(device.type, enabled=amp and speed.scale_loss)

    history: list[dict] = []
    best_epoch: int | None = None
    best_score: float | None = None
    best_state: dict | None = None
    start = 0
    if ckpt is not None and (ckpt / LAST).exists():
        saved = resume(ckpt, cfg, model, loss_fn, optimizer, scheduler, scaler)
        history = saved["history"]
        best_epoch, best_score, start = saved["best_epoch"], saved["best_score"], saved["epoch"]
    guard = LossGuard(history)

    mixing = cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0
    if mixing:
        from covidnb.train.mixing import mix_batch  # written separately; only needed when mixing

    n_batches = math.ceil(len(train_ds) / cfg.batch_size)
    if ddp is not None:  # every process takes the same number of steps of its share
        n_batches = ddp.steps(len(train_ds), local_bs)
    steps = min(n_batches, cfg.max_steps_per_epoch or n_batches)
    epochs_bar = tqdm(
        range(start, cfg.epochs), desc="epochs", initial=start, total=cfg.epochs, disable=not show
    )
    for epoch0 in epochs_bar:
        epoch = epoch0 + 1
        t0 = time.perf_counter()
        net.train()
        data_gen = make_generator(epoch_seed(cfg.seed, epoch, 0))
        mix_gen = make_generator(epoch_seed(cfg.seed, epoch, 1))
        sampler = _sampler(train_ds, cfg, epoch_seed(cfg.seed, epoch, 2))
        if ddp is not None:
            sampler = ddp.train_sampler(train_ds, sampler, data_gen)
        loader = _loader(
            train_ds,
            local_bs,
            cfg,
            device,
            shuffle=True,
            generator=data_gen,
            sampler=sampler,
        )
        lr = optimizer.param_groups[0]["lr"]
        loss_sum, seen = 0.0, 0
        bar = tqdm(
            itertools.islice(loader, steps),
            total=steps,
            desc=f"epoch {epoch}",
            leave=False,
            disable=not show,
        )
        for step, batch in enumerate(bar, start=1):
            x = batch_to(batch["image"].to(device, non_blocking=True), speed)
            y = batch["label"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=speed.amp_dtype, enabled=amp):
                if mixing:
                    use_cutmix = cfg.cutmix_alpha > 0 and (
                        cfg.mixup_alpha <= 0 or bool(torch.rand((), generator=mix_gen) < 0.5)
                    )
                    alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
                    x, ya, yb, lam = mix_batch(
                        x, y, alpha, mode="cutmix" if use_cutmix else "mixup", generator=mix_gen
                    )
                    out = net(x)
                    loss = lam * loss_fn(out, ya) + (1 - lam) * loss_fn(out, yb)
                else:
                    out = net(x)
                    loss = loss_fn(out, y)
            value, n_step = float(loss.detach()), x.shape[0]
            if ddp is not None:  # the whole step's mean loss, the same on every process
                value, n_step = ddp.step_loss(value, n_step)
            guard.check(epoch, step, value, history, ckpt if main else None)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if ddp is not None:
                ddp.average_grads(loss_params)
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None and step_sched:
                scheduler.step()
            loss_sum += value * n_step
            seen += n_step
            if show and step % 10 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        if scheduler is not None and not step_sched:
            scheduler.step()

        record: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "lr": lr}
        guard.end_epoch(epoch, record["train_loss"])
        if val_ds is not None:
            vshare = ddp.eval_sampler(val_ds) if ddp is not None else None
            vloader = _loader(
                val_ds, cfg.eval_batch_size or cfg.batch_size, cfg, device, shuffle=False,
                sampler=vshare,
            )
            p, yv, *_, vloss = _infer(model, vloader, device, amp, multilabel, loss_fn,
                                      speed=speed)
            if ddp is not None:
                p, yv, vloss = ddp.gather_eval(p, yv, vloss, list(vshare))
            record["val_loss"] = vloss
            record.update(_val_scores(p, yv, multilabel))
        record.update(_loss_log_values(loss_fn))
        record["seconds"] = time.perf_counter() - t0
        history.append(record)

        if not keeps_last:
            score, mode_now = record.get(cfg.select, float("nan")), mode
        else:  # "last" (or no validation split): the newest epoch is the one kept
            score, mode_now = float(epoch), "max"
        if _is_better(score, best_score, mode_now):
            best_epoch, best_score = epoch, float(score)
            if ckpt is not None and main and not keeps_last:
                save_best(ckpt, epoch, best_score, cfg.select, model, loss_fn)
            elif val_ds is not None and cfg.select != "last":
                # only a score can keep an earlier epoch; when the last one is kept the model's
                # own weights are the kept ones, and a copy per epoch (0.5 GB for VGG-16) is waste
                best_state = copy.deepcopy(
                    {k: v.detach().cpu() for k, v in model.state_dict().items()}
                )
        if ckpt is not None and main:
            save_last(ckpt, epoch, cfg, model, loss_fn, optimizer, scheduler, scaler, amp,
                      history, best_epoch, best_score)
        if ckpt is not None and ddp is not None:
            ddp.barrier()  # the others go on once rank 0's checkpoints are on disk
        epochs_bar.set_postfix(
            {k: f"{record[k]:.4f}" for k in ("train_loss", "val_loss") if k in record}
        )
        if run_log is not None and main:
            run_log(dict(record))

    if keeps_last and ckpt is not None and main and best_epoch is not None:
        # written once, at the end: every epoch would be kept in turn, and for VGG-16 each
        # best.pt is 0.5 GB (2-4 s a write on the 2-core machine, beside a 56 s epoch)
        save_best(ckpt, best_epoch, best_score, cfg.select, model, loss_fn)
    if (
        cfg.restore_best
        and best_epoch is not None
        and best_epoch != (history[-1]["epoch"] if history else None)
    ):
        if ckpt is not None and (ckpt / BEST).exists():
            load_best_weights(ckpt, model)
        elif best_state is not None:
            model.load_state_dict(best_state)
    return FitResult(
        pd.DataFrame(history), best_epoch, best_score, start, time.perf_counter() - t_start
    )


def predict(model: torch.nn.Module, ds, cfg: TrainConfig | dict | None = None) -> pd.DataFrame:
    """One row per sample: ``sample_id, patient_id, source``, the label (``label`` as the class
    index, or ``label_<name>`` 0/1 per label when multi-label), then ``p_<class>`` per class."""
    cfg = TrainConfig.from_dict(cfg or {})
    device = resolve_device(cfg.device)
    amp = use_amp(cfg.amp, device)
    multilabel = bool(getattr(ds, "multilabel", False))
    classes = list(ds.classes)
    model.to(device)
    loader = _loader(ds, cfg.eval_batch_size or cfg.batch_size, cfg, device, shuffle=False)
    p, y, ids, pids, srcs, _ = _infer(
        model,
        loader,
        device,
        amp,
        multilabel,
        progress=progress_enabled(cfg.progress),
        desc="predict",
        speed=resolve_speed(cfg, device),
    )
    if len(ids) and p.shape[1] != len(classes):
        raise ValueError(
            f"model gives {p.shape[1]} probabilities per sample but {getattr(ds, 'name', 'dataset')} "
            f"has {len(classes)} classes {classes}"
        )
    df = pd.DataFrame({"sample_id": ids, "patient_id": pids, "source": srcs})
    if multilabel:
        for j, c in enumerate(classes):
            df[f"label_{c}"] = y[:, j].astype(int) if len(ids) else []
    else:
        df["label"] = y.astype(int)
    for j, c in enumerate(classes):
        df[f"p_{c}"] = p[:, j] if len(ids) else []
    return df
