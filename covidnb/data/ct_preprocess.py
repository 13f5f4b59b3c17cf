"""CT slice preprocessing of Hu et al. 2021, §3.1: lung window and lung-parenchyma mask.

1. Window the Hounsfield units at level −400 / width 1500 and scale linearly to [0, 255]
   (:func:`window`): HU −1150 → 0, −400 → 127.5, 350 → 255, clipped outside.
2. Binarise at 170 (≈ −150 HU under that window): air and aerated lung fall below it, soft tissue
   and bone above (:func:`lung_mask`).
3. Remove unrelated regions: an erosion then a dilation (drops specks and thin bridges), a flood
   fill of the air connected to the image border (the air outside the body and under the table),
   then the largest connected regions (the lungs; small dark regions such as the trachea or bowel
   gas are dropped).
4. Fill the holes left by vessels, take the convex hull of each kept region (so juxta-pleural
   lesions and vessels at the lung border are included), and multiply the windowed image by the
   mask (:func:`apply_mask`).

The paper names the operations but not their sizes; ``radius``, ``n_regions`` and
``min_region_fraction`` are this package's choices. The hull is taken per region (per lung): one
hull of both lungs would cover the mediastinum and heart. :func:`preprocess_steps` returns every
intermediate image for a step-by-step figure. All functions work on 2-D arrays (one slice).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import measure, morphology, segmentation

__all__ = [
    "apply_mask",
    "lung_mask",
    "preprocess_ct",
    "preprocess_steps",
    "read_dicom_hu",
    "window",
]

LUNG_LEVEL = -400.0
LUNG_WIDTH = 1500.0
LUNG_THRESHOLD = 170.0


def _as_slice(img, what: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D slice (H×W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr


def window(hu, level: float = LUNG_LEVEL, width: float = LUNG_WIDTH) -> np.ndarray:
    """Hounsfield units → float64 in [0, 255]: linear on ``[level − width/2, level + width/2]``."""
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    hu = np.asarray(hu, dtype=np.float64)
    low = level - width / 2.0
    return np.clip((hu - low) / width * 255.0, 0.0, 255.0)


def _mask_steps(
    windowed: np.ndarray,
    threshold: float,
    radius: int,
    n_regions: int,
    min_region_fraction: float,
    hull: str,
) -> dict[str, np.ndarray]:
    steps: dict[str, np.ndarray] = {}
    binary = windowed < threshold  # dark = air / aerated lung
    steps["binary"] = binary
    footprint = morphology.disk(radius) if radius > 0 else None
    eroded = morphology.erosion(binary, footprint) if footprint is not None else binary
    steps["eroded"] = eroded
    dilated = morphology.dilation(eroded, footprint) if footprint is not None else eroded
    steps["dilated"] = dilated
    # flood fill from the border: removes all air connected to the image edge (outside the body)
    inside = segmentation.clear_border(dilated)
    steps["border_air_removed"] = inside
    labels = measure.label(inside, connectivity=2)
    regions = sorted(measure.regionprops(labels), key=lambda r: r.area, reverse=True)
    keep = np.zeros_like(inside)
    if regions:
        largest = regions[0].area
        for r in regions[:n_regions]:
            if r.area >= min_region_fraction * largest:
                keep[labels == r.label] = True
    steps["largest_regions"] = keep
    filled = ndimage.binary_fill_holes(keep)
    steps["holes_filled"] = filled
    if hull == "per_region":
        mask = morphology.convex_hull_object(filled, connectivity=2) if filled.any() else filled
    elif hull == "union":
        mask = morphology.convex_hull_image(filled) if filled.any() else filled
    elif hull == "none":
        mask = filled
    else:
        raise ValueError(f"hull must be 'per_region', 'union' or 'none', got {hull!r}")
    steps["mask"] = np.asarray(mask, dtype=bool)
    return steps


def lung_mask(
    windowed,
    threshold: float = LUNG_THRESHOLD,
    radius: int = 2,
    n_regions: int = 2,
    min_region_fraction: float = 0.1,
    hull: str = "per_region",
) -> np.ndarray:
    """Boolean lung-parenchyma mask of a windowed slice (values in [0, 255]), §3.1 steps (1)–(3).

    ``radius``: disk radius of the erosion and the dilation; ``n_regions``: how many of the largest
    regions to keep, of which only those at least ``min_region_fraction`` of the largest;
    ``hull``: ``"per_region"`` (default), ``"union"`` or ``"none"``. Warns and returns an empty
    mask when nothing below the threshold lies inside the body.
    """
    arr = _as_slice(windowed, "windowed image").astype(np.float64)
    if arr.min() < 0 or arr.max() > 255:
        raise ValueError(
            f"windowed image must lie in [0, 255] (got [{arr.min():g}, {arr.max():g}]); call window() on HU first"
        )
    mask = _mask_steps(arr, threshold, radius, n_regions, min_region_fraction, hull)["mask"]
    if not mask.any():
        warnings.warn(
            f"lung_mask: no region below {threshold} inside the body; the mask is empty",
            stacklevel=2,
        )
    return mask


def apply_mask(image, mask) -> np.ndarray:
    """The image with everything outside ``mask`` set to 0 (§3.1 step 3: mask × windowed image)."""
    image = _as_slice(image, "image")
    mask = _as_slice(mask, "mask")
    if image.shape != mask.shape:
        raise ValueError(f"image shape {image.shape} and mask shape {mask.shape} differ")
    return image * mask.astype(bool)


def preprocess_steps(
    img,
    hu: bool = True,
    level: float = LUNG_LEVEL,
    width: float = LUNG_WIDTH,
    threshold: float = LUNG_THRESHOLD,
    radius: int = 2,
    n_regions: int = 2,
    min_region_fraction: float = 0.1,
    hull: str = "per_region",
) -> dict[str, np.ndarray]:
    """Every intermediate image of §3.1, in order: ``input``, ``windowed``, ``binary``, ``eroded``,
    ``dilated``, ``border_air_removed``, ``largest_regions``, ``holes_filled``, ``mask``, ``masked``.

    ``hu=False`` takes an image that is already 8-bit (e.g. COVID-CT PNGs): windowing is skipped.
    """
    arr = _as_slice(img, "input image").astype(np.float64)
    steps = {"input": arr}
    if hu:
        windowed = window(arr, level, width)
    else:
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(
                f"hu=False needs an 8-bit image in [0, 255], got [{arr.min():g}, {arr.max():g}]"
            )
        windowed = arr
    steps["windowed"] = windowed
    steps.update(_mask_steps(windowed, threshold, radius, n_regions, min_region_fraction, hull))
    steps["masked"] = apply_mask(windowed, steps["mask"])
    return steps


def preprocess_ct(img, hu: bool = True, **kw) -> np.ndarray:
    """Windowed slice × lung mask, float64 in [0, 255]: the network input of §3.1 before resizing."""
    return preprocess_steps(img, hu=hu, **kw)["masked"]


def read_dicom_hu(path) -> np.ndarray:
    """One DICOM slice in Hounsfield units (pydicom's modality LUT: slope × value + intercept)."""
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError as exc:  # optional dependency
        raise ImportError("reading DICOM needs pydicom: pip install pydicom") from exc
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such DICOM file")
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise ValueError(f"{path}: the DICOM file has no pixel data")
    return np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float64)
