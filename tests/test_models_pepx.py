"""PEPX, the PEPX-ResNet block and network (Zhang & Zhang §3.2–3.3), the torchvision ResNet-18
baseline and the COVID-Net-style extension: shapes, gradients, the plain residual form,
parameter counts worked by hand."""

from __future__ import annotations

import pytest
import torch

from covidnb.models import build_model, count_parameters
from covidnb.models.pepx import PEPX, PEPXBlock, PEPXResNet

torch.manual_seed(0)


@pytest.mark.parametrize("name,kw", [("pepx_resnet", {"width": 8}),
                                     ("pepx_resnet", {"width": 8, "pepx_input": "block"}),
                                     ("resnet18_tv", {}), ("covidnet_style", {"width": 8})])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(name, kw, channels):
    model = build_model(name, in_channels=channels, num_classes=3, **kw).eval()
    assert model(torch.rand(2, channels, 64, 64)).shape == (2, 3)


def test_pepx_widths_and_depthwise():
    p = PEPX(8, 16, stride=2)
    assert p.widths == (4, 6, 6, 4, 16)
    assert p(torch.rand(1, 8, 10, 10)).shape == (1, 16, 5, 5)
    assert PEPX(8, 16, depthwise=True).conv3.groups == 6 and p.conv3.groups == 1


def test_one_block_parameter_count_by_hand():
    # c_in 8 → c_out 16, stride 2:
    # F1  = BN(8) 16 + conv 8·16·9 1152 + BN(16) 32 + conv 16·16·9 2304      = 3504
    # F   = BN 32 + conv 2304 + BN 32 + conv 2304                            = 4672
    # shortcut = conv 8·16 128 + BN 32                                       =  160
    # PEPX = 8·4 32 + 4·6 24 + 6·6·9 324 + 6·4 24 + 4·16 64 + BN 32           =  500
    # A, B, C                                                                 =    3
    assert count_parameters(PEPXBlock(8, 16, stride=2)) == 3504 + 4672 + 160 + 500 + 3
    assert count_parameters(PEPX(8, 16, depthwise=True)) == 500 - 324 + 6 * 9


def test_resnet18_parameter_count_by_hand():
    # torchvision ResNet-18 has 11,689,512 parameters (3 channels, 1000 classes); one input
    # channel takes 64·49·2 off conv1, three classes leave 512·3 + 3 of the 513,000 head
    assert count_parameters(build_model("resnet18_tv", num_classes=3)) == \
        11_689_512 - 64 * 49 * 2 - 513_000 + 512 * 3 + 3


def test_pepx_resnet_counts_against_resnet18():
    pepx = PEPXResNet(width=64)
    extra = sum(count_parameters(b.pepx) + 3 for b in pepx.blocks)
    # the same stem, convolutions and head as ResNet-18; pre-activation moves BNs (one more
    # BN per branch pair) — the rest of the difference is PEPX and A, B, C
    assert extra > 0 and count_parameters(pepx) > count_parameters(build_model("resnet18_tv", num_classes=3))


@pytest.mark.parametrize("pepx_input", ["stream", "block"])
def test_gradients_reach_a_b_c_and_every_branch(pepx_input):
    model = PEPXResNet(width=8, pepx_input=pepx_input)
    out = model(torch.rand(2, 1, 64, 64))
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for b in model.blocks:
        assert all(getattr(b, k).grad.abs() > 0 for k in "ABC")


def test_block_reduces_to_plain_residual_form():
    block = PEPXBlock(8, 8, stride=1).eval()
    x = torch.rand(2, 8, 12, 12)
    with torch.no_grad():
        block.A.fill_(1.0), block.B.fill_(1.0), block.C.fill_(0.0)
        h = x + block.f1(x)                         # first residual unit
        plain = h + block.f(h)                      # second residual unit
        y, _ = block(x)
        torch.testing.assert_close(y, plain)
        for p in block.pepx.parameters():           # C = 0: PEPX cannot matter
            p.add_(torch.randn_like(p))
        torch.testing.assert_close(block(x)[0], plain)
        block.A.fill_(0.0), block.B.fill_(0.0)      # only the nested path F[F1(x) + x]
        torch.testing.assert_close(block(x)[0], block.f(x + block.f1(x)))


def test_block_equation_with_weights():
    block = PEPXBlock(8, 16, stride=2).eval()
    x = torch.rand(2, 8, 12, 12)
    with torch.no_grad():
        block.A.fill_(0.5), block.B.fill_(-2.0), block.C.fill_(3.0)
        f1, xs = block.f1(x), block.shortcut(x)
        want = block.f(f1 + xs) + 0.5 * f1 - 2.0 * xs + 3.0 * block.pepx(x)
        torch.testing.assert_close(block(x)[0], want)


def test_stream_reading_feeds_pepx_from_pepx_only():
    model = PEPXResNet(width=8, pepx_input="stream").eval()
    seen = []
    for b in model.blocks:
        b.pepx.register_forward_hook(lambda m, i, o: seen.append((i[0], o)))
    model(torch.rand(1, 1, 64, 64))
    for (inp, _), (_, prev_out) in zip(seen[1:], seen[:-1]):
        assert inp is prev_out  # the k-th PEPX reads the (k-1)-th PEPX's output


def test_bad_pepx_input_names_the_choices():
    with pytest.raises(ValueError, match="stream"):
        PEPXResNet(pepx_input="parallel")


def test_block_weights_listed():
    w = PEPXResNet(width=8).block_weights()
    assert len(w) == 4 and w[0] == {"A": 1.0, "B": 1.0, "C": 1.0}


def test_group_norm_variant_has_no_batchnorm_and_same_convolutions():
    bn, gn = PEPXResNet(width=8), PEPXResNet(width=8, norm="group")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gn.modules())
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in gn.modules()) == \
        sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules())
    assert count_parameters(gn) == count_parameters(bn)  # affine γ, β per channel in both
    x = torch.rand(2, 1, 64, 64)
    gn.train()
    a = gn(x)
    gn.eval()
    torch.testing.assert_close(a, gn(x))  # GroupNorm: the same output in both modes
    with pytest.raises(ValueError, match="norm must be one of"):
        PEPXResNet(width=8, norm="layer")


def test_resnet18_group_norm_is_the_same_in_both_modes():
    gn = build_model("resnet18_tv", num_classes=3, norm="group")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gn.modules())
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in gn.modules()) == 20  # 17 convs' + 3 downsample
    # GroupNorm keeps no running statistics, so training and evaluation mode compute the same
    x = torch.rand(4, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(gn.train()(x), gn.eval()(x), atol=1e-6)
    bn = build_model("resnet18_tv", num_classes=3)
    assert count_parameters(bn) == count_parameters(gn)  # affine weight + bias per channel in both
    with pytest.raises(ValueError, match="norm must be one of"):
        build_model("resnet18_tv", norm="layer")
