"""DeepCXray's five multi-label losses (Xu et al. 2018, Eq. 1–3, 6–8, 9–11), worked by hand.

The fixed batch: zero logits (f = σ(0) = 1/2, so every −ln f and −ln(1 − f) is ln 2) and the
2×2 label matrix y = [[1, 0], [0, 0]]: |P| = 1, |N| = 3; column 0 has P = N = 1, column 1 has
P = 0, N = 2. A batch's loss is the mean over images of the per-image sum (module docstring).
"""

from __future__ import annotations

import math

import pytest
import torch

from covidnb.losses import build_loss

LN2 = math.log(2)
Y = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
Z0 = torch.zeros(2, 2)


def _loss(name, z=Z0, y=Y, **kw):
    return float(build_loss(name, **kw)(z, y))


def test_values_at_zero_logits_by_hand():
    assert _loss("deepcxray_mse") == pytest.approx(4 * 0.25 / 2)
    assert _loss("deepcxray_bce") == pytest.approx(4 * LN2 / 2)
    # W-CEL batch-wide: β_P = 4/1, β_N = 4/3 → (4 + 3·4/3)·ln2 / 2 images
    assert _loss("wcel") == pytest.approx((4 + 4) * LN2 / 2)
    # CW-CEL: positive × α_N = 3/4, negatives × α_P = 1/4 → (3/4 + 3/4)·ln2 / 2
    assert _loss("cwcel") == pytest.approx(1.5 * LN2 / 2)
    # fine-grained: column 0 weights 1/2 and 1/2; column 1: α_P^1 = 0 for its two negatives
    assert _loss("cwcel_fg") == pytest.approx((0.5 + 0.5) * LN2 / 2)


def test_values_at_other_logits_by_hand():
    z = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    s = torch.sigmoid(z)
    lp, ln = -torch.log(s), -torch.log(1 - s)  # costs of a positive, of a negative
    per = {  # (weight of the positive entry, weight of each negative entry) per loss
        "deepcxray_bce": (1.0, 1.0), "wcel": (4.0, 4 / 3), "cwcel": (0.75, 0.25)}
    for name, (wp, wn) in per.items():
        want = (wp * lp[0, 0] + wn * (ln[0, 1] + ln[1, 0] + ln[1, 1])) / 2
        assert _loss(name, z) == pytest.approx(float(want), rel=1e-6), name
    fg = (0.5 * lp[0, 0] + 0.5 * ln[1, 0] + 0.0 * (ln[0, 1] + ln[1, 1])) / 2
    assert _loss("cwcel_fg", z) == pytest.approx(float(fg), rel=1e-6)
    mse = ((s - Y) ** 2).sum() / 2
    assert _loss("deepcxray_mse", z) == pytest.approx(float(mse), rel=1e-6)


def test_gradients_by_hand():
    z = torch.tensor([[2.0, -1.0], [0.5, 3.0]], requires_grad=True)
    build_loss("cwcel")(z, Y).backward()
    s = torch.sigmoid(z.detach())
    # d/dz of α_N·(−ln σ(z)) is α_N (σ − 1); of α_P·(−ln(1 − σ(z))) is α_P σ; mean over 2 images
    want = torch.where(Y == 1, 0.75 * (s - 1), 0.25 * s) / 2
    torch.testing.assert_close(z.grad, want)


def test_wcel_per_finding_counting_and_its_nan():
    # per finding: column 0 P = N = 1 → β = 2, 2; column 1 has no positive → β_P = ∞
    loss = build_loss("wcel", counting="finding")
    got = loss(Z0, Y)
    assert torch.isnan(got) and loss.infinite_batches == 1 and loss.batches == 1
    y_full = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(loss(Z0, y_full)) == pytest.approx((2 + 2 + 2 + 2) * LN2 / 2)
    assert loss.log_values() == {"wcel_infinite_batches": 1.0, "wcel_batches": 2.0}


def test_wcel_batch_without_positive_is_nan_and_counted():
    loss = build_loss("wcel")
    got = loss(Z0, torch.zeros(2, 2))  # an all-"No Finding" batch: |P| = 0
    assert torch.isnan(got) and loss.infinite_batches == 1
    z = torch.zeros(2, 2, requires_grad=True)
    build_loss("wcel")(z, torch.zeros(2, 2)).backward()
    assert torch.isnan(z.grad).all()  # what stops training in §IV-C
    # CW-CEL on the same batch stays finite: α_N = 1, α_P = 0
    assert _loss("cwcel", y=torch.zeros(2, 2)) == 0.0


def test_auxiliary_normal_output_joint_separate_ignore():
    normal = torch.zeros(2, 1)  # f = 1/2; targets: image 0 abnormal (0), image 1 normal (1)
    out = (Z0, normal)
    # joint: 15th column [0, 1] appended → y = [[1,0,0],[0,0,1]]: |P| = 2, |N| = 4
    # CW-CEL: positives × 4/6, negatives × 2/6 → (2·4/6 + 4·2/6)·ln2 / 2
    assert float(build_loss("cwcel")(out, Y)) == pytest.approx((8 / 6 + 8 / 6) * LN2 / 2)
    # W-CEL batch-wide with the normal column: never infinite, even on an all-normal batch
    assert torch.isfinite(build_loss("wcel")((Z0, normal), torch.zeros(2, 2)))
    sep = build_loss("cwcel", aux="separate", aux_weight=0.5)(out, Y)
    assert float(sep) == pytest.approx(1.5 * LN2 / 2 + 0.5 * LN2)
    assert float(build_loss("cwcel", aux="ignore")(out, Y)) == pytest.approx(1.5 * LN2 / 2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        build_loss("cwcel")(torch.zeros(2, 3), Y)
    with pytest.raises(ValueError, match="0 or 1"):
        build_loss("cwcel")(Z0, Y * 2)
    with pytest.raises(ValueError, match="aux must be"):
        build_loss("cwcel", aux="both")
    with pytest.raises(ValueError, match="counting must be"):
        build_loss("wcel", counting="image")
