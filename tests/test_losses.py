"""Losses of the dsn_saal chapter against values worked out by hand from their equations.

Every expected number below is computed with ``math`` from the formula (softmax written out), not
through the package's code path.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from covidnb.losses import LOSSES, build_loss
from covidnb.losses.ce import DeepSupervision

# two samples, three classes; targets 0 and 2
Z = [[2.0, 1.0, 0.0], [0.5, -1.0, 1.5]]
Y = [0, 2]


def softmax_row(z):
    e = [math.exp(v) for v in z]
    s = sum(e)
    return [v / s for v in e]


P = [softmax_row(z) for z in Z]  # P[i][n] = p(n | x_i)
CE = [-math.log(P[i][Y[i]]) for i in range(2)]  # Eq. 4 per sample


def val(x) -> float:
    """A Python float from a loss value (detached: it may require grad)."""
    return x.detach().item() if torch.is_tensor(x) else float(x)


def logits():
    return torch.tensor(Z, dtype=torch.float64, requires_grad=True)


def targets():
    return torch.tensor(Y)


def test_all_losses_registered():
    for name in ("ce", "bce", "focal", "class_balanced", "symmetric_ce", "saal"):
        assert name in LOSSES


def test_ce_matches_hand_and_torch():
    # sample 0: log(e^2 + e + 1) - 2
    assert CE[0] == pytest.approx(math.log(math.e**2 + math.e + 1) - 2)
    value = build_loss("ce")(logits(), targets())
    assert val(value) == pytest.approx((CE[0] + CE[1]) / 2, rel=1e-12)
    assert val(value) == pytest.approx(val(F.cross_entropy(logits(), targets())), rel=1e-12)


def test_weighted_ce_divides_by_sum_of_weights():
    w = [0.5, 2.0, 3.0]
    value = build_loss("ce", weight=w)(logits().float(), targets())
    hand = (w[0] * CE[0] + w[2] * CE[1]) / (w[0] + w[2])
    assert val(value) == pytest.approx(hand, rel=1e-6)


def test_bce_single_logit():
    z, y = [0.5, -1.0], [1, 0]
    hand = (-math.log(1 / (1 + math.exp(-0.5))) - math.log(1 - 1 / (1 + math.exp(1.0)))) / 2
    value = build_loss("bce")(torch.tensor(z)[:, None], torch.tensor(y))
    assert val(value) == pytest.approx(hand, rel=1e-6)
    with pytest.raises(ValueError, match="one logit"):
        build_loss("bce")(torch.zeros(2, 3), torch.tensor(y))


def test_single_logit_ce_equals_bce():
    z, y = torch.tensor([[0.3], [-2.0]]), torch.tensor([1, 0])
    assert val(build_loss("ce")(z, y)) == pytest.approx(val(build_loss("bce")(z, y)), rel=1e-6)


def test_focal_hand_values():
    gamma = 2.0
    hand = sum((1 - P[i][Y[i]]) ** gamma * CE[i] for i in range(2)) / 2
    assert val(build_loss("focal", gamma=gamma)(logits(), targets())) == pytest.approx(
        hand, rel=1e-12
    )
    alpha = [0.2, 0.3, 0.5]
    hand_a = (alpha[0] * (1 - P[0][0]) ** 2 * CE[0] + alpha[2] * (1 - P[1][2]) ** 2 * CE[1]) / 2
    assert val(build_loss("focal", alpha=alpha)(logits(), targets())) == pytest.approx(
        hand_a, rel=1e-6
    )
    # gamma = 0 is cross entropy
    assert val(build_loss("focal", gamma=0)(logits(), targets())) == pytest.approx(
        (CE[0] + CE[1]) / 2
    )


def test_binary_focal_with_scalar_alpha():
    z, y, a, g = [0.5, -1.0], [1, 0], 0.25, 2.0
    s = [1 / (1 + math.exp(-v)) for v in z]
    hand = (a * (1 - s[0]) ** g * -math.log(s[0]) + (1 - a) * s[1] ** g * -math.log(1 - s[1])) / 2
    value = build_loss("focal", gamma=g, alpha=a)(torch.tensor(z)[:, None], torch.tensor(y))
    assert val(value) == pytest.approx(hand, rel=1e-6)


def cb_weights(counts, beta):
    w = [(1 - beta) / (1 - beta**k) for k in counts]
    s = sum(w)
    return [v / s * len(w) for v in w]  # Cui et al. scale the weights to sum to C


def test_class_balanced_both_normalisations():
    counts, beta = [100, 30, 10], 0.99
    w = cb_weights(counts, beta)
    # w_0 by hand: (1 - 0.99) / (1 - 0.99^100) before scaling
    assert (1 - beta) / (1 - beta**100) == pytest.approx(
        0.01 / (1 - math.exp(100 * math.log(0.99)))
    )
    num = w[0] * CE[0] + w[2] * CE[1]
    by_batch = build_loss("class_balanced", class_counts=counts, beta=beta)
    by_weights = build_loss("class_balanced", class_counts=counts, beta=beta, normalize="weights")
    assert val(by_batch(logits().float(), targets())) == pytest.approx(num / 2, rel=1e-6)
    assert val(by_weights(logits().float(), targets())) == pytest.approx(
        num / (w[0] + w[2]), rel=1e-6
    )
    # the "weights" form is exactly PyTorch's weighted cross entropy
    torch_value = F.cross_entropy(
        logits().float(), targets(), weight=torch.tensor(w, dtype=torch.float32)
    )
    assert val(by_weights(logits().float(), targets())) == pytest.approx(val(torch_value), rel=1e-6)
    assert val(by_batch.class_weights.sum()) == pytest.approx(3.0)


def test_symmetric_ce_log_zero():
    a, b, A = 0.1, 1.0, -4.0
    # one-hot label: RCE = -sum_{n != y} p_n * A = -A * (1 - p_y)
    rce = [-A * (1 - P[i][Y[i]]) for i in range(2)]
    hand = a * (CE[0] + CE[1]) / 2 + b * (rce[0] + rce[1]) / 2
    assert val(build_loss("symmetric_ce")(logits(), targets())) == pytest.approx(hand, rel=1e-12)
    # the official code's clamp of the one-hot label at 1e-4 is A = log 1e-4
    loss = build_loss("symmetric_ce", log_zero=math.log(1e-4))(logits(), targets())
    onehot = F.one_hot(targets(), 3).double().clamp(min=1e-4)
    p = logits().softmax(1).clamp(min=1e-7)
    official = a * F.cross_entropy(logits(), targets()) + b * (-(p * onehot.log()).sum(1)).mean()
    assert val(loss) == pytest.approx(val(official), rel=1e-9)
    with pytest.raises(ValueError, match="negative"):
        build_loss("symmetric_ce", log_zero=0.0)


# ---------------------------------------------------------------- SAAL (Eq. 10)

COUNTS = [5, 3, 1]  # small counts so that the effective-number weights differ at alpha = 0.9
ALPHA, BETA, A = 0.9, 0.3, -4.0
W = [(1 - ALPHA) / (1 - ALPHA**k) for k in COUNTS]  # Eq. 7: 0.2442, 0.3690, 1.0


def saal_hand(beta, weighting):
    total = 0.0
    for i in range(2):
        y = Y[i]
        dce = W[y] * CE[i]
        if weighting == "per_class":  # Eq. 9 literally: each wrong class n weighted by w_n
            drce = -A * sum(W[n] * P[i][n] for n in range(3) if n != y)
        else:  # the label's weight on the whole reverse CE
            drce = -A * W[y] * (1 - P[i][y])
        total += dce + beta * drce
    return total / 2


def saal(**kw):
    return build_loss("saal", class_counts=COUNTS, alpha_init=ALPHA, beta_init=BETA, **kw).double()


def test_saal_weights_by_hand():
    assert W[2] == pytest.approx(1.0)
    assert W[0] == pytest.approx(0.1 / (1 - 0.59049))
    assert saal().class_weights().tolist() == pytest.approx(
        W, rel=1e-6
    )  # alpha is a float32 parameter


@pytest.mark.parametrize("weighting", ["per_class", "label"])
def test_saal_single_output_hand_value(weighting):
    value = saal(num_outputs=1, rce_weighting=weighting)(logits(), targets())
    assert val(value) == pytest.approx(saal_hand(BETA, weighting), rel=1e-6)


def test_saal_readings_differ():
    a = saal(num_outputs=1)(logits(), targets())
    b = saal(num_outputs=1, rce_weighting="label")(logits(), targets())
    assert abs(val(a) - val(b)) > 1e-3


def test_saal_sums_outputs_with_their_own_beta():
    loss = saal(num_outputs=3)
    betas = [0.3, 0.6, 0.1]
    with torch.no_grad():
        loss.beta.copy_(torch.logit(torch.tensor(betas, dtype=torch.float64)))
    z = logits()
    value = loss((z, z, z), targets())
    hand = sum(saal_hand(b, "per_class") for b in betas)
    assert val(value) == pytest.approx(hand, rel=1e-6)
    values = loss.log_values()
    assert values["alpha"] == pytest.approx(ALPHA)
    assert [values["beta_main"], values["beta_side1"], values["beta_side2"]] == pytest.approx(betas)
    assert values["w_2"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="num_outputs"):
        loss((z, z, z, z), targets())


def test_saal_gradients_reach_alpha_and_beta_and_point_down():
    loss = saal(num_outputs=2)
    z = logits()
    loss((z, z * 0.5), targets()).backward()
    assert loss.alpha.grad is not None and loss.beta.grad is not None
    # raising alpha shrinks every weight, raising beta adds a non-negative term:
    # plain gradient descent therefore drives sigmoid(alpha) up and sigmoid(beta) down
    assert val(loss.alpha.grad) < 0
    assert bool((loss.beta.grad > 0).all())
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())


def test_saal_gradcheck():
    # analytic gradients w.r.t. alpha, beta and the logits against finite differences (float64)
    from torch.func import functional_call

    loss = saal(num_outputs=2)
    y = targets()

    def f(alpha, beta, z):
        return functional_call(loss, {"alpha": alpha, "beta": beta}, ((z, 2 * z), y))

    alpha = torch.tensor(2.2, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([-0.8, 0.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (alpha, beta, logits()))


def test_saal_weights_near_one_are_inverse_counts():
    # alpha -> 1 gives w_n -> 1/k_n (Eq. 6); stable in float32 thanks to expm1/logsigmoid
    loss = build_loss("saal", class_counts=[1000, 100], alpha_init=1 - 1e-6)
    w = loss.class_weights()
    assert (w * torch.tensor([1000.0, 100.0])).tolist() == pytest.approx([1.0, 1.0], rel=2e-3)


def test_saal_normalised_weights_sum_to_c():
    loss = saal(normalize_weights=True)
    assert val(loss.class_weights().sum()) == pytest.approx(3.0)


def test_saal_random_init_is_seeded():
    a = build_loss("saal", class_counts=COUNTS, init_seed=3).log_values()
    b = build_loss("saal", class_counts=COUNTS, init_seed=3).log_values()
    assert a == b
    assert len([k for k in a if k.startswith("beta_")]) == 6


def test_saal_bad_input():
    with pytest.raises(ValueError, match="positive"):
        build_loss("saal", class_counts=[10, 0, 3])
    with pytest.raises(ValueError, match="class_counts"):
        saal(num_outputs=1)(torch.zeros(2, 4), targets())
    with pytest.raises(ValueError, match="targets"):
        saal(num_outputs=1)(logits(), torch.tensor([0, 3]))


# ---------------------------------------------------------------- deep supervision (Eq. 2)


def test_deep_supervision_sum_and_main_only():
    z1, z2 = logits(), logits() * -1.0
    y = targets()
    ce = build_loss("ce")
    both = val(ce((z1, z2), y))
    assert both == pytest.approx(val(F.cross_entropy(z1, y)) + val(F.cross_entropy(z2, y)))
    main_only = build_loss("ce", deep_supervision=False)((z1, z2), y)
    assert val(main_only) == pytest.approx(val(F.cross_entropy(z1, y)))
    wrapped = DeepSupervision(torch.nn.CrossEntropyLoss())((z1, z2, z1), y)
    assert val(wrapped) == pytest.approx(
        2 * val(F.cross_entropy(z1, y)) + val(F.cross_entropy(z2, y))
    )
    for name, kw in [
        ("focal", {}),
        ("symmetric_ce", {}),
        ("class_balanced", {"class_counts": [3, 2, 1]}),
    ]:
        loss = build_loss(name, **kw)
        assert val(loss((z1, z2), y)) == pytest.approx(val(loss(z1, y)) + val(loss(z2, y)))


def test_loss_shapes_and_errors():
    out = build_loss("ce")(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))
    assert out.ndim == 0
    with pytest.raises(ValueError, match="targets"):
        build_loss("ce")(torch.randn(4, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="empty"):
        build_loss("ce")((), torch.tensor([0]))
