"""Mixup (thesis §3.2) and CutMix (extension) in covidnb.train.mixing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidnb.train.mixing import cutmix_box, mix_batch, mixed_loss


def _batch(n=6, size=8):
    # Image i is the constant i + 1, so every mixed pixel tells where it came from.
    images = (torch.arange(n, dtype=torch.float32) + 1)[:, None, None, None].expand(n, 1, size, size).clone()
    return images, torch.arange(n)


def test_mixup_with_known_lambda_is_the_convex_combination():
    images, targets = _batch()
    mixed, ya, yb, lam = mix_batch(images, targets, alpha=1.0, lam=0.3, generator=torch.Generator().manual_seed(1))
    assert lam == 0.3
    assert torch.equal(ya, targets)
    # targets are 0..n-1, so targets_b is the permutation itself
    assert sorted(yb.tolist()) == list(range(len(targets)))
    expected = (0.3 * (targets + 1) + 0.7 * (yb + 1)).float()
    assert torch.allclose(mixed[:, 0, 0, 0], expected)
    assert torch.allclose(mixed, expected[:, None, None, None].expand_as(mixed))


def test_mixup_seeded_generator_is_reproducible_and_draws_lambda():
    images, targets = _batch()
    a = mix_batch(images, targets, 0.4, generator=torch.Generator().manual_seed(7))
    b = mix_batch(images, targets, 0.4, generator=torch.Generator().manual_seed(7))
    assert a[3] == b[3] and torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
    lam = a[3]
    assert 0.0 <= lam <= 1.0
    assert torch.allclose(a[0], lam * images + (1 - lam) * images[a[2]])


@pytest.mark.parametrize("alpha", [1.0, 0.4])
def test_lambda_follows_beta_alpha_alpha(alpha):
    g = torch.Generator().manual_seed(0)
    images, targets = _batch(2, 2)
    lams = np.array([mix_batch(images, targets, alpha, generator=g)[3] for _ in range(3000)])
    # Beta(α, α): mean 1/2, variance 1 / (4 (2α + 1)) — 1/12 for α = 1, 0.1389 for α = 0.4.
    assert abs(lams.mean() - 0.5) < 0.02
    assert abs(lams.var() - 1 / (4 * (2 * alpha + 1))) < 0.01


def test_alpha_zero_means_no_mixing():
    images, targets = _batch()
    mixed, _, _, lam = mix_batch(images, targets, alpha=0.0)
    assert lam == 1.0 and torch.equal(mixed, images)


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_box_area_matches_lambda(seed):
    images, targets = _batch(6, 32)
    mixed, ya, yb, lam = mix_batch(images, targets, alpha=1.0, mode="cutmix",
                                   generator=torch.Generator().manual_seed(seed))
    for i in range(len(targets)):
        own = (mixed[i] == i + 1).float().mean().item()
        if yb[i] != ya[i]:  # a sample paired with itself shows no box
            assert own == pytest.approx(lam)
            pasted = (mixed[i] == yb[i] + 1).float().mean().item()
            assert pasted == pytest.approx(1 - lam)


def test_cutmix_box_size_and_clipping():
    # λ = 0.75 → side 16·√0.25 = 8: an 8×8 box inside the image, smaller where the border clips it.
    g = torch.Generator().manual_seed(0)
    areas = []
    for _ in range(200):
        y1, y2, x1, x2 = cutmix_box(16, 16, 0.75, g)
        assert 0 <= y1 <= y2 <= 16 and 0 <= x1 <= x2 <= 16
        areas.append((y2 - y1) * (x2 - x1))
    assert max(areas) == 64 and min(areas) < 64


def test_mixed_loss_weights_the_two_targets():
    loss_fn = torch.nn.functional.mse_loss
    out = torch.tensor([0.0])
    loss = mixed_loss(loss_fn, out, torch.tensor([1.0]), torch.tensor([2.0]), 0.25)
    assert loss.item() == pytest.approx(0.25 * 1.0 + 0.75 * 4.0)


def test_bad_input_is_named():
    images, targets = _batch()
    with pytest.raises(ValueError, match="mode"):
        mix_batch(images, targets, 1.0, mode="mosaic")
    with pytest.raises(ValueError, match="targets"):
        mix_batch(images, targets[:3], 1.0)
    with pytest.raises(ValueError, match="lam"):
        mix_batch(images, targets, 1.0, lam=1.5)
