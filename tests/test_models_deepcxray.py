"""DeepCXray's network: outputs, input scaling, the head on each Table 6 backbone, CAMs."""

from __future__ import annotations

import pytest
import torch

from covidnb.models import build_model, count_parameters, main_output


def test_tiny_outputs_aux_and_gradients():
    m = build_model("deepcxray", backbone="tiny", width=4)
    x = torch.rand(3, 1, 32, 32)
    findings, normal = m(x)
    assert findings.shape == (3, 14) and normal.shape == (3, 1)
    assert main_output(m(x)).shape == (3, 14)
    (findings.sum() + normal.sum()).backward()
    assert all(p.grad is not None for p in m.parameters())
    plain = build_model("deepcxray", backbone="tiny", width=4, aux=False)
    assert isinstance(plain(x), torch.Tensor) and plain.normal_head is None


def test_input_is_scaled_to_minus_one_one_and_copied_to_three_channels():
    m = build_model("deepcxray", backbone="tiny", width=4)
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    got = m.prepare(x)
    assert got.shape == (1, 3, 1, 3) and got[0, :, 0].tolist() == [[-1.0, 0.0, 1.0]] * 3


def test_cam_averages_to_the_logits():
    # linear head after global average pooling: logit_k = mean_hw(CAM_k) + bias_k
    m = build_model("deepcxray", backbone="tiny", width=4).eval()
    x = torch.rand(2, 1, 32, 32)
    cam = m.cam(x)
    with torch.no_grad():
        logits = m(x)[0]
    torch.testing.assert_close(cam.mean(dim=(2, 3)) + m.head.bias, logits, rtol=1e-4, atol=1e-5)
    assert m.cam(x, index=5).shape == (2, 1, 8, 8)  # 32 px pooled twice


def test_inception_v3_at_its_smallest_input():
    m = build_model("deepcxray", backbone="inception_v3").eval()
    with torch.no_grad():
        findings, normal = m(torch.rand(1, 1, 75, 75))
    assert findings.shape == (1, 14) and normal.shape == (1, 1)
    assert m.weights_info["loaded"] is False


@pytest.mark.parametrize("backbone, torchvision_total, fc", [
    ("resnet50", 25_557_032, 2048 * 1000 + 1000),
    ("inception_v3", 23_834_568, 2048 * 1000 + 1000),  # torchvision count without the aux classifier
])
def test_parameter_counts_are_torchvision_minus_fc_plus_our_head(backbone, torchvision_total, fc):
    m = build_model("deepcxray", backbone=backbone)
    head = 2048 * 14 + 14 + 2048 + 1
    assert count_parameters(m) == torchvision_total - fc + head


def test_unknown_backbone_and_channels_are_named():
    with pytest.raises(ValueError, match="unknown DeepCXray backbone 'densenet'"):
        build_model("deepcxray", backbone="densenet")
    with pytest.raises(ValueError, match="in_channels=2"):
        build_model("deepcxray", backbone="tiny", in_channels=2)
