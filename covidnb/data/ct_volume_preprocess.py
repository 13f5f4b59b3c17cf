"""Whole-volume CT preprocessing of Ouyang et al. 2020, §IV-B, with MONAI transforms, and a
classical HU-threshold lung mask for volumes that ship without one.

The paper's steps, in its order:

1. resample image and masks to the spacing (0.7168, 0.7168, 1.25) mm (x, y, z);
2. downsample by one factor in all three axes to "about half size";
3. zero-pad to 138 × 256 × 256 (z, y, x);
4. window to [−1350, 150] HU (level −600, width 1500) and scale to [0, 1];
5. mask with the lung mask.

Readings (the paper does not say):

- Steps 1 and 2 are one resampling here, to ``spacing / factor`` (0.5 → 1.4336, 1.4336, 2.5 mm):
  resampling to 0.7168 mm and then halving every axis lands on the same grid with one
  interpolation instead of two (and a whole thorax at 0.7168 mm is ~500² × 270 voxels, which a
  2-core notebook should not build). :func:`shape_at` gives the intermediate size.
- Where a volume is larger than the target after downsampling it is centre-cropped (the paper
  chose its factor so that its volumes fit); the crop is reported in the steps.
- "Zero-pad" is read in the scaled image: padding is added after windowing, so padded voxels
  are 0 like air (padding raw HU with 0 would make them 0.9, water).
- Masking order (``mask_order``): ``"after_scaling"`` (default) sets non-lung voxels to 0 after
  step 4; ``"before_windowing"`` sets raw HU outside the lung to 0 first, which step 4 then maps
  to (0 + 1350) / 1500 = 0.9. :func:`preprocess` returns both for display.

Axes: MONAI's ``Orientation(axcodes="SPL")`` puts the array in the ``D×H×W`` order of
:mod:`covidnb.data.volumes` (D inferior→superior, H anterior→posterior, W patient right→left),
so every step here can be shown with the same axial/coronal views.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["PAPER", "CTPreprocess", "hu_lung_mask", "preprocess", "shape_at", "window_scale"]

CANONICAL_AXCODES = "SPL"  # D×H×W of covidnb.data.volumes


@dataclass(frozen=True)
class CTPreprocess:
    """The §IV-B settings (spacing and target in D, H, W order = z, y, x)."""

    spacing: tuple[float, float, float] = (1.25, 0.7168, 0.7168)
    factor: float = 0.5
    target_size: tuple[int, int, int] = (138, 256, 256)
    hu_window: tuple[float, float] = (-1350.0, 150.0)
    mask_order: str = "after_scaling"

    def __post_init__(self) -> None:
        if not 0 < self.factor <= 1:
            raise ValueError(f"downsampling factor must lie in (0, 1], got {self.factor}")
        if self.mask_order not in ("after_scaling", "before_windowing", "none"):
            raise ValueError("mask_order must be 'after_scaling', 'before_windowing' or 'none', "
                             f"got {self.mask_order!r}")
        if self.hu_window[1] <= self.hu_window[0]:
            raise ValueError(f"HU window {self.hu_window} is empty")

    @property
    def working_spacing(self) -> tuple[float, float, float]:
        return tuple(s / self.factor for s in self.spacing)


PAPER = CTPreprocess()


def shape_at(shape: Sequence[int], spacing: Sequence[float], new_spacing: Sequence[float]) -> tuple:
    """The ``D×H×W`` size of a volume of ``shape`` at ``spacing`` once resampled to
    ``new_spacing`` (the extent kept, rounded as MONAI's ``Spacing`` rounds)."""
    return tuple(max(1, round(n * s / t)) for n, s, t in zip(shape, spacing, new_spacing))


def window_scale(hu, hu_window: tuple[float, float] = PAPER.hu_window) -> np.ndarray:
    """Clip HU to the window and scale linearly to [0, 1] (step 4); uses MONAI's
    ``ScaleIntensityRange``."""
    from monai.transforms import ScaleIntensityRange

    lo, hi = hu_window
    out = ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True)(
        np.asarray(hu, dtype=np.float32))
    return np.asarray(out, dtype=np.float32)


def hu_lung_mask(hu, spacing: Sequence[float] = (1.0, 1.0, 1.0), threshold: float = -320.0,
                 n_regions: int = 2, min_region_fraction: float = 0.1,
                 min_volume_ml: float = 5.0) -> np.ndarray:
    """A classical lung mask of a ``D×H×W`` HU volume (the paper's masks came from a non-public
    toolkit).

    Voxels below ``threshold`` HU (air and aerated lung, not soft tissue) → per axial slice, drop
    the air connected to the in-plane border (outside the body; done per slice because the lungs
    reach the first and last slice of a slab) → 3-D components, keep the ``n_regions`` largest
    that hold at least ``min_region_fraction`` of the largest and ``min_volume_ml`` → fill holes
    (vessels, nodules, dense lesions inside the lung) per slice. Consolidations touching the
    pleura stay outside, as with any threshold mask: infection ratios computed against this mask
    are approximate.
    """
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"hu_lung_mask needs a D×H×W volume, got shape {hu.shape}")
    air = hu < threshold
    inside = np.zeros_like(air)
    for k in range(air.shape[0]):
        lab, n = ndimage.label(air[k])
        if n == 0:
            continue
        edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        inside[k] = air[k] & ~np.isin(lab, edge)
    inside = ndimage.binary_opening(inside, structure=np.ones((1, 3, 3), bool))
    lab, n = ndimage.label(inside)
    mask = np.zeros_like(inside)
    if n:
        sizes = np.bincount(lab.ravel())[1:]
        voxel_ml = float(np.prod(spacing)) / 1000.0
        order = np.argsort(sizes)[::-1][:n_regions]
        for j in order:
            if sizes[j] >= min_region_fraction * sizes[order[0]] and sizes[j] * voxel_ml >= min_volume_ml:
                mask |= lab == j + 1
    for k in range(mask.shape[0]):
        mask[k] = ndimage.binary_fill_holes(mask[k])
    return mask.astype(np.uint8)


def _metatensor(volume: np.ndarray, spacing: Sequence[float]):
    """A channel-first MetaTensor of a canonical ``D×H×W`` volume. Its affine maps (D, H, W)
    to RAS (+D superior, +H posterior, +W left), so MONAI's orientation codes read 'SPL'."""
    from monai.data import MetaTensor

    d, h, w = (float(s) for s in spacing)
    affine = np.array([[0, 0, -w, 0], [0, -h, 0, 0], [d, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    return MetaTensor(np.ascontiguousarray(volume, dtype=np.float32)[None], affine=affine)


@dataclass
class Preprocessed:
    """Every intermediate volume (``D×H×W``) of :func:`preprocess` and the facts of each step."""

    steps: dict[str, np.ndarray] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        return self.steps["input"]


def preprocess(hu, spacing: Sequence[float], lung=None, infection=None,
               settings: CTPreprocess = PAPER, lung_mask_fn=hu_lung_mask) -> Preprocessed:
    """§IV-B on one canonical HU volume (``D×H×W``, spacing in mm, D/H/W order).

    ``lung`` / ``infection``: masks on the same grid (``None``: the lung mask is computed with
    ``lung_mask_fn`` on the resampled HU, the infection mask stays absent). Returns
    :class:`Preprocessed` with ``steps``: ``hu`` (input), ``resampled_hu``, ``windowed``,
    ``padded``, ``lung``, ``infection`` (if given), ``masked_after_scaling``,
    ``masked_before_windowing`` and ``input`` (the network input under ``settings.mask_order``);
    ``facts``: shapes, spacings, crop, mask source.
    """
    from monai.transforms import Compose, Orientationd, ResizeWithPadOrCropd, Spacingd

    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim != 3 or len(spacing) != 3:
        raise ValueError(f"preprocess needs a D×H×W volume and 3 spacings, got {hu.shape}, {spacing}")
    keys = ["hu"] + (["lung"] if lung is not None else []) + (["infection"] if infection is not None else [])
    data = {"hu": _metatensor(hu, spacing)}
    for k, m in (("lung", lung), ("infection", infection)):
        if m is not None:
            if np.shape(m) != hu.shape:
                raise ValueError(f"{k} mask shape {np.shape(m)} differs from the volume's {hu.shape}")
            data[k] = _metatensor((np.asarray(m) > 0).astype(np.float32), spacing)
    modes = ["bilinear"] + ["nearest"] * (len(keys) - 1)
    resample = Compose([
        Orientationd(keys=keys, axcodes=CANONICAL_AXCODES, labels=None),  # RAS space
        Spacingd(keys=keys, pixdim=settings.working_spacing, mode=modes, padding_mode="border",
                 dtype=np.float32),
    ])
    out = resample(data)
    res = {k: np.asarray(out[k][0], dtype=np.float32) for k in keys}
    facts: dict[str, Any] = {
        "input_shape": tuple(hu.shape), "input_spacing": tuple(float(s) for s in spacing),
        "shape_at_paper_spacing": shape_at(hu.shape, spacing, settings.spacing),
        "working_spacing": tuple(round(s, 4) for s in settings.working_spacing),
        "resampled_shape": tuple(res["hu"].shape), "target_size": tuple(settings.target_size),
    }
    if lung is None:
        res["lung"] = lung_mask_fn(res["hu"], settings.working_spacing).astype(np.float32)
        facts["lung_mask"] = f"HU threshold ({getattr(lung_mask_fn, '__name__', 'lung_mask_fn')})"
    else:
        facts["lung_mask"] = "given"
    crop = [max(0, r - t) for r, t in zip(res["hu"].shape, settings.target_size)]
    facts["cropped_voxels"] = tuple(crop)
    if any(crop):
        warnings.warn(f"volume of {res['hu'].shape} voxels after downsampling exceeds the target "
                      f"{settings.target_size}: centre-cropped by {tuple(crop)}", stacklevel=2)
    windowed = window_scale(res["hu"], settings.hu_window)
    lo, hi = settings.hu_window
    before = window_scale(np.where(res["lung"] > 0, res["hu"], 0.0), settings.hu_window)
    fit = ResizeWithPadOrCropd(keys=["w", "b", "lung"] + (["infection"] if "infection" in res else []),
                               spatial_size=settings.target_size, mode="constant", value=0.0)
    padded = fit({"w": windowed[None], "b": before[None], "lung": res["lung"][None],
                  **({"infection": res["infection"][None]} if "infection" in res else {})})
    p = {k: np.asarray(v[0], dtype=np.float32) for k, v in padded.items()}
    lung_p = (p["lung"] > 0.5).astype(np.uint8)
    steps = {
        "hu": hu, "resampled_hu": res["hu"], "windowed": windowed, "padded": p["w"],
        "lung": lung_p,
        "masked_after_scaling": p["w"] * lung_p,
        "masked_before_windowing": p["b"],  # pad stays 0: padding is outside the body
    }
    if "infection" in p:
        steps["infection"] = (p["infection"] > 0.5).astype(np.uint8)
    steps["input"] = {"after_scaling": steps["masked_after_scaling"],
                      "before_windowing": steps["masked_before_windowing"],
                      "none": steps["padded"]}[settings.mask_order]
    facts["non_lung_value"] = {"after_scaling": 0.0, "before_windowing": (0.0 - lo) / (hi - lo)}
    facts["lung_volume_ml"] = float(lung_p.sum() * math.prod(settings.working_spacing) / 1000.0)
    return Preprocessed(steps, facts)
