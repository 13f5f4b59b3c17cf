"""The focal loss's α conventions (covidnb.losses.focal): the paper's "α = 1, γ = 1" on three
classes (Zhang & Zhang §3.4) without the binary-convention trap, and dsn_saal's configuration
unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from covidnb.losses import build_loss
from covidnb.profiles import load_profile

Z = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]]
Y = [0, 2, 1]


def hand_focal(gamma, alpha=1.0):
    total = 0.0
    for z, y in zip(Z, Y):
        p = math.exp(z[y]) / sum(math.exp(v) for v in z)
        total += -alpha * (1 - p) ** gamma * math.log(p)
    return total / len(Z)


def value(loss):
    return loss(torch.tensor(Z, dtype=torch.float64), torch.tensor(Y)).item()


def test_paper_alpha_one_gamma_one_on_three_classes():
    loss = build_loss("focal", gamma=1.0, alpha=1.0, alpha_convention="uniform")
    assert value(loss) == pytest.approx(hand_focal(1.0), rel=1e-12)
    assert value(loss) == pytest.approx(value(build_loss("focal", gamma=1.0)), rel=1e-12)


def test_uniform_alpha_scales_every_class():
    loss = build_loss("focal", gamma=1.0, alpha=0.25, alpha_convention="uniform")
    assert value(loss) == pytest.approx(hand_focal(1.0, 0.25), rel=1e-12)


def test_the_binary_convention_trap_is_refused_with_a_way_out():
    with pytest.raises(ValueError, match="zero weight.*uniform"):
        build_loss("focal", gamma=1.0, alpha=1.0)
    with pytest.raises(ValueError, match="zero weight"):
        build_loss("focal", alpha=0.0)
    with pytest.raises(ValueError, match="2 entries for 3 classes.*uniform"):
        value(build_loss("focal", gamma=1.0, alpha=0.25))
    with pytest.raises(ValueError, match="alpha_convention"):
        build_loss("focal", alpha=0.5, alpha_convention="torchvision")


def test_dsn_saal_focal_configuration_gives_the_same_values():
    kwargs = load_profile("dsn_saal", "smoke")["loss_kwargs"]["focal"]
    assert kwargs == {"gamma": 2.0}
    z2 = torch.tensor([[0.3, -0.2], [1.5, 0.1], [-0.7, 0.9]], dtype=torch.float64)
    y2 = torch.tensor([1, 0, 1])
    got = build_loss("focal", **kwargs)(z2, y2).item()
    hand = 0.0
    for z, y in zip(z2.tolist(), y2.tolist()):
        p = math.exp(z[y]) / sum(math.exp(v) for v in z)
        hand += -(1 - p) ** 2 * math.log(p)
    assert got == pytest.approx(hand / 3, rel=1e-12)
    # and the binary positive convention keeps its values (α for label 1, 1 − α for label 0)
    a = 0.25
    want = sum((a if y else 1 - a) * -(1 - p) ** 2 * math.log(p) for y, p in zip(
        y2.tolist(), [math.exp(z[y]) / sum(map(math.exp, z)) for z, y in zip(z2.tolist(), y2.tolist())]))
    assert build_loss("focal", gamma=2.0, alpha=a)(z2, y2).item() == pytest.approx(want / 3, rel=1e-12)
