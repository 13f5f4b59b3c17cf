"""3-D CT volumes with lung and infection masks (NIfTI, read with nibabel).

- :class:`VolumeDataset`: the generic form — per sample an image volume and optional lung /
  infection masks, reoriented to the closest canonical (RAS) orientation and returned as
  ``1×D×H×W`` with D = inferior→superior, H = anterior→posterior, W = patient right→left
  (radiological display), resampled to ``volume_size`` (linear for images, nearest for masks).
  Intensities: a linear HU window mapped to [0, 1] (``hu_window``; ``None`` → min–max).
- :func:`covid19_ct_seg` (Ma et al. 2020, Zenodo 3757476): images and masks in three folders,
  matched by a case key.
- :class:`MosMedData` (Morozov et al. 2020, arXiv:2005.06465): ``dataset_registry.csv`` (UTF-8
  BOM, CRLF) with CT-0…CT-4 severity categories; ``masks_only=True`` loads the 50 infection
  masks without their volumes (what ``../shared/data/mosmeddata-masks`` holds). Without the
  volumes and without ``masks_only`` a :class:`VolumesMissing` error says so.

MosMedData has no lung masks; pass ``lung_mask_fn(volume_hu) -> mask`` (e.g. a HU-threshold
lung mask from ``covidnb.data.ct_preprocess``) to compute one, otherwise ``lung_mask`` is all
zero and ``has_lung_mask`` is False.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from covidnb.data.base import (
    BaseDataset,
    Record,
    manifest_defaults,
    record_columns,
    relative_id,
    require_all_split,
    resolve_present,
)
from covidnb.data.locate import DatasetNotFound
from covidnb.data.manifest import load_manifest
from covidnb.data.tables import require_file

log = logging.getLogger("covidnb.data")

DEFAULT_HU_WINDOW = (-1250.0, 250.0)  # lung window: level -500, width 1500


class VolumesMissing(DatasetNotFound):
    """The label/mask files are present but the CT volumes are not."""

    def __init__(self, name: str, root: Path, n_listed: int, how_to_get: str, hint: str = ""):
        self.name, self.roots, self.how_to_get = name, [root], how_to_get
        msg = (
            f"{name}: none of the {n_listed} CT volumes listed under {root} is present "
            f"(only labels/masks are).{(' ' + hint) if hint else ''}\n"
            f"How to get the volumes:\n{how_to_get}"
        )
        FileNotFoundError.__init__(self, msg)


def _nii_stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def load_nifti(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A NIfTI volume as float32 ``D×H×W`` (axes: module doc) and its (D, H, W) spacing in mm."""
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asanyarray(img.dataobj).astype(np.float32)
    except Exception as exc:  # nibabel / gzip errors for damaged files
        raise ValueError(f"{path}: cannot read NIfTI volume ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    zooms = img.header.get_zooms()[:3]
    # RAS (x→right, y→anterior, z→superior) to D×H×W = z, anterior-first rows, right-first columns.
    vol = np.ascontiguousarray(data.transpose(2, 1, 0)[:, ::-1, ::-1])
    return vol, (float(zooms[2]), float(zooms[1]), float(zooms[0]))


def resample(volume: np.ndarray, size: Sequence[int], order: int) -> np.ndarray:
    """Resize to ``size`` (order 1: linear for images; 0: nearest for masks)."""
    from skimage.transform import resize

    if tuple(volume.shape) == tuple(size):
        return volume
    return resize(
        volume,
        tuple(size),
        order=order,
        preserve_range=True,
        anti_aliasing=(order > 0),
        mode="edge",
    ).astype(volume.dtype if order == 0 else np.float32)


def window(volume: np.ndarray, hu_window: tuple[float, float] | None) -> np.ndarray:
    if hu_window is None:
        lo, hi = float(volume.min()), float(volume.max())
    else:
        lo, hi = hu_window
    if hi <= lo:
        return np.zeros_like(volume, dtype=np.float32)
    return np.clip((volume - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


class VolumeDataset(BaseDataset):
    """Volumes (``image`` ``1×D×H×W`` in [0, 1]) with ``lung_mask`` and ``infection_mask``
    (uint8 ``1×D×H×W``). Paths may be ``None`` for absent masks (returned all zero).

    ``masks_only=True``: no image volumes; ``image`` is the infection mask as float (so shapes
    flow through the same code) and ``masks_only`` is recorded in ``info()``.
    """

    _per_sample = BaseDataset._per_sample + ("image_paths", "lung_paths", "infection_paths")

    def __init__(
        self,
        *,
        image_paths: Sequence[Path | None],
        lung_paths: Sequence[Path | None] | None = None,
        infection_paths: Sequence[Path | None] | None = None,
        volume_size: Sequence[int] = (64, 128, 128),
        hu_window: tuple[float, float] | None = DEFAULT_HU_WINDOW,
        masks_only: bool = False,
        lung_mask_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        **kw,
    ):
        super().__init__(**kw)
        n = len(self.sample_ids)
        self.image_paths = list(image_paths)
        self.lung_paths = list(lung_paths) if lung_paths is not None else [None] * n
        self.infection_paths = list(infection_paths) if infection_paths is not None else [None] * n
        self.volume_size = tuple(int(s) for s in volume_size)
        self.hu_window = hu_window
        self.masks_only = masks_only
        self.lung_mask_fn = lung_mask_fn
        self.has_lung_mask = lung_mask_fn is not None or any(p is not None for p in self.lung_paths)

    def _mask(self, path: Path | None) -> np.ndarray:
        if path is None:
            return np.zeros(self.volume_size, np.uint8)
        vol, _ = load_nifti(path)
        return resample((vol > 0).astype(np.uint8), self.volume_size, order=0)

    def _load(self, i: int) -> dict[str, Any]:
        infection = self._mask(self.infection_paths[i])
        if self.masks_only:
            image = infection.astype(np.float32)
            lung = self._mask(self.lung_paths[i])
        else:
            hu, _ = load_nifti(self.image_paths[i])
            image = resample(window(hu, self.hu_window), self.volume_size, order=1)
            if self.lung_paths[i] is None and self.lung_mask_fn is not None:
                lung = resample(
                    (np.asarray(self.lung_mask_fn(hu)) > 0).astype(np.uint8),
                    self.volume_size,
                    order=0,
                )
            else:
                lung = self._mask(self.lung_paths[i])
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None],
            "lung_mask": torch.from_numpy(np.ascontiguousarray(lung, dtype=np.uint8))[None],
            "infection_mask": torch.from_numpy(np.ascontiguousarray(infection, dtype=np.uint8))[
                None
            ],
        }

    def _files(self, i: int) -> list[Path]:
        paths = [] if self.masks_only else [self.image_paths[i]]
        return [p for p in paths + [self.lung_paths[i], self.infection_paths[i]] if p is not None]

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["masks_only"] = self.masks_only
        out["volume_size"] = list(self.volume_size)
        return out


def default_volume_size(image_size: int) -> tuple[int, int, int]:
    """``(max(16, image_size // 4), image_size, image_size)``: thick-slice CT keeps few slices."""
    return (max(16, image_size // 4), image_size, image_size)


# ---------------------------------------------------------------------------------------------
# COVID-19-CT-Seg (folders of volumes and masks matched by a case key)
# ---------------------------------------------------------------------------------------------
def case_key(path: Path, strip: Sequence[str]) -> str:
    key = _nii_stem(path)
    for s in strip:
        key = key.replace(s, "")
    return key.replace("-", "_")


def index_volume_folders(
    root: str | os.PathLike, options: dict[str, Any], classes: list[str], split: str = "all"
) -> list[Record]:
    require_all_split(split, root)
    root = Path(root)
    strip = options.get("key_strip", [])
    image_dir = root / options["image_dir"]
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir}: folder of CT volumes does not exist")

    def by_key(sub: str | None) -> dict[str, Path]:
        if not sub or not (root / sub).is_dir():
            return {}
        return {case_key(p, strip): p for p in sorted((root / sub).glob("*.nii*"))}

    lungs, infections = by_key(options.get("lung_dir")), by_key(options.get("infection_dir"))
    label = classes.index(options.get("label", classes[-1]))
    records = []
    for p in sorted(image_dir.glob("*.nii*")):
        k = case_key(p, strip)
        records.append(
            Record(
                path=p,
                label=label,
                sample_id=relative_id(p, root),
                patient_id=k,
                origin=str(image_dir),
                extra={"lung": lungs.get(k), "infection": infections.get(k)},
            )
        )
    return records


def covid19_ct_seg(
    root: str | os.PathLike,
    split: str = "all",
    *,
    name: str = "covid-19-ct-seg",
    classes: list[str] | None = None,
    options: dict[str, Any] | None = None,
    image_size: int = 224,
    volume_size: Sequence[int] | None = None,
    transform=None,
    hu_window=DEFAULT_HU_WINDOW,
    lung_mask_fn=None,
    strict: bool = True,
    **_: Any,
) -> VolumeDataset:
    """COVID-19-CT-Seg (20 volumes, lung and infection masks) as a :class:`VolumeDataset`."""
    options, classes = manifest_defaults(name, options, classes)
    root = Path(root)
    records = resolve_present(
        index_volume_folders(root, options, classes, split), strict=strict, what=name
    )
    return VolumeDataset(
        name=name,
        split=split,
        classes=classes,
        root=root,
        **record_columns(records),
        sources=name,
        image_paths=[r.path for r in records],
        lung_paths=[r.extra["lung"] for r in records],
        infection_paths=[r.extra["infection"] for r in records],
        volume_size=volume_size or default_volume_size(image_size),
        hu_window=hu_window,
        lung_mask_fn=lung_mask_fn,
        transform=transform,
        image_size=image_size,
        channels=1,
    )


# ---------------------------------------------------------------------------------------------
# MosMedData
# ---------------------------------------------------------------------------------------------
def read_mosmed_registry(path: str | os.PathLike) -> list[dict[str, str]]:
    """``dataset_registry.csv`` rows (``study_id, category, study_file, mask_file``); the UTF-8
    BOM and CRLF line endings of the release are handled."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    need = {"study_id", "category", "study_file", "mask_file"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(
            f"{path}: expected columns {sorted(need)}, got {sorted(rows[0]) if rows else 'no rows'}"
        )
    return rows


def index_mosmed(
    root: str | os.PathLike,
    options: dict[str, Any],
    classes: list[str],
    split: str = "all",
    masks_only: bool = False,
) -> list[Record]:
    require_all_split(split, root, who="MosMedData")
    root = Path(root)
    reg = require_file(
        root / options.get("registry", "dataset_registry.csv"), "MosMedData registry"
    )
    records = []
    for lineno, row in enumerate(read_mosmed_registry(reg), start=2):
        mask = root / row["mask_file"].strip().lstrip("/") if row["mask_file"].strip() else None
        study = root / row["study_file"].strip().lstrip("/")
        if masks_only and mask is None:
            continue
        main = mask if masks_only else study
        cat = row["category"].strip()
        if cat not in classes:
            raise ValueError(f"{reg}:{lineno}: category {cat!r} is not one of {classes}")
        records.append(
            Record(
                path=main,
                label=classes.index(cat),
                sample_id=relative_id(main, root),
                patient_id=f"study_{int(row['study_id']):04d}",
                origin=f"{reg}:{lineno}",
                # masks-only copies hold no volumes: do not reference them
                extra={"study": None if masks_only else study, "mask": mask},
            )
        )
    return records


class MosMedData(VolumeDataset):
    """MosMedData COVID19_1110: CT-0…CT-4 severity classes; infection masks for 50 studies.

    ``masks_only=True`` loads only the studies with a mask, without their volumes.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "all",
        *,
        name: str = "mosmeddata",
        classes: list[str] | None = None,
        options: dict[str, Any] | None = None,
        masks_only: bool = False,
        image_size: int = 224,
        volume_size: Sequence[int] | None = None,
        transform=None,
        hu_window=DEFAULT_HU_WINDOW,
        lung_mask_fn=None,
        strict: bool = False,
        with_masks_only: bool = False,
        **_: Any,
    ):
        man = load_manifest(name)  # always: its how_to_get() names where the volumes are
        options, classes = manifest_defaults(name, options, classes)
        root = Path(root)
        records = index_mosmed(root, options, classes, split, masks_only=masks_only)
        if not masks_only:
            if records and not any(r.path.is_file() for r in records):
                n_masks = sum(
                    1 for r in records if r.extra["mask"] is not None and r.extra["mask"].is_file()
                )
                raise VolumesMissing(
                    name,
                    root,
                    len(records),
                    man.how_to_get(),
                    hint=(
                        f"{n_masks} infection masks are present: pass masks_only=True to "
                        "load them without volumes."
                    )
                    if n_masks
                    else "",
                )
            if with_masks_only:
                records = [r for r in records if r.extra["mask"] is not None]
        records = resolve_present(records, strict=strict, what=f"{name}/{split}")
        super().__init__(
            name=name,
            split=split,
            classes=classes,
            root=root,
            **record_columns(records),
            sources=name,
            image_paths=[None if masks_only else r.extra["study"] for r in records],
            lung_paths=None,
            infection_paths=[
                r.extra["mask"]
                if r.extra["mask"] is not None and r.extra["mask"].is_file()
                else None
                for r in records
            ],
            volume_size=volume_size or default_volume_size(image_size),
            hu_window=hu_window,
            masks_only=masks_only,
            lung_mask_fn=lung_mask_fn,
            transform=transform,
            image_size=image_size,
            channels=1,
        )
