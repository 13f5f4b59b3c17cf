"""The attention loss of Ouyang et al., IEEE TMI 39(8) 2020 (§III-D, Eq. 3–4).

``L_ex = Σ (T(A) − M)² / (Σ T(A) + Σ M)`` (Eq. 3) with ``T(A)`` the trimmed attention map and
``M`` the infection mask, both at the input size; ``L_total = L_c + λ L_ex`` (Eq. 4), λ = 0.5,
``L_c`` the binary cross entropy; ``L_ex`` on COVID-19 cases only ("for the CAP cases, only the
classification loss L_c is used").

Readings (the paper does not say): the sums run over the voxels of one volume, and ``L_ex`` is
the mean over the batch's COVID-19 cases (``reduction="covid_mean"``; ``"batch_mean"`` divides
by the batch size instead, so a batch with few COVID-19 cases weighs the term less). A batch
without COVID-19 cases adds nothing. A volume with ``ΣT + ΣM = 0`` (an empty mask and no
attention) has ``L_ex = 0``: T equals M there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.losses import LOSSES

__all__ = ["AttentionBCELoss", "attention_loss"]

LAMBDA = 0.5  # Eq. 4


def attention_loss(t: torch.Tensor, m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 3 per volume: ``N`` values of ``Σ(T − M)² / (ΣT + ΣM)`` over each volume's voxels."""
    if t.shape != m.shape:
        raise ValueError(f"attention map {tuple(t.shape)} and mask {tuple(m.shape)} differ in shape")
    t, m = t.flatten(1).float(), m.flatten(1).float()
    num = ((t - m) ** 2).sum(dim=1)
    den = t.sum(dim=1) + m.sum(dim=1)
    return torch.where(den > eps, num / den.clamp_min(eps), torch.zeros_like(num))


@LOSSES.register("bce_attention")
class AttentionBCELoss(nn.Module):
    """``L_c + λ L_ex`` (Eq. 4) on ``(logits, T(A), M)`` outputs; a plain logits tensor (the RN34
    baseline) gets ``L_c`` alone. ``positive``: the class index of COVID-19 (1 in
    ``("CAP", "COVID-19")``)."""

    def __init__(self, lam: float = LAMBDA, positive: int = 1, reduction: str = "covid_mean"):
        super().__init__()
        if reduction not in ("covid_mean", "batch_mean"):
            raise ValueError(f"reduction must be 'covid_mean' or 'batch_mean', got {reduction!r}")
        self.lam, self.positive, self.reduction = float(lam), int(positive), reduction
        self.last_terms: dict[str, float] = {}

    def forward(self, outputs, targets: torch.Tensor) -> torch.Tensor:
        logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        y = torch.as_tensor(targets, device=logits.device)
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.ndim != 1 or y.shape != logits.shape:
            raise ValueError(f"bce_attention needs N×1 logits and N labels, got {tuple(logits.shape)} "
                             f"and {tuple(y.shape)}")
        is_pos = y.long() == self.positive
        l_c = F.binary_cross_entropy_with_logits(logits.float(), is_pos.float())
        if not isinstance(outputs, (tuple, list)) or len(outputs) < 3:
            self.last_terms = {"l_c": float(l_c.detach())}
            return l_c
        t, m = outputs[1], outputs[2]
        per = attention_loss(t, m)
        n = is_pos.sum() if self.reduction == "covid_mean" else torch.tensor(len(per))
        l_ex = (per * is_pos).sum() / n.clamp_min(1)
        self.last_terms = {"l_c": float(l_c.detach()), "l_ex": float(l_ex.detach())}
        return l_c + self.lam * l_ex

    def log_values(self) -> dict[str, float]:
        """The last batch's terms, logged per epoch by the training loop (``loss.l_c``, ``loss.l_ex``)."""
        return dict(self.last_terms)
