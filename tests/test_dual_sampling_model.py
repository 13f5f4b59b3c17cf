"""3-D ResNet-34 (stride-1 last stage), online attention T(A) and L_ex of Ouyang et al. 2020
(dual_sampling item 4): shapes, gradients and values worked by hand from Eq. 1–4."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("monai")
from covidnb.losses import build_loss
from covidnb.losses.dual_sampling import attention_loss
from covidnb.models import build_model
from covidnb.models.dual_sampling_net import (
    minmax_normalise,
    online_attention,
    resnet34_3d,
    trim,
)


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_trim_by_hand():
    a = torch.tensor([0.4, 0.41, 0.3, 1.0, 0.0])
    # α = 100, β = 0.4: T(0.4) = σ(0) = 0.5; T(0.41) = σ(1); T(0.3) = σ(−10); T(1) = σ(60)
    expect = [0.5, sig(1.0), sig(-10.0), sig(60.0), sig(-40.0)]
    torch.testing.assert_close(trim(a), torch.tensor(expect), atol=1e-6, rtol=0)


def test_minmax_by_hand():
    a = torch.tensor([[[2.0, 4.0, 6.0]], [[5.0, 5.0, 5.0]]])
    out = minmax_normalise(a)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 0.5, 1.0]), atol=1e-5, rtol=0)
    assert out[1].abs().max() == 0  # a constant map stays 0, not NaN


def test_online_attention_by_hand():
    # C = 2 channels, 2 voxels: f = [[1, 3], [2, 0]], w = [1, −1] → conv = [−1, 3] → ReLU [0, 3]
    # → min–max [0, 1] → T = [σ(−40), σ(60)]
    f = torch.tensor([[1.0, 3.0], [2.0, 0.0]]).view(1, 2, 1, 1, 2)
    w = torch.tensor([[1.0, -1.0]])
    a, t = online_attention(f, w, (1, 1, 2), mode="nearest")
    torch.testing.assert_close(a.flatten(), torch.tensor([0.0, 1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.flatten(), torch.tensor([sig(-40), sig(60 - 1e-4)]), atol=1e-4, rtol=0)


def test_attention_loss_by_hand():
    t = torch.tensor([[1.0, 0.0, 0.5, 0.0]])
    m = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # Σ(T − M)² = 0 + 1 + 0.25 + 0 = 1.25; ΣT + ΣM = 1.5 + 2 = 3.5
    assert float(attention_loss(t, m)) == pytest.approx(1.25 / 3.5)
    assert float(attention_loss(torch.zeros(1, 4), torch.zeros(1, 4))) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        attention_loss(t, m[:, :3])


def test_total_loss_covid_only_by_hand():
    loss = build_loss("bce_attention", lam=0.5)
    logits = torch.zeros(2, 1)  # BCE = ln 2 for either label
    t = torch.tensor([[1.0, 0.0, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]]).view(2, 1, 1, 2, 2)
    m = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).view(2, 1, 1, 2, 2)
    # sample 0 COVID-19 (label 1), sample 1 CAP: only sample 0's L_ex counts, averaged over 1 case
    total = loss((logits, t, m), torch.tensor([1, 0]))
    assert float(total) == pytest.approx(math.log(2) + 0.5 * 1.25 / 3.5, rel=1e-5)
    assert loss.log_values()["l_ex"] == pytest.approx(1.25 / 3.5, rel=1e-5)
    # no COVID-19 case in the batch: L_c alone
    assert float(loss((logits, t, m), torch.tensor([0, 0]))) == pytest.approx(math.log(2))
    # the per-batch reading divides by the batch size instead
    half = build_loss("bce_attention", reduction="batch_mean")((logits, t, m), torch.tensor([1, 0]))
    assert float(half) == pytest.approx(math.log(2) + 0.5 * 1.25 / 3.5 / 2, rel=1e-5)
    # a plain logits tensor (RN34 baseline): BCE only
    assert float(loss(logits, torch.tensor([1, 0]))) == pytest.approx(math.log(2))


@pytest.mark.parametrize("last_stride,factor", [(1, 16), (2, 32)])
def test_feature_map_is_a_sixteenth(last_stride, factor):
    net = resnet34_3d(1, width=0.0625, last_stride=last_stride)
    x = torch.zeros(1, 1, 64, 64, 64)
    b = net
    f = b.layer4(b.layer3(b.layer2(b.layer1(b.maxpool(b.act(b.bn1(b.conv1(x))))))))
    assert f.shape[2:] == (64 // factor,) * 3


def test_resnet34_depth_and_size():
    net = build_model("rn34_3d", in_channels=1, num_classes=1, width=1.0)
    blocks = [len(getattr(net.backbone, f"layer{i}")) for i in range(1, 5)]
    assert blocks == [3, 4, 6, 3]  # ResNet-34
    n = sum(p.numel() for p in net.parameters())
    assert 60e6 < n < 66e6  # Hara et al.'s 3-D ResNet-34 has ~63.5 M parameters


def test_model_outputs_and_gradients():
    torch.manual_seed(0)
    net = build_model("attention_rn34_3d", in_channels=2, num_classes=1, width=0.0625)
    with torch.no_grad():  # A = ReLU(f·w) is 0 everywhere when f·w < 0 everywhere: no gradient
        net.fc.weight.abs_()
    x = torch.rand(2, 2, 32, 32, 32)
    x[:, 1] = (x[:, 1] > 0.9).float()
    logits, t, m = net(x)
    assert logits.shape == (2, 1) and t.shape == (2, 1, 32, 32, 32)
    assert torch.equal(m, x[:, 1:2]) and 0 <= float(t.min().detach()) and float(t.max().detach()) <= 1
    # L_ex moves the features, never the FC weights (w is the FC's, detached)
    from covidnb.losses.dual_sampling import attention_loss as lex

    lex(t, m).sum().backward()
    assert net.fc.weight.grad is None or float(net.fc.weight.grad.abs().sum()) == 0.0
    assert float(net.backbone.layer4[0].conv1.weight.grad.abs().sum()) > 0
    net.zero_grad()
    build_loss("bce_attention")(net(x), torch.tensor([1, 0])).backward()
    assert float(net.fc.weight.grad.abs().sum()) > 0  # L_c reaches the FC


def test_prediction_ignores_the_mask_channel():
    torch.manual_seed(0)
    net = build_model("attention_rn34_3d", in_channels=2, num_classes=1, width=0.0625).eval()
    x = torch.rand(1, 2, 16, 32, 32)
    y = x.clone()
    y[:, 1] = 1 - y[:, 1]
    with torch.no_grad():
        torch.testing.assert_close(net(x)[0], net(y)[0])
        assert net(x[:, :1])[2].abs().sum() == 0  # one channel: the mask is zeros
    with pytest.raises(ValueError, match="one BCE unit"):
        build_model("rn34_3d", num_classes=2)
