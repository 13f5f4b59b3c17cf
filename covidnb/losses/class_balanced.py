"""Class-balanced softmax cross entropy (Cui et al. 2019, "Class-balanced loss based on effective
number of samples", Eq. 3–5).

Class n with k_n training samples gets weight ``w_n = (1 − β)/(1 − β^{k_n})`` (the inverse of its
effective number of samples), scaled so the weights sum to the number of classes C, as Cui et al.
do. A sample of class y contributes ``w_y · (−log p_y)``.

Normalisation, chosen and stated: ``normalize="batch"`` (default) divides the weighted sum by the
batch size, as Cui et al.'s official code does (its ``tf.losses`` reduction counts the non-zero
per-sample weights, i.e. every sample). ``normalize="weights"`` divides by the sum of the batch's
weights ``Σ_i w_{y_i}``, which is what ``torch.nn.functional.cross_entropy(weight=w)`` computes.
The two differ by the factor ``N / Σ_i w_{y_i}`` — a batch-dependent rescaling of the learning rate.
Hu et al. (Table 5) give no β; the default 0.9999 is one of Cui et al.'s values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F

from covidnb.losses import LOSSES
from covidnb.losses.ce import (
    SupervisedLoss,
    effective_number_weights,
    logits_and_targets,
)

NORMALIZATIONS = ("batch", "weights")


@LOSSES.register("class_balanced")
class ClassBalancedLoss(SupervisedLoss):
    def __init__(
        self,
        class_counts: Sequence[int],
        beta: float = 0.9999,
        normalize: str = "batch",
        deep_supervision: bool = True,
    ):
        super().__init__(deep_supervision)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        w = effective_number_weights(float(beta), class_counts)
        w = w / w.sum() * w.numel()  # Cui et al.: weights sum to C
        self.beta = float(beta)
        self.normalize = normalize
        self.register_buffer("class_weights", w.float())

    def single(self, logits, targets, index):
        logits, targets = logits_and_targets(logits, targets, self.class_weights.numel())
        w = self.class_weights.to(logits)
        per_sample = F.cross_entropy(logits, targets, reduction="none") * w[targets]
        denom = per_sample.new_tensor(float(len(targets))) if self.normalize == "batch" else w[targets].sum()
        return per_sample.sum() / denom
