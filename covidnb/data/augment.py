"""Training-time augmentations, by chapter name: ``get_augmentation("dresunet", image_size)``.

``dresunet`` (Xu 2021 thesis §4.2): each training image is "randomly cropped with a scale of
0.5, horizontally flipped, random contrast, and random luminance with a factor of 0.2". Our
reading, in ``torchvision.transforms.v2`` on ``C×H×W`` float tensors in [0, 1] (the dataset has
already resized them to ``image_size``): ``RandomResizedCrop(image_size, scale=(0.5, 1))`` (a crop
of 50–100 % of the area, default aspect range, resized back; antialiased bilinear),
``RandomHorizontalFlip()`` (p = 0.5), ``ColorJitter(brightness=0.2, contrast=0.2)`` (factors drawn
from [0.8, 1.2]; torchvision clamps float images to [0, 1]). Mixup (§3.2) acts on batches and is
in ``covidnb.train.mixing``.
"""

from __future__ import annotations

from collections.abc import Callable

from torchvision.transforms import v2


def dresunet_augmentation(image_size: int) -> v2.Compose:
    return v2.Compose([
        v2.RandomResizedCrop(image_size, scale=(0.5, 1.0), antialias=True),
        v2.RandomHorizontalFlip(p=0.5),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])


AUGMENTATIONS: dict[str, Callable[[int], Callable]] = {
    "dresunet": dresunet_augmentation,
}


def get_augmentation(name: str, image_size: int) -> Callable:
    """The training transform registered as ``name``, built for square ``image_size`` inputs."""
    if name not in AUGMENTATIONS:
        raise KeyError(f"unknown augmentation {name!r}; known: {', '.join(sorted(AUGMENTATIONS))}")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        raise ValueError(f"augmentation {name!r}: image_size must be a positive int, got {image_size!r}")
    return AUGMENTATIONS[name](image_size)
