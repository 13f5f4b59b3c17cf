"""Focal loss (Lin et al. 2017, "Focal loss for dense object detection", Eq. 5).

``FL(p_t) = −α_t (1 − p_t)^γ log p_t``, averaged over the batch; γ = 0 and no α give cross entropy.
Multi-class logits use the softmax probability of the target class as ``p_t``; a single logit
(``N×1``) uses the sigmoid, as in the paper's binary form. Table 5 of Hu et al. gives no γ or α:
the default γ = 2 is Lin et al.'s choice.

``alpha`` and ``alpha_convention`` say how α weights the classes:

* ``alpha=None``: no weighting (every α_t = 1).
* a list: one weight per class.
* a float with ``alpha_convention="positive"`` (the default, Lin et al.'s and torchvision's binary
  convention): α for the positive class, 1 − α for the negative one; two classes only. Here
  α = 1 (or 0) would give one class zero weight, so it is refused with a message.
* a float with ``alpha_convention="uniform"``: the same α for every class — the form
  ``−α(1 − p_t)^γ log p_t`` as Zhang & Zhang (§3.4) print it, where α = 1 means no class
  weighting, on any number of classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from covidnb.losses import LOSSES
from covidnb.losses.ce import SupervisedLoss, logits_and_targets

ALPHA_CONVENTIONS = ("positive", "uniform")


@LOSSES.register("focal")
class FocalLoss(SupervisedLoss):
    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        deep_supervision: bool = True,
        alpha_convention: str = "positive",
    ):
        super().__init__(deep_supervision)
        if gamma < 0:
            raise ValueError(f"focal loss needs gamma >= 0, got {gamma}")
        if alpha_convention not in ALPHA_CONVENTIONS:
            raise ValueError(f"alpha_convention must be one of {ALPHA_CONVENTIONS}, got {alpha_convention!r}")
        self.gamma = float(gamma)
        self.alpha_convention = alpha_convention
        self.uniform_alpha: float | None = None
        if alpha is None:
            alpha_t = None
        elif isinstance(alpha, (int, float)):
            if alpha_convention == "uniform":
                if not alpha > 0:
                    raise ValueError(f"a uniform alpha must be > 0, got {alpha}")
                self.uniform_alpha, alpha_t = float(alpha), None
            else:
                if not 0 < alpha < 1:
                    raise ValueError(
                        f"focal loss: scalar alpha={alpha} in the 'positive' convention weights the "
                        f"positive class by alpha and the negative by 1 - alpha, so {alpha} would give "
                        "one class zero weight; for 'no class weighting' (alpha = 1 as a paper may "
                        "print it) pass alpha=None or alpha_convention='uniform'")
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
                hint = (" (a scalar alpha is the binary 'positive' convention; for one alpha on "
                        "every class pass alpha_convention='uniform')"
                        if self.alpha.numel() == 2 and self.alpha_convention == "positive" else "")
                raise ValueError(f"alpha has {self.alpha.numel()} entries for {c} classes{hint}")
            loss = self.alpha.to(logits)[targets] * loss
        if self.uniform_alpha is not None:
            loss = self.uniform_alpha * loss
        return loss.mean()
