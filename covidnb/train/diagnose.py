"""Can this model and recipe learn at all? Two checks to run before a long re-run.

* :func:`lr_range_test` — the learning-rate range test of Smith (2017, *Cyclical Learning Rates
  for Training Neural Networks*, WACV, §3.3), through the maintained ``torch-lr-finder``: the
  learning rate grows exponentially over a few hundred steps while the smoothed training loss is
  recorded. A usable rate lies where the loss falls fastest, well below where it blows up.
* :func:`overfit_subset` — train on a handful of real images with no augmentation and no mixing;
  a model that cannot drive its training loss towards zero on 16 images will not learn from 425
  either, whatever the schedule (Karpathy's "overfit one batch" check).

Both take the library's dict samples (``image``, ``label``) and a loss called as
``loss(outputs, labels)``, so they work for every chapter's model and loss unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Subset

from covidnb.train.loop import probabilities


def _batches(ds, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, drop_last=shuffle)


@dataclass
class RangeTest:
    """``curve``: ``lr`` and smoothed ``loss`` per step; ``steepest``: the rate where the loss
    fell fastest; ``minimum``: the rate of the lowest loss; ``suggested``: ``min(steepest,
    minimum / 10)``, the usual reading (a tenth of the rate at the minimum, never past the
    steepest descent)."""

    curve: pd.DataFrame
    steepest: float
    minimum: float

    @property
    def suggested(self) -> float:
        return min(self.steepest, self.minimum / 10)


def lr_range_test(model: torch.nn.Module, loss_fn: torch.nn.Module, train_ds, *,
                  optimizer: str = "adam", start_lr: float = 1e-6, end_lr: float = 1.0,
                  num_iter: int = 100, batch_size: int = 16, momentum: float = 0.9,
                  seed: int = 0, skip_start: int = 5) -> RangeTest:
    """Smith's range test on ``train_ds``; the model's weights are restored afterwards."""
    from torch_lr_finder import LRFinder, TrainDataLoaderIter

    class _Iter(TrainDataLoaderIter):
        def inputs_labels_from_batch(self, batch):
            return batch["image"], batch["label"]

    params = list(model.parameters()) + list(loss_fn.parameters())
    opt = (torch.optim.SGD(params, lr=start_lr, momentum=momentum) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=start_lr))
    torch.manual_seed(seed)
    finder = LRFinder(model, opt, loss_fn, device="cpu")
    try:
        finder.range_test(_Iter(_batches(train_ds, batch_size, True, seed)), end_lr=end_lr,
                          num_iter=num_iter, step_mode="exp")
    finally:
        curve = pd.DataFrame(finder.history)
        finder.reset()
    if len(curve) <= skip_start + 2:
        raise RuntimeError(f"lr_range_test: the loss diverged after {len(curve)} steps, before "
                           f"a curve could be read; lower start_lr (now {start_lr:g})")
    body = curve.iloc[skip_start:]
    loss, lr = body["loss"].to_numpy(), body["lr"].to_numpy()
    low = int(loss.argmin())
    # the steepest fall is looked for only up to the minimum: past it the loss is diverging
    grad = np.gradient(loss[: low + 1], np.log10(lr[: low + 1])) if low >= 2 else np.zeros(1)
    return RangeTest(curve, steepest=float(lr[int(np.argmin(grad))]), minimum=float(lr[low]))


def overfit_subset(model: torch.nn.Module, loss_fn: torch.nn.Module, ds, *, n: int = 16,
                   steps: int = 100, lr: float = 1e-3, seed: int = 0,
                   multilabel: bool = False) -> pd.DataFrame:
    """Train on the first ``n`` samples of each class (balanced, fixed) for ``steps`` full-batch
    Adam steps; one row per step: ``step``, ``loss``, ``accuracy`` on those same samples."""
    targets = np.asarray(ds.targets)
    per_class = max(1, n // len(ds.classes))
    idx = [int(i) for c in range(len(ds.classes)) for i in np.flatnonzero(targets == c)[:per_class]]
    batch = next(iter(_batches(Subset(ds, idx), len(idx), False, seed)))
    x, y = batch["image"], batch["label"]
    torch.manual_seed(seed)
    opt = torch.optim.Adam(list(model.parameters()) + list(loss_fn.parameters()), lr=lr)
    model.train()
    rows = []
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = loss_fn(out, y)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"overfit_subset: loss {loss.item()} at step {step}")
        loss.backward()
        opt.step()
        main = out[0] if isinstance(out, tuple) else out
        p = probabilities(main.detach(), multilabel)
        pred = (p[:, -1] >= 0.5).long() if p.shape[1] <= 2 else p.argmax(1)
        rows.append({"step": step, "loss": loss.item(),
                     "accuracy": float((pred == y).float().mean())})
    return pd.DataFrame(rows)
