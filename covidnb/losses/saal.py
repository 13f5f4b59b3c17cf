"""Self-adaptive auxiliary loss, SAAL (Hu et al. 2021, §3.3–3.4, Eq. 5–10, Algorithm 1).

For one output with softmax ``p`` and one-hot label ``q`` (class y)::

    ℓ_SAAL = −Σ_n w_n q_n log p_n  −  β Σ_n w_n p_n log q_n,     w_n = (1 − α)/(1 − α^{k_n})   (Eq. 10)

``k_n`` is the training count of class n, ``log 0 := A < 0`` (``log_zero``; Hu et al. give no
value, −4 is the symmetric-CE paper's). α is one learnable scalar shared by all outputs, β one
learnable scalar per output (six for DSN: main + five sides); both are stored raw and used through
a sigmoid (§3.4), initialised at random (Algorithm 1, line 3) unless ``alpha_init`` /
``beta_init`` give their post-sigmoid starting values. The loss is averaged over the batch and
summed over the outputs of a tuple (Eq. 2). Eq. 10 does not normalise the weights (Cui et al. scale
them to sum to C): ``normalize_weights=True`` does.

Reverse-CE weighting, chosen and stated: ``rce_weighting="per_class"`` (default) reads Eq. 9
literally — inside the reverse-CE sum each wrong class n is weighted by its own ``w_n``, giving
``−A Σ_{n≠y} w_n p_n``. ``"label"`` weights the whole reverse CE by the label's weight, as a
per-sample re-weighting would: ``−A w_y (1 − p_y)``.

What plain gradient descent does to α and β: both terms are non-negative and each ``w_n`` falls
as α rises (from 1 − α at α far from 1 towards 1/k_n as α → 1), so every step moves σ(α) up and
σ(β_i) down — the loss is lowered by shrinking its own weights, not by fitting the data. The
weights also only differ between classes once ``1 − σ(α)`` is about ``1/k_n`` or smaller; at a
random start (σ(α) ≈ 0.5) every class gets ≈ 1 − σ(α). :meth:`log_values` returns the current
values so a training loop can record their trajectories. The parameters must reach the
optimiser: ``optimizer = SGD([*model.parameters(), *loss.parameters()], …)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from covidnb.losses import LOSSES
from covidnb.losses.ce import (
    SupervisedLoss,
    effective_number_weights,
    logits_and_targets,
)
from covidnb.losses.symmetric_ce import reverse_cross_entropy

RCE_WEIGHTINGS = ("per_class", "label")


def _raw(value: float | None, name: str) -> torch.Tensor | None:
    if value is None:
        return None
    if not 0 < value < 1:
        raise ValueError(f"{name} is a post-sigmoid value and must lie in (0, 1), got {value}")
    return torch.logit(torch.tensor(float(value), dtype=torch.float64)).float()


def output_names(num_outputs: int) -> list[str]:
    """``main`` for element 0 of the model's tuple, then ``side1`` … (DSN's side outputs)."""
    return ["main"] + [f"side{i}" for i in range(1, num_outputs)]


@LOSSES.register("saal")
class SelfAdaptiveAuxiliaryLoss(SupervisedLoss):
    def __init__(
        self,
        class_counts: Sequence[int],
        num_outputs: int = 6,
        log_zero: float = -4.0,
        rce_weighting: str = "per_class",
        normalize_weights: bool = False,
        alpha_init: float | None = None,
        beta_init: float | None = None,
        init_seed: int | None = None,
        deep_supervision: bool = True,
    ):
        super().__init__(deep_supervision)
        counts = torch.as_tensor(list(class_counts), dtype=torch.float32)
        if counts.ndim != 1 or counts.numel() < 2 or bool((counts <= 0).any()):
            raise ValueError(
                f"saal needs a positive training count for every class, got {list(class_counts)}"
            )
        if rce_weighting not in RCE_WEIGHTINGS:
            raise ValueError(
                f"rce_weighting must be one of {RCE_WEIGHTINGS}, got {rce_weighting!r}"
            )
        if log_zero >= 0:
            raise ValueError(f"log_zero (A) must be negative, got {log_zero}")
        if num_outputs < 1:
            raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
        self.register_buffer("class_counts", counts)
        self.log_zero = float(log_zero)
        self.rce_weighting = rce_weighting
        self.normalize_weights = bool(normalize_weights)
        self.num_outputs = int(num_outputs)
        gen = None if init_seed is None else torch.Generator().manual_seed(int(init_seed))
        # Algorithm 1, line 3: random initialisation of the raw α and β_1…β_6
        alpha = torch.randn((), generator=gen)
        beta = torch.randn(num_outputs, generator=gen)
        if alpha_init is not None:
            alpha = _raw(alpha_init, "alpha_init")
        if beta_init is not None:
            beta = _raw(beta_init, "beta_init").expand(num_outputs).clone()
        self.alpha = nn.Parameter(alpha)
        self.beta = nn.Parameter(beta)

    def class_weights(self) -> torch.Tensor:
        """Current ``w_n = (1 − σ(α))/(1 − σ(α)^{k_n})`` (Eq. 7), optionally scaled to sum to C."""
        w = effective_number_weights(self.alpha, self.class_counts.to(self.alpha), logit=True)
        if self.normalize_weights:
            w = w / w.sum() * w.numel()
        return w

    def single(self, logits, targets, index):
        if index >= self.num_outputs:
            raise ValueError(
                f"saal was built for {self.num_outputs} outputs (one β each) but got output #{index}; "
                f"set num_outputs to the length of the model's output tuple"
            )
        logits, targets = logits_and_targets(logits, targets, self.class_counts.numel())
        w = self.class_weights().to(logits)
        dce = w[targets] * F.cross_entropy(logits, targets, reduction="none")  # Eq. 7
        rce = reverse_cross_entropy(logits.softmax(dim=1), targets, self.log_zero)  # N×C, Eq. 8
        if self.rce_weighting == "per_class":
            drce = (rce * w[None, :]).sum(dim=1)  # Eq. 9 as printed
        else:
            drce = w[targets] * rce.sum(dim=1)
        beta = torch.sigmoid(self.beta[index]).to(logits)
        return (dce + beta * drce).mean()

    @torch.no_grad()
    def log_values(self) -> dict[str, float]:
        """Current σ(α), σ(β_i) per output (``beta_main``, ``beta_side1`` …) and the weights ``w_<n>``."""
        values = {"alpha": float(torch.sigmoid(self.alpha))}
        for name, b in zip(output_names(self.num_outputs), torch.sigmoid(self.beta).tolist()):
            values[f"beta_{name}"] = float(b)
        for i, w in enumerate(self.class_weights().tolist()):
            values[f"w_{i}"] = float(w)
        return values
