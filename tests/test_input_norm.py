"""Per-image input standardisation (covidnb.models.input_norm)."""

import pytest
import torch

from covidnb.models import build_model
from covidnb.models.input_norm import standardise_per_image


def test_standardise_values_worked_by_hand():
    # one 1×1×2×2 image [0, 2, 4, 6]: mean 3, population std sqrt(5)
    x = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])
    want = (x - 3.0) / (5.0 ** 0.5 + 1e-6)
    assert torch.allclose(standardise_per_image(x), want, atol=1e-6)


def test_each_image_of_a_batch_is_standardised_on_its_own():
    x = torch.stack([torch.rand(1, 8, 8), 10 + 5 * torch.rand(1, 8, 8)])
    y = standardise_per_image(x)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y.std(dim=(1, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)


def test_model_with_input_norm_ignores_brightness_and_contrast():
    torch.manual_seed(0)
    model = build_model("simplecnn", in_channels=1, num_classes=1, input_norm="per_image").eval()
    plain = build_model("simplecnn", in_channels=1, num_classes=1).eval()
    plain.load_state_dict(model.state_dict())  # same layers and names: the hook adds no weights
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), model(0.5 * x + 0.3), atol=1e-4)
        assert not torch.allclose(plain(x), plain(0.5 * x + 0.3), atol=1e-4)


def test_gradients_pass_through_the_hook():
    model = build_model("simplecnn", in_channels=1, num_classes=1, input_norm="per_image")
    x = torch.rand(2, 1, 32, 32, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_unknown_input_norm_is_refused():
    with pytest.raises(ValueError, match="input_norm 'batch' is unknown"):
        build_model("simplecnn", in_channels=1, num_classes=1, input_norm="batch")
