"""The thesis' training augmentation (§4.2) in covidnb.data.augment."""

from __future__ import annotations

import pytest
import torch

from covidnb.data.augment import AUGMENTATIONS, get_augmentation


@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_and_range(channels):
    torch.manual_seed(0)
    aug = get_augmentation("dresunet", 32)
    x = torch.rand(channels, 32, 32)
    for _ in range(20):
        y = aug(x)
        assert y.shape == (channels, 32, 32) and y.dtype == torch.float32
        assert y.min() >= 0.0 and y.max() <= 1.0


def test_it_is_random_and_uses_the_thesis_settings():
    aug = get_augmentation("dresunet", 16)
    names = [type(t).__name__ for t in aug.transforms]
    assert names == ["RandomResizedCrop", "RandomHorizontalFlip", "ColorJitter"]
    crop, _, jitter = aug.transforms
    assert tuple(crop.scale) == (0.5, 1.0)
    assert tuple(jitter.brightness) == pytest.approx((0.8, 1.2))
    assert tuple(jitter.contrast) == pytest.approx((0.8, 1.2))
    x = torch.rand(1, 16, 16)
    torch.manual_seed(0)
    assert not all(torch.equal(aug(x), aug(x)) for _ in range(3))


def test_jitter_clamps_a_white_image():
    # A brightness factor above 1 on an all-ones image would leave [0, 1] without clamping.
    jitter = get_augmentation("dresunet", 8).transforms[2]
    torch.manual_seed(0)
    for _ in range(20):
        y = jitter(torch.ones(1, 8, 8))
        assert y.max() <= 1.0 and y.min() >= 0.0


def test_unknown_name_and_bad_size():
    assert "dresunet" in AUGMENTATIONS
    with pytest.raises(KeyError, match="dresunet"):
        get_augmentation("nope", 32)
    with pytest.raises(ValueError, match="image_size"):
        get_augmentation("dresunet", 0)
