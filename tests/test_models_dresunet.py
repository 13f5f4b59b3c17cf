"""The dresunet chapter's seven models and their parts (Xu 2021 thesis §2.3, §3.1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from covidnb.models import build_model
from covidnb.models.attention import ECA, SCSE, SSE, ECAsE, eca_kernel_size
from covidnb.models.deform import ModulatedDeformConv2d
from covidnb.models.fprm import FPRM
from covidnb.models.unet import Up

MODELS = ["simplecnn", "vgg_small", "unet", "resunet", "resunet_ecsa", "resunet_fprm", "dresunet"]
WIDTH = 4  # narrow, so that the 480 px cases stay fast on CPU


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.mark.parametrize("size", [224, 256, 480])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", MODELS)
def test_output_shape(name, in_channels, size):
    model = build_model(name, in_channels=in_channels, width=WIDTH).eval()
    with torch.no_grad():
        out = model(torch.rand(1, in_channels, size, size))
    assert out.shape == (1, 1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_two_classes_and_odd_size(name):
    model = build_model(name, in_channels=1, num_classes=2, width=WIDTH).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 67, 75))  # odd, non-square: exercises pad-then-concat
    assert out.shape == (2, 2)


@pytest.mark.parametrize("name", MODELS)
def test_gradient_reaches_every_parameter(name):
    model = build_model(name, in_channels=1, width=WIDTH).train()
    x = torch.rand(2, 1, 64, 64)
    target = torch.tensor([[1.0], [0.0]])
    loss = F.binary_cross_entropy_with_logits(model(x), target)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dresunet"):
        build_model("dresunet", in_channels=0)


def test_unet_transposed_variant_and_parameter_counts():
    # Classic UNet (width 64, 3 channels in, 2 classes): the reference implementation's counts.
    bilinear = build_model("unet", in_channels=3, num_classes=2)
    transposed = build_model("unet", in_channels=3, num_classes=2, bilinear=False)
    n_bi = sum(p.numel() for p in bilinear.parameters())
    n_tr = sum(p.numel() for p in transposed.parameters())
    assert 17.0e6 < n_bi < 17.5e6
    assert 30.8e6 < n_tr < 31.3e6
    with torch.no_grad():
        assert build_model("unet", width=4, bilinear=False).eval()(torch.rand(1, 1, 65, 65)).shape == (1, 1)


def test_up_pads_smaller_map_to_skip_size():
    up = Up(8, 4, 4)
    out = up(torch.rand(1, 8, 5, 7), torch.rand(1, 4, 11, 15))  # ×2 gives 10×14, padded to 11×15
    assert out.shape == (1, 4, 11, 15)


# --- attention ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channels,k", [(64, 3), (256, 5), (512, 5), (128, 5), (32, 3), (4, 1)])
def test_eca_kernel_size(channels, k):
    # |(log2 C + 1) / 2|, made odd: 64 → 3.5 → 3; 256 → 4.5 → 4 → 5; 512 → 5; 128 → 4 → 5;
    # 32 → 3; 4 → 1.5 → 1.
    assert eca_kernel_size(channels) == k
    assert ECA(channels).conv.kernel_size == (k,)


@pytest.mark.parametrize("module,bound", [
    (SSE(16), 1.0), (ECA(16), 1.0), (ECA(16, pools=("avg", "max"), downsample=True), 1.0),
    (SCSE(16), 2.0), (ECAsE(16), 2.0),
])
def test_attention_is_a_bounded_gate(module, bound):
    x = torch.randn(2, 16, 9, 10)
    out = module(x)
    assert out.shape == x.shape
    # Each branch multiplies x by a sigmoid in (0, 1): same sign as x, at most `bound`·|x|.
    assert (out * x >= 0).all()
    assert (out.abs() <= bound * x.abs() + 1e-6).all()


def test_eca_gate_known_value():
    eca = ECA(8)
    with torch.no_grad():
        eca.conv.weight.zero_()
    x = torch.randn(1, 8, 4, 4)
    # A zero 1-D conv gives logits 0, σ(0) = 0.5 on every channel.
    assert torch.allclose(eca(x), 0.5 * x)


def test_eca_rejects_unknown_pooling():
    with pytest.raises(ValueError, match="pools"):
        ECA(8, pools=("median",))


# --- deformable conv and FPRM ------------------------------------------------------------------

@pytest.mark.parametrize("stride", [1, 2])
def test_deform_conv_at_init_is_half_a_plain_conv(stride):
    dcn = ModulatedDeformConv2d(3, 5, kernel_size=3, stride=stride)
    x = torch.randn(2, 3, 11, 13)
    # Zero-initialised offset/mask conv: offsets 0 and mask σ(0) = 0.5 at every sampling point.
    offset, mask = dcn.offsets_and_mask(x)
    assert (offset == 0).all() and torch.allclose(mask, torch.full_like(mask, 0.5))
    expected = 0.5 * F.conv2d(x, dcn.weight, stride=stride, padding=1)
    assert torch.allclose(dcn(x), expected, atol=1e-5)


def test_deform_conv_offset_branch_learns_from_zero():
    dcn = ModulatedDeformConv2d(2, 3, kernel_size=3)
    dcn(torch.randn(1, 2, 8, 8)).pow(2).sum().backward()
    for p in dcn.offset_mask.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_deform_conv_offset_moves_the_sample():
    # A 1×1 deformable conv with identity weight and a constant offset of +1 column samples the
    # right-hand neighbour: y(p) = 0.5·x(p + (0, 1)) (mask stays σ(0) = 0.5).
    dcn = ModulatedDeformConv2d(1, 1, kernel_size=1)
    with torch.no_grad():
        dcn.conv.weight.fill_(1.0)
        dcn.offset_mask.bias[1] = 1.0  # offsets are (dy, dx) pairs
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = dcn(x)
    assert torch.allclose(out[..., :, :3], 0.5 * x[..., :, 1:])
    assert torch.allclose(out[..., :, 3], torch.zeros(4))  # sampled outside the image: zero


def test_fprm_fuses_to_the_high_level_shape():
    fprm = FPRM(high_channels=8, low_channels=4)
    high, low = torch.randn(2, 8, 3, 3), torch.randn(2, 4, 24, 24)
    assert fprm(high, low).shape == high.shape
    with torch.no_grad():
        fprm.gate[-2].weight.zero_()
        fprm.gate[-2].bias.fill_(-1e4)  # gate closed: nothing of the low level passes
    assert torch.allclose(fprm(high, low), high)
