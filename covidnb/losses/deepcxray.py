"""The five multi-label losses of DeepCXray (Xu et al., IEEE Access 2018, §III-B/C, §IV-D).

Each is called ``loss(outputs, targets)``: ``outputs`` a logits tensor ``N×C`` (the 14 findings)
or the model's tuple ``(findings N×C, normal N×1)``; ``targets`` the ``N×C`` 0/1 label matrix.
With f = σ(z), a positive entry costs −ln f and a negative −ln(1 − f), each times its weight:

======================  ====================================  ====================================
loss (registry name)    weight of a positive (y = 1)           weight of a negative (y = 0)
======================  ====================================  ====================================
``deepcxray_bce`` (CEL)  1                                      1
``wcel`` (Eq. 1–3)      β_P = (|P| + |N|)/|P|                  β_N = (|P| + |N|)/|N|
``cwcel`` (Eq. 6–8)     α_N = |N|/(|P| + |N|)                  α_P = |P|/(|P| + |N|)
``cwcel_fg`` (Eq. 9–11) α_N^c = N_c/(N_c + P_c)                α_P^c = P_c/(N_c + P_c)
======================  ====================================  ====================================

``deepcxray_mse`` is (f − y)². Counts are taken in the batch: |P|, |N| the ones and zeros of
the whole label matrix (Eq. 2–3 as written), P_c, N_c those of column c (Eq. 10–11). W-CEL also
takes ``counting="finding"``, the per-finding reading of |P| and |N|.

Choices stated (the paper gives none of them):

- **Reduction.** Eq. 1 is the loss of one image, a sum over its labels; a batch's loss is the
  mean over its images, for all five losses alike.
- **The auxiliary "normal" output** (§III-A, "15 outputs", §IV) with ``aux="joint"`` (default) is
  one more sigmoid column: its target (1 when all 14 findings are 0) is appended to the label
  matrix and the same loss, with the same counting, runs over the 15 columns — so it counts
  toward |P| and |N|, which makes the batch-wide W-CEL weight finite in every batch.
  ``aux="separate"`` scores the 14 findings with the loss and adds ``aux_weight`` × the plain
  BCE of the normal output; ``aux="ignore"`` scores the findings only.
- **W-CEL's infinity.** A batch with |P| = 0 gives β_P = ∞; the loss is computed entry-wise
  (y · β_P · (−ln f) + …), as weighted-cross-entropy implementations do, so the empty positive
  term is ∞ · 0 = NaN: the training guard (:mod:`covidnb.train.guard`) stops the run and the run
  record stores the failure. ``infinite_batches`` / ``batches`` count how often it happened
  (also in ``log_values()``, hence in the run's history).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.losses import LOSSES

AUX_MODES = ("joint", "separate", "ignore")
COUNTINGS = ("batch", "finding")


def split_outputs(outputs) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(findings logits N×C, normal logit N or None)`` from a tensor or a model's tuple."""
    if isinstance(outputs, (tuple, list)):
        if len(outputs) != 2:
            raise ValueError(f"expected (findings, normal) outputs, got a tuple of {len(outputs)}")
        findings, normal = outputs
        return findings, normal.reshape(-1)
    return outputs, None


def check_label_matrix(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Float 0/1 targets of the logits' shape (``N×C``); a clear error otherwise."""
    targets = torch.as_tensor(targets).to(logits.device)
    if logits.ndim != 2 or targets.shape != logits.shape:
        raise ValueError(f"multi-label loss needs N×C logits and targets of the same shape, got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    targets = targets.to(logits.dtype)
    if not bool(((targets == 0) | (targets == 1)).all()):
        raise ValueError("multi-label targets must be 0 or 1")
    return targets


class MultiLabelLoss(nn.Module):
    """Base: the auxiliary output, the reduction and the positive/negative terms; subclasses
    give the weights of one batch (:meth:`weights`)."""

    def __init__(self, aux: str = "joint", aux_weight: float = 1.0):
        super().__init__()
        if aux not in AUX_MODES:
            raise ValueError(f"aux must be one of {AUX_MODES}, got {aux!r}")
        self.aux, self.aux_weight = aux, float(aux_weight)

    def weights(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w_pos, w_neg)``, each broadcastable to ``y`` (N×C)."""
        one = y.new_ones(())
        return one, one

    def entries(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The weighted cost of every entry (N×C)."""
        w_pos, w_neg = self.weights(y)
        return y * w_pos * F.softplus(-z) + (1 - y) * w_neg * F.softplus(z)  # −ln σ(z), −ln(1 − σ(z))

    def forward(self, outputs, targets) -> torch.Tensor:
        z, normal = split_outputs(outputs)
        z = z.float()
        y = check_label_matrix(z, targets)
        extra = None
        if normal is not None and self.aux != "ignore":
            y_normal = (y.sum(dim=1) == 0).to(z.dtype)
            if self.aux == "joint":
                z, y = torch.cat([z, normal.float()[:, None]], 1), torch.cat([y, y_normal[:, None]], 1)
            else:
                extra = self.aux_weight * F.binary_cross_entropy_with_logits(normal.float(), y_normal)
        loss = self.entries(z, y).sum(dim=1).mean()
        return loss if extra is None else loss + extra


@LOSSES.register("deepcxray_mse")
class MultiLabelMSE(MultiLabelLoss):
    """MSE of §IV-D / Table 2: Σ_c (σ(z_c) − y_c)² per image."""

    def entries(self, z, y):
        return (torch.sigmoid(z) - y) ** 2


@LOSSES.register("deepcxray_bce")
class MultiLabelBCE(MultiLabelLoss):
    """CEL of Table 2: unweighted binary cross entropy, Σ_c −y ln f − (1 − y) ln(1 − f) per image."""


@LOSSES.register("wcel")
class WCEL(MultiLabelLoss):
    """W-CEL (Wang et al. 2017, as Eq. 1–3 of Xu et al. write it): positives × β_P, negatives × β_N.

    ``counting="batch"``: |P|, |N| are the ones and zeros of the whole batch label matrix;
    ``"finding"``: per column (β_P^c = B/P_c). A zero count makes the weight ∞ and the loss NaN
    (module docstring); :attr:`infinite_batches` counts those batches.
    """

    def __init__(self, counting: str = "batch", **kw):
        super().__init__(**kw)
        if counting not in COUNTINGS:
            raise ValueError(f"counting must be one of {COUNTINGS}, got {counting!r}")
        self.counting = counting
        self.batches = 0
        self.infinite_batches = 0

    def weights(self, y):
        dims = (0, 1) if self.counting == "batch" else (0,)
        p = y.sum(dim=dims)
        total = y.new_tensor(float(y.shape[0] * (y.shape[1] if self.counting == "batch" else 1)))
        n = total - p
        beta_p, beta_n = total / p, total / n  # a zero count gives inf, as Eq. 2–3 do
        self.batches += 1
        self.infinite_batches += int(bool(torch.isinf(beta_p).any() or torch.isinf(beta_n).any()))
        return beta_p, beta_n

    def log_values(self) -> dict[str, float]:
        return {"wcel_infinite_batches": float(self.infinite_batches), "wcel_batches": float(self.batches)}


@LOSSES.register("cwcel")
class CWCEL(MultiLabelLoss):
    """CW-CEL (Eq. 6–8): positives × α_N = |N|/(|P|+|N|), negatives × α_P = |P|/(|P|+|N|), with
    |P|, |N| the ones and zeros of the whole batch label matrix; both weights lie in [0, 1]."""

    def weights(self, y):
        total = float(y.numel())
        p = y.sum()
        return (total - p) / total, p / total


@LOSSES.register("cwcel_fg")
class FineGrainedCWCEL(MultiLabelLoss):
    """Fine-grained CW-CEL (Eq. 9–11): the weights of CW-CEL per finding c, from the ones P_c and
    zeros N_c of column c in the batch."""

    def weights(self, y):
        p = y.sum(dim=0)
        total = float(y.shape[0])
        return (total - p) / total, p / total
