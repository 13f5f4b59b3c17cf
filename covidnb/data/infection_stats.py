"""Infection statistics of CT masks (Ouyang et al. 2020, §III-C and §IV-E): lesion volume in
mm³, connected lesions per scan, and the infection ratio = infection volume / lung volume that
defines the size groups of the sampler and of Table III.

The ratio needs a lung volume. Where a dataset ships lung masks (COVID-19-CT-Seg, the phantoms)
it is computed; where only infection masks exist without their CT volumes (the staged MosMed
masks) there is neither a lung mask nor an image to compute one from, and the ratio is NaN with
the reason in ``ratio_note`` — never 0, which would read as "no infection".
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "NO_LUNG",
    "RATIO_BINS",
    "infection_ratio",
    "lesion_components",
    "mask_stats",
    "mask_table",
    "ratio_group",
]

# Table III's groups of the infection ratio (§IV-E)
RATIO_BINS = (0.005, 0.030)
RATIO_LABELS = ("< 0.005", "0.005 - 0.030", "> 0.030")
NO_LUNG = "no lung mask and no CT volume to compute one from: the ratio is undefined"


def lesion_components(mask, connectivity: int = 26) -> tuple[int, np.ndarray]:
    """Number of connected lesions of a binary ``D×H×W`` mask and their voxel counts (largest
    first). ``connectivity``: 6 (faces) or 26 (faces, edges and corners)."""
    mask = np.asarray(mask) > 0
    if mask.ndim != 3:
        raise ValueError(f"lesion_components needs a D×H×W mask, got shape {mask.shape}")
    if connectivity not in (6, 26):
        raise ValueError(f"connectivity must be 6 or 26, got {connectivity}")
    structure = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    labels, n = ndimage.label(mask, structure=structure)
    sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1] if n else np.zeros(0, int)
    return int(n), sizes


def infection_ratio(infection, lung) -> float:
    """Infected lung voxels / lung voxels (§III-C); infection outside the lung mask is not
    counted. NaN when the lung mask is empty."""
    infection, lung = np.asarray(infection) > 0, np.asarray(lung) > 0
    if infection.shape != lung.shape:
        raise ValueError(f"infection mask {infection.shape} and lung mask {lung.shape} differ")
    n_lung = int(lung.sum())
    return float((infection & lung).sum() / n_lung) if n_lung else math.nan


def ratio_group(ratio: float) -> str:
    """Table III's group label of a ratio (NaN → "undefined")."""
    if ratio is None or not np.isfinite(ratio):
        return "undefined"
    if ratio < RATIO_BINS[0]:
        return RATIO_LABELS[0]
    return RATIO_LABELS[1] if ratio <= RATIO_BINS[1] else RATIO_LABELS[2]


def mask_stats(infection, spacing: Sequence[float], lung=None, connectivity: int = 26) -> dict:
    """Statistics of one scan's masks (``D×H×W``, ``spacing`` in mm, D/H/W order);
    ``components`` at ``connectivity``, ``components_6`` face-connected (thick slices split a
    lesion more under 6-connectivity)."""
    voxel_mm3 = float(np.prod(spacing))
    n, sizes = lesion_components(infection, connectivity)
    inf = np.asarray(infection) > 0
    out = {
        "shape": tuple(inf.shape), "spacing_mm": tuple(round(float(s), 4) for s in spacing),
        "voxel_mm3": voxel_mm3, "lesion_voxels": int(inf.sum()),
        "lesion_volume_mm3": float(inf.sum() * voxel_mm3), "components": n,
        "components_6": lesion_components(inf, 6)[0] if connectivity != 6 else n,
        "largest_component_mm3": float(sizes[0] * voxel_mm3) if n else 0.0,
        "slices_with_lesion": int(inf.any(axis=(1, 2)).sum()),
    }
    if lung is None:
        out.update(lung_volume_mm3=math.nan, infection_ratio=math.nan, ratio_note=NO_LUNG)
    else:
        out.update(lung_volume_mm3=float((np.asarray(lung) > 0).sum() * voxel_mm3),
                   infection_ratio=infection_ratio(inf, lung), ratio_note="")
    out["group"] = ratio_group(out["infection_ratio"])
    return out


def mask_table(paths: Iterable[str | os.PathLike], lung_paths: Iterable | None = None,
               connectivity: int = 26) -> pd.DataFrame:
    """One row of :func:`mask_stats` per NIfTI mask file (read at its own spacing, not
    resampled), with the ``file``."""
    from covidnb.data.volumes import load_nifti

    paths = [Path(p) for p in paths]
    lungs = list(lung_paths) if lung_paths is not None else [None] * len(paths)
    rows = []
    for p, lp in zip(paths, lungs):
        inf, spacing = load_nifti(p)
        if not set(np.unique(inf)) <= {0.0, 1.0}:
            raise ValueError(f"{p}: an infection mask should hold 0 and 1, got values "
                             f"{np.unique(inf)[:6].tolist()}")
        lung = None if lp is None else load_nifti(lp)[0]
        rows.append({"file": p.name, **mask_stats(inf, spacing, lung, connectivity)})
    return pd.DataFrame(rows)
