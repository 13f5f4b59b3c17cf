"""Stopping a run whose training loss cannot be right: non-finite, or diverging.

The rule (:class:`LossGuard`): a training step fails the run when its loss is NaN or ±Inf, or when
it exceeds ``DIVERGENCE_FACTOR`` (10⁶) times the reference loss, where the reference is the mean
training loss of the first epoch (during the first epoch: the first step's loss), floored at 1 so
that a loss starting near 0 does not make every later value "diverging". A loss that grows a
millionfold has left any useful region (CE of 10⁶ means logits of order 10⁶) even when it has
not yet overflowed; a run stored with it would show chance-level metrics as a result.

Either way :class:`NonFiniteLossError` (or its subclass :class:`DivergingLossError`) is raised
after its ``reason`` (epoch, step, value, and for a divergence the reference and the rule) is
written to ``nonfinite.json`` in the checkpoint folder, and the run store records the failure
with that reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

NONFINITE = "nonfinite.json"
DIVERGENCE_FACTOR = 1e6
REFERENCE_FLOOR = 1.0


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf; ``epoch``, ``step``, ``value`` say where."""

    def __init__(self, epoch: int, step: int, value: float, history: list[dict] | None = None):
        self.epoch, self.step, self.value = epoch, step, value
        self.history = history or []
        super().__init__(self._message())

    def _message(self) -> str:
        return f"non-finite training loss {self.value} at epoch {self.epoch}, step {self.step}"

    @property
    def reason(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "epoch": self.epoch,
            "step": self.step,
            "value": str(self.value),
        }


class DivergingLossError(NonFiniteLossError):
    """The training loss grew past ``DIVERGENCE_FACTOR`` × the reference loss (see the module)."""

    def __init__(self, epoch: int, step: int, value: float, reference: float,
                 history: list[dict] | None = None):
        self.reference = reference
        super().__init__(epoch, step, value, history)

    def _message(self) -> str:
        return (f"diverging training loss {self.value:.4g} at epoch {self.epoch}, step {self.step}: "
                f"over {DIVERGENCE_FACTOR:g} × the reference loss {self.reference:.4g} "
                "(the first epoch's mean training loss)")

    @property
    def reason(self) -> dict[str, Any]:
        return {**super().reason, "reference": self.reference,
                "rule": f"loss > {DIVERGENCE_FACTOR:g} × max(first epoch's mean loss, "
                        f"{REFERENCE_FLOOR:g})"}


class LossGuard:
    """Checks every step's loss; ``history`` (resumed runs) supplies the first epoch's mean."""

    def __init__(self, history: list[dict] | None = None, factor: float = DIVERGENCE_FACTOR):
        self.factor = factor
        first = (history or [{}])[0].get("train_loss")
        self.reference = float(first) if first is not None and math.isfinite(first) else None

    def end_epoch(self, epoch: int, mean_loss: float) -> None:
        if epoch == 1 and math.isfinite(mean_loss):
            self.reference = float(mean_loss)

    def check(self, epoch: int, step: int, value: float, history: list[dict],
              ckpt: Path | None) -> None:
        err: NonFiniteLossError | None = None
        if not math.isfinite(value):
            err = NonFiniteLossError(epoch, step, value, history)
        else:
            if self.reference is None:  # the first step of a run: its loss is the reference
                self.reference = value
            limit = self.factor * max(abs(self.reference), REFERENCE_FLOOR)
            if abs(value) > limit:
                err = DivergingLossError(epoch, step, value, self.reference, history)
        if err is None:
            return
        if ckpt is not None:
            from covidnb.runs.atomic import atomic_write_json

            atomic_write_json(ckpt / NONFINITE, err.reason)
        raise err
