"""DSN models of Hu et al. 2021 (§3.2, Table 4), their baselines and the ImageNet-weights loader.

Big models: one VGG is built per module and reused; the other backbones run at 32–64 px.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision

from covidnb.models import MODELS, build_model, count_parameters, main_output
from covidnb.models.dsn_backbones import table4_comparison

DSN = ["dsn_vgg16_bn", "dsn_resnet50", "dsn_densenet169", "dsn_resnext50"]
BASELINES = ["vgg16_bn", "resnet50", "densenet169", "resnext50", "mobilenet_v2"]
C = 3

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dsn_vgg():
    torch.manual_seed(0)
    return build_model("dsn_vgg16_bn", in_channels=1, num_classes=C).eval()


@pytest.fixture(scope="module")
def small_dsn():
    torch.manual_seed(0)
    return {name: build_model(name, in_channels=1, num_classes=C).eval() for name in DSN[1:]}


def check_six(out, n=1):
    assert isinstance(out, tuple) and len(out) == 6
    assert all(o.shape == (n, C) and torch.isfinite(o).all() for o in out)


def test_registered_names():
    for name in DSN + BASELINES:
        assert name in MODELS


def test_dsn_vgg_224_one_channel(dsn_vgg):
    with torch.no_grad():
        check_six(dsn_vgg(torch.randn(1, 1, 224, 224)))


def test_dsn_vgg_three_channels():
    model = build_model("dsn_vgg16_bn", in_channels=3, num_classes=C).eval()
    with torch.no_grad():
        check_six(model(torch.randn(1, 3, 64, 64)))


@pytest.mark.parametrize("name", DSN[1:])
def test_dsn_backbones_shapes(name, small_dsn):
    with torch.no_grad():
        check_six(small_dsn[name](torch.randn(1, 1, 64, 64)))
    three = build_model(name, in_channels=3, num_classes=C).eval()
    with torch.no_grad():
        check_six(three(torch.randn(1, 3, 64, 64)))


@pytest.mark.parametrize("name", BASELINES[1:])
def test_baselines_return_logits(name):
    model = build_model(name, in_channels=1, num_classes=C).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 64, 64))
    assert torch.is_tensor(out) and out.shape == (1, C)
    assert model.weights_info["loaded"] is False
    model.get_submodule(model.cam_layer_name)  # the CAM layer exists


def test_main_output_is_the_backbone(dsn_vgg, small_dsn):
    """Side branches only read the features: element 0 equals the plain network's output."""
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        for model in [dsn_vgg, *small_dsn.values()]:
            torch.testing.assert_close(main_output(model(x)), model.backbone(x))
        # the out-of-place final ReLU gives torchvision's own DenseNet forward
        dense = small_dsn["dsn_densenet169"].backbone
        torch.testing.assert_close(dense(x), torchvision.models.DenseNet.forward(dense, x))


def test_vgg_every_conv_reading():
    model = build_model("dsn_vgg16_bn", in_channels=1, num_classes=C, taps="every_conv").eval()
    assert [len(s.reduce) for s in model.sides] == [2, 2, 3, 3, 3]
    with torch.no_grad():
        check_six(model(torch.randn(1, 1, 32, 32)))


def test_gradient_reaches_every_parameter(dsn_vgg, small_dsn):
    y = torch.tensor([0, 2])
    for model in [dsn_vgg, *small_dsn.values()]:
        model.train()
        model.zero_grad(set_to_none=True)
        out = model(torch.randn(2, 1, 32, 32))
        sum(F.cross_entropy(o, y) for o in out).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, missing
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        for side in model.sides:  # the auxiliary chain itself learns
            assert float(side.fc.weight.grad.abs().sum()) > 0
        model.zero_grad(set_to_none=True)
        model.eval()


def test_densenet_gradcam_hooks():
    """pytorch-grad-cam on DenseNet: torchvision's in-place final ReLU would break its hooks."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = build_model("densenet169", in_channels=1, num_classes=C).eval()
    with GradCAM(model=model, target_layers=[model.get_submodule(model.cam_layer_name)]) as cam:
        heat = cam(input_tensor=torch.randn(1, 1, 64, 64), targets=[ClassifierOutputTarget(1)])
        # the stored norm5 activations are BN outputs, negatives included; torchvision's in-place
        # ReLU would rewrite them to max(0, ·) behind the hook's back and change the map silently
        assert float(cam.activations_and_grads.activations[0].min()) < 0
    assert heat.shape == (1, 64, 64)


# ---------------------------------------------------------------- parameter counts (Table 4)


def adapted_baseline(weights_name, head_in, first_out, k):
    """torchvision's documented count, with a 1-channel k×k stem and a 3-class head."""
    n = torchvision.models.get_weight(weights_name).meta["num_params"]
    return n - (head_in + 1) * 1000 + (head_in + 1) * C - 2 * k * k * first_out


def side_chain(widths, side=21, classes=C):
    """Per tap: 1×1 conv width→21 (+bias), fuse 21→1 (+bias), linear 49→C (+bias)."""
    return sum(w * side + side + side + 1 + 49 * classes + classes for w in widths)


EXPECTED = {
    # name: (baseline count, side-chain increment), both derived independently of covidnb
    "vgg16_bn": (
        adapted_baseline("VGG16_BN_Weights.IMAGENET1K_V1", 4096, 64, 3),
        side_chain([64, 128, 256, 512, 512]),
    ),
    "resnet50": (
        adapted_baseline("ResNet50_Weights.IMAGENET1K_V1", 2048, 64, 7),
        side_chain([64, 256, 512, 1024, 2048]),
    ),
    "densenet169": (
        adapted_baseline("DenseNet169_Weights.IMAGENET1K_V1", 1664, 64, 7),
        side_chain([64, 128, 256, 640, 1664]),
    ),
    "resnext50": (
        adapted_baseline("ResNeXt50_32X4D_Weights.IMAGENET1K_V1", 2048, 64, 7),
        side_chain([64, 256, 512, 1024, 2048]),
    ),
}


def test_table4_counts_exact():
    table = table4_comparison()
    print(
        "\n" + table[["name", "reading", "params", "params_M", "reported_M", "diff_M"]].to_string()
    )
    default = table[~table["reading"].str.startswith(("side conv", "per stage"))].set_index("name")
    for base, (n_base, extra) in EXPECTED.items():
        assert default.loc[base, "params"] == n_base
        assert default.loc[f"dsn_{base}", "params"] == n_base + extra
    # the literal numbers, so a reader sees them: VGG 134.28 -> 134.31 (Table 4: 134.32) ...
    assert EXPECTED["vgg16_bn"] == (134_280_131, 31_877)
    # every baseline and both ResNet-family DSN counts agree with Table 4 to the printed 0.01 M
    assert set(table.loc[table["matches"], "name"]) >= {*EXPECTED, "dsn_resnet50", "dsn_resnext50"}
    vgg = table[table["name"] == "dsn_vgg16_bn"].set_index("reading")["params"]
    every_conv = side_chain([64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512])
    every_conv -= 8 * (21 + 1 + 49 * C + C)  # 13 reducing convs, but only 5 fuse + classifier heads
    assert vgg["side conv after every conv"] == EXPECTED["vgg16_bn"][0] + every_conv
    assert vgg["per stage, classifier on 21·7·7"] == EXPECTED["vgg16_bn"][0] + sum(
        w * 21 + 21 + 21 * 49 * C + C for w in [64, 128, 256, 512, 512]
    )


def test_mobilenet_count():
    with torch.device("meta"):
        model = build_model("mobilenet_v2", in_channels=1, num_classes=C)
    assert count_parameters(model) == adapted_baseline(
        "MobileNet_V2_Weights.IMAGENET1K_V1", 1280, 32, 3
    )


# ---------------------------------------------------------------- ImageNet weights


def test_weights_from_local_file_with_sha256(tmp_path):
    from covidnb.models.weights import sha256sum

    torch.manual_seed(1)
    imagenet = torchvision.models.mobilenet_v2()  # stands in for the ImageNet checkpoint
    path = tmp_path / "mobilenet.pth"
    torch.save(imagenet.state_dict(), path)
    digest = sha256sum(path)
    model = build_model(
        "mobilenet_v2",
        in_channels=1,
        num_classes=C,
        pretrained=True,
        weights_file=path,
        weights_sha256=digest,
    )
    info = model.weights_info
    assert info["loaded"] and info["sha256"] == digest and info["source"] == f"file:{path}"
    # 1-channel stem = the RGB kernels summed; the 3-class head stays random
    torch.testing.assert_close(
        model.features[0][0].weight, imagenet.features[0][0].weight.sum(1, keepdim=True)
    )
    torch.testing.assert_close(
        model.features[5].conv[0][0].weight, imagenet.features[5].conv[0][0].weight
    )
    assert "classifier.1" in info["random_init"]
    with pytest.raises(ValueError, match="sha256"):
        build_model("mobilenet_v2", pretrained=True, weights_file=path, weights_sha256="0" * 64)


def test_dsn_weights_old_densenet_keys(tmp_path):
    """torchvision's DenseNet checkpoints use old key names ("norm.1"); side branches stay random."""
    torch.manual_seed(2)
    ref = torchvision.models.densenet169()
    old = {
        k.replace("norm1", "norm.1").replace("conv1", "conv.1") if "denselayer" in k else k: v
        for k, v in ref.state_dict().items()
    }
    assert any(".norm.1." in k for k in old)
    path = tmp_path / "densenet.pth"
    torch.save(old, path)
    model = build_model(
        "dsn_densenet169", in_channels=3, num_classes=C, pretrained=True, weights_file=path
    )
    info = model.weights_info
    assert info["loaded"] and "sides (auxiliary chain)" in info["random_init"]
    torch.testing.assert_close(
        model.backbone.features.denseblock2.denselayer3.conv1.weight,
        ref.features.denseblock2.denselayer3.conv1.weight,
    )
    torch.testing.assert_close(model.backbone.features.conv0.weight, ref.features.conv0.weight)


def test_offline_fallback(monkeypatch):
    from urllib.error import URLError

    import torchvision.models._api as api

    def offline(*a, **k):
        raise URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.warns(UserWarning, match="from scratch"):
        model = build_model("dsn_resnet50", in_channels=1, num_classes=C, pretrained=True)
    info = model.weights_info
    assert info["requested"] and not info["loaded"]
    assert "ResNet50_Weights.IMAGENET1K_V1" in info["message"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_model("resnet50").weights_info["requested"] is False
