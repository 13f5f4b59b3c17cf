"""Symmetric cross entropy (Wang et al. 2019, "Symmetric cross entropy for robust learning with
noisy labels", Eq. 5–7), and the reverse cross entropy it adds (Hu et al. 2021, Eq. 8).

``ℓ_SL = α·ℓ_CE + β·ℓ_RCE`` with ``ℓ_RCE = −Σ_n p(n|x) log q(n|x)``: the prediction p plays the
label and the one-hot label q the prediction. ``log 0`` is replaced by a constant ``A < 0``
(``log_zero``), so for a one-hot label ``ℓ_RCE = −A·(1 − p_y)``. Wang et al. state A = −4 (the
default here); their official code instead clamps the one-hot label at 1e-4, i.e.
A = log 1e-4 ≈ −9.21 — pass ``log_zero=math.log(1e-4)`` to follow the code. Defaults α = 0.1,
β = 1.0 are Wang et al.'s CIFAR-10 values; Hu et al. (Table 5) give none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from covidnb.losses import LOSSES
from covidnb.losses.ce import SupervisedLoss, logits_and_targets


def reverse_cross_entropy(
    probs: torch.Tensor, targets: torch.Tensor, log_zero: float
) -> torch.Tensor:
    """Per-class terms ``−p_n · log q_n`` (N×C) for one-hot ``q`` with ``log 0 := log_zero``.

    Returned per class so a caller can weight each class before summing (Hu et al. Eq. 9).
    """
    log_q = torch.full_like(probs, float(log_zero))
    log_q.scatter_(1, targets[:, None], 0.0)  # log q_y = log 1 = 0
    return -probs * log_q


@LOSSES.register("symmetric_ce")
class SymmetricCrossEntropyLoss(SupervisedLoss):
    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 1.0,
        log_zero: float = -4.0,
        deep_supervision: bool = True,
    ):
        super().__init__(deep_supervision)
        if log_zero >= 0:
            raise ValueError(f"log_zero (A) must be negative, got {log_zero}")
        self.alpha, self.beta, self.log_zero = float(alpha), float(beta), float(log_zero)

    def single(self, logits, targets, index):
        logits, targets = logits_and_targets(logits, targets)
        ce = F.cross_entropy(logits, targets)
        rce = reverse_cross_entropy(logits.softmax(dim=1), targets, self.log_zero).sum(dim=1).mean()
        return self.alpha * ce + self.beta * rce
