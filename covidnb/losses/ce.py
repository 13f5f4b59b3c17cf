"""Cross entropy, binary cross entropy and deep supervision (Hu et al. 2021, Eq. 1–2 and 4).

Every loss in this package is called ``loss(outputs, targets)`` with ``outputs`` exactly what the
model returned (CONTRACTS.md): a logits tensor, or a tuple ``(main, *auxiliary)``.

Deep supervision, chosen convention: a loss built from :class:`SupervisedLoss` sums itself over
*every* element of a tuple automatically — Eq. 2 of Hu et al. (``ℓ = Σ_{i=1}^{N+1} ℓ_i``, the
main output counted like the side outputs, unweighted). Build it with ``deep_supervision=False`` to
score only element 0 (the prediction) and ignore the auxiliary outputs. A tensor is scored as it
is. :class:`DeepSupervision` does the same sum around any other ``loss(logits, targets)`` module,
e.g. one from ``torch.nn``.

Shared conventions: per-sample losses are averaged over the batch (``reduction="mean"``), and a
single-logit output ``N×1`` is read as the two-class logits ``[0, z]`` by the softmax losses (their
softmax is then ``[1 − σ(z), σ(z)]``, so CE equals BCE on ``z``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.losses import LOSSES

__all__ = [
    "BCELoss",
    "CrossEntropyLoss",
    "DeepSupervision",
    "SupervisedLoss",
    "as_class_logits",
    "check_targets",
    "effective_number_weights",
]


def as_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """``N×C`` logits for a softmax loss; a single logit ``N×1`` (or ``N``) becomes ``[0, z]``."""
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.ndim != 2:
        raise ValueError(f"logits must be N×C, got shape {tuple(logits.shape)}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # losses and their tiny class weights in float32 under AMP
    if logits.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def logits_and_targets(logits, targets, num_classes: int | None = None):
    """The prelude every softmax loss shares: ``N×C`` float logits (:func:`as_class_logits`),
    integer targets on the logits' device (:func:`check_targets`), and, when the loss was built
    for ``num_classes`` (class counts or weights), a clear error if the logits disagree."""
    logits = as_class_logits(logits)
    n, c = logits.shape
    if num_classes is not None and c != num_classes:
        raise ValueError(f"class_counts has {num_classes} classes, logits have {c}")
    return logits, check_targets(targets, c, n).to(logits.device)


def check_targets(targets: torch.Tensor, num_classes: int, n: int) -> torch.Tensor:
    """Integer class targets of length ``n`` in ``[0, num_classes)``; a clear error otherwise."""
    targets = torch.as_tensor(targets)
    if targets.ndim != 1 or targets.shape[0] != n:
        raise ValueError(
            f"targets must be a vector of {n} class indices, got shape {tuple(targets.shape)}"
        )
    if targets.is_floating_point():
        if not torch.equal(targets, targets.round()):
            raise ValueError("targets must be integer class indices, got non-integer values")
        targets = targets.long()
    if n and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        raise ValueError(
            f"targets must lie in [0, {num_classes}), got min {int(targets.min())} max {int(targets.max())}"
        )
    return targets.long()


def effective_number_weights(
    beta: torch.Tensor | float, counts: torch.Tensor, *, logit: bool = False
) -> torch.Tensor:
    """Per-class weights ``(1 − β)/(1 − β^{k_n})``, the inverse effective number of samples.

    Cui et al. 2019, Eq. 3 / Hu et al. 2021, Eq. 5 and 7. With ``logit=True`` ``beta`` is the raw
    parameter and β = σ(beta); then ``1 − β = σ(−beta)`` and ``1 − β^k = −expm1(k·log σ(beta))`` are
    formed without cancellation, which matters because the weights only separate classes when β is
    within about 1/k of 1.
    """
    dtype = beta.dtype if torch.is_tensor(beta) and beta.is_floating_point() else torch.float64
    counts = torch.as_tensor(counts, dtype=dtype)
    if counts.ndim != 1 or bool((counts <= 0).any()):
        raise ValueError(
            f"class counts must be a vector of positive numbers, got {counts.tolist()}"
        )
    beta = torch.as_tensor(beta, dtype=dtype)
    if logit:
        one_minus = torch.sigmoid(-beta)
        log_b = F.logsigmoid(beta)
    else:
        if not (0 <= float(beta) < 1):
            raise ValueError(f"the effective-number factor must lie in [0, 1), got {float(beta)}")
        one_minus = 1 - beta
        log_b = torch.log(beta)  # log 0 = -inf gives weight 1: E_n = 1 when the factor is 0
    counts = counts.to(beta.device)
    return one_minus / (-torch.expm1(counts * log_b))


class SupervisedLoss(nn.Module):
    """Base class: sums :meth:`single` over a tuple of outputs (Eq. 2), or scores a tensor.

    Subclasses implement ``single(logits, targets, index)``; ``index`` is the position of the
    output in the tuple (0 = main), which SAAL uses to pick its per-output β.
    """

    def __init__(self, deep_supervision: bool = True):
        super().__init__()
        self.deep_supervision = bool(deep_supervision)

    def single(self, logits: torch.Tensor, targets: torch.Tensor, index: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, outputs, targets) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            if len(outputs) == 0:
                raise ValueError("outputs is an empty tuple")
            if not self.deep_supervision:
                return self.single(outputs[0], targets, 0)
            total = self.single(outputs[0], targets, 0)
            for i, out in enumerate(outputs[1:], start=1):
                total = total + self.single(out, targets, i)
            return total
        return self.single(outputs, targets, 0)


class DeepSupervision(nn.Module):
    """Wraps any ``base(logits, targets)`` loss: the sum of ``base`` over every output (Eq. 2)."""

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base

    def forward(self, outputs, targets) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            if len(outputs) == 0:
                raise ValueError("outputs is an empty tuple")
            return sum((self.base(o, targets) for o in outputs[1:]), self.base(outputs[0], targets))
        return self.base(outputs, targets)


@LOSSES.register("ce")
class CrossEntropyLoss(SupervisedLoss):
    """Softmax cross entropy, ``−log p_y`` averaged over the batch (Hu et al. Eq. 4).

    ``weight`` (optional, one per class) follows ``torch.nn.functional.cross_entropy``: the
    weighted sum is divided by the sum of the targets' weights. ``label_smoothing`` likewise.
    """

    def __init__(
        self,
        weight: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        deep_supervision: bool = True,
    ):
        super().__init__(deep_supervision)
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )
        self.label_smoothing = float(label_smoothing)

    def single(self, logits, targets, index):
        logits, targets = logits_and_targets(logits, targets)
        weight = None if self.weight is None else self.weight.to(logits)
        if weight is not None and weight.numel() != logits.shape[1]:
            raise ValueError(f"weight has {weight.numel()} entries for {logits.shape[1]} classes")
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=self.label_smoothing)


@LOSSES.register("bce")
class BCELoss(SupervisedLoss):
    """Binary cross entropy on a single logit per sample (``N×1`` or ``N``); integer targets 0/1.

    ``pos_weight`` as in ``torch.nn.BCEWithLogitsLoss``.
    """

    def __init__(self, pos_weight: float | None = None, deep_supervision: bool = True):
        super().__init__(deep_supervision)
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.tensor([float(pos_weight)])
        )

    def single(self, logits, targets, index):
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.ndim != 1:
            raise ValueError(
                f"bce needs one logit per sample (N×1 or N), got shape {tuple(logits.shape)}; use 'ce' for N×C"
            )
        logits = logits.float()
        targets = check_targets(targets, 2, logits.shape[0]).to(logits.device)
        pos_weight = None if self.pos_weight is None else self.pos_weight.to(logits)
        return F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), pos_weight=pos_weight
        )
