"""Focal loss (Lin et al. 2017, "Focal loss for dense object detection", Eq. 5).

``FL(p_t) = −α_t (1 − p_t)^γ log p_t``, averaged over the batch; γ = 0 and no α give cross entropy.
Multi-class logits use the softmax probability of the target class as ``p_t``; a single logit
(``N×1``) uses the sigmoid, as in the paper's binary form. ``alpha``: ``None`` (no weighting), a
float α for the positive class of a binary task (the negative class gets 1 − α, as Lin et al.
define α_t), or one weight per class. Table 5 of Hu et al. gives no γ or α: the default γ = 2
is Lin et al.'s choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from covidnb.losses import LOSSES
from covidnb.losses.ce import SupervisedLoss, logits_and_targets


@LOSSES.register("focal")
class FocalLoss(SupervisedLoss):
    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        deep_supervision: bool = True,
    ):
        super().__init__(deep_supervision)
        if gamma < 0:
            raise ValueError(f"focal loss needs gamma >= 0, got {gamma}")
        self.gamma = float(gamma)
        if alpha is None:
            alpha_t = None
        elif isinstance(alpha, (int, float)):
            if not 0 <= alpha <= 1:
                raise ValueError(f"a scalar alpha must lie in [0, 1], got {alpha}")
            alpha_t = torch.tensor([1 - float(alpha), float(alpha)])
        else:
            alpha_t = torch.as_tensor(alpha, dtype=torch.float32)
        self.register_buffer("alpha", alpha_t)

    def single(self, logits, targets, index):
        # N×1 logits become [0, z]: softmax = sigmoid, the binary focal loss
        logits, targets = logits_and_targets(logits, targets)
        log_pt = F.log_softmax(logits, dim=1).gather(1, targets[:, None])[:, 0]
        pt = log_pt.exp()
        loss = -((1 - pt) ** self.gamma) * log_pt
        if self.alpha is not None:
            c = logits.shape[1]
            if self.alpha.numel() != c:
                raise ValueError(f"alpha has {self.alpha.numel()} entries for {c} classes")
            loss = self.alpha.to(logits)[targets] * loss
        return loss.mean()
