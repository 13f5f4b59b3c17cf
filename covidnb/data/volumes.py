"""3-D CT volumes with lung and infection masks (NIfTI read with nibabel, DICOM series with
pydicom through :mod:`covidnb.data.dicom_series`; both end in :func:`canonical_volume`).

- :class:`VolumeDataset`: the generic form — per sample an image volume and optional lung /
  infection masks, reoriented to the closest canonical (RAS) orientation and returned as
  ``1×D×H×W`` with D = inferior→superior, H = anterior→posterior, W = patient right→left
  (radiological display), resampled to ``volume_size`` (linear for images, nearest for masks).
  Intensities: a linear HU window mapped to [0, 1] (``hu_window``; ``None`` → min–max).
- :class:`COVID19CTSeg` (Ma et al. 2020, Zenodo 3757476): images and masks in three folders,
  matched by a case key. The same loader kind (``volumes``) also reads a layout of labelled
  globs (loader option ``series``, :func:`index_series`): MIDRC-RICORD and LIDC-IDRI as TCIA
  downloads them (one DICOM series folder per sample) and as staged here.
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
from typing import Any, ClassVar

import numpy as np
import torch

from covidnb.data.base import BaseDataset
from covidnb.data.locate import DatasetNotFound
from covidnb.data.records import Record, relative_id
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
        img = nib.load(str(path))
    except Exception as exc:  # nibabel / gzip errors for damaged files
        raise ValueError(f"{path}: cannot read NIfTI volume ({type(exc).__name__}: {exc})") from exc
    return canonical_volume(img, path)


def canonical_volume(img, path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A nibabel image reoriented to the closest RAS and returned as float32 ``D×H×W`` with its
    (D, H, W) spacing in mm (``path`` only names the source in errors). NIfTI files and DICOM
    series (:mod:`covidnb.data.dicom_series`) both end here, so their axes agree."""
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj).astype(np.float32)
    except Exception as exc:  # nibabel / gzip errors for damaged files
        raise ValueError(f"{path}: cannot read volume ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    zooms = img.header.get_zooms()[:3]
    # RAS (x→right, y→anterior, z→superior) to D×H×W = z, anterior-first rows, right-first columns.
    vol = np.ascontiguousarray(data.transpose(2, 1, 0)[:, ::-1, ::-1])
    return vol, (float(zooms[2]), float(zooms[1]), float(zooms[0]))


def is_dicom_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a DICOM series: a folder, or a ``.dcm`` file standing for its
    folder (the first file of the series, as the dataset records list it)."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() == ".dcm"


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float, float]]:
    """HU ``D×H×W`` and (D, H, W) spacing of a NIfTI file or a DICOM series (a folder, or one
    ``.dcm`` file of it: the whole folder is read)."""
    p = Path(path)
    if is_dicom_path(p):
        from covidnb.data.dicom_series import read_dicom_series

        return read_dicom_series(p if p.is_dir() else p.parent)
    return load_nifti(p)


def series_files(path: Path) -> list[Path]:
    """Every file a volume reads: the NIfTI file, or every ``.dcm`` beside a series' first file."""
    if path.suffix.lower() == ".dcm":
        return sorted(path.parent.glob("*.dcm"))
    return [path]


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
    (uint8 ``1×D×H×W``), the loader of the volume datasets. A layout's records name the image
    volume (``path``) and its masks (``extra["lung"]``, ``extra["infection"]``); absent masks are
    returned all zero.

    ``volume_size`` defaults to :func:`default_volume_size` of ``image_size``. Volumes have one
    channel and are not cached (``channels`` and ``cache`` are accepted and ignored).
    ``masks_only=True`` (a layout setting): no image volumes; ``image`` is the infection mask as
    float (so shapes flow through the same code) and ``masks_only`` is recorded in ``info()``.
    """

    default_split, splits = "all", ("all",)
    masks_only = False

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        *,
        volume_size: Sequence[int] | None = None,
        hu_window: tuple[float, float] | None = DEFAULT_HU_WINDOW,
        lung_mask_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        channels: int = 1,
        cache: Any = None,
        **kw: Any,
    ):
        size = volume_size or default_volume_size(kw.get("image_size", 224))
        self.volume_size = tuple(int(s) for s in size)
        self.hu_window = hu_window
        self.lung_mask_fn = lung_mask_fn
        super().__init__(root, split, channels=1, cache=None, **kw)

    def columns(self, records: list[Record]) -> dict[str, Any]:
        def present(p: Path | None) -> Path | None:
            return p if p is not None and p.is_file() else None

        return {
            "image_paths": [None if self.masks_only else r.path for r in records],
            "lung_paths": [present(r.extra.get("lung")) for r in records],
            "infection_paths": [present(r.extra.get("infection")) for r in records],
        }

    @classmethod
    def phantom_settings(cls, kw: dict[str, Any]) -> dict[str, Any]:
        size = kw.get("volume_size") or default_volume_size(kw.get("image_size", 224))
        return {"volume_size": size}

    @classmethod
    def phantom(cls, manifest, split: str, n, seed: int, class_probs, **kw: Any):
        """``phantom="dual_sampling"``: the COVID-19 / CAP phantoms of the dual-sampling chapter
        (:class:`covidnb.data.phantoms_3d.DualSamplingPhantoms`, with its fold, sampling and
        mask-channel options); otherwise the generic volume phantom."""
        from covidnb.data.phantoms_3d import PHANTOM_KEYS, DualSamplingPhantoms

        chosen = kw.pop("phantom", None)
        extra = {k: kw.pop(k) for k in PHANTOM_KEYS if k in kw}
        if chosen is None:
            if extra:
                raise TypeError(f"phantom options {sorted(extra)} need phantom='dual_sampling'")
            return super().phantom(manifest, split, n, seed, class_probs, **kw)
        if chosen != "dual_sampling":
            raise ValueError(f"unknown volume phantom {chosen!r}; known: 'dual_sampling'")
        settings = {"n": n or 32, "classes": manifest.classes, "name": f"synthetic-{manifest.name}",
                    "image_size": kw.get("image_size", 224), "channels": kw.get("channels", 1),
                    "seed": seed, "transform": kw.get("transform"), **cls.phantom_settings(kw),
                    **extra}
        if class_probs is not None:
            settings["class_probs"] = class_probs
        return DualSamplingPhantoms(split, **settings)

    @property
    def has_lung_mask(self) -> bool:
        return self.lung_mask_fn is not None or any(p is not None for p in self.lung_paths)

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
            hu, _ = read_volume(self.image_paths[i])
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
        paths = [] if self.masks_only else series_files(self.image_paths[i])
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


class COVID19CTSeg(VolumeDataset):
    """COVID-19-CT-Seg (20 volumes, lung and infection masks): volumes and masks in three
    folders, matched by :func:`case_key` (``key_strip`` removes what the names add)."""

    kind, title, default_name = "volumes", "COVID-19-CT-Seg", "covid-19-ct-seg"
    strict = True

    @classmethod
    def index_split(cls, root: Path, options, classes, split) -> list[Record]:
        if "series" in options:
            return index_series(root, options, classes)
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
            masks = {"lung": lungs.get(k), "infection": infections.get(k)}
            records.append(Record.at(p, root, label, str(image_dir), patient_id=k, extra=masks))
        return records


def _patient_of(path: Path, root: Path, regex: str | None) -> str:
    import re

    rel = relative_id(path, root)
    if regex:
        m = re.search(regex, rel)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    if path.suffix.lower() == ".dcm":
        import pydicom

        try:
            pid = str(pydicom.dcmread(path, stop_before_pixels=True).get("PatientID", ""))
        except Exception as exc:
            raise ValueError(f"{path}: cannot read the DICOM header ({exc})") from exc
        if pid:
            return pid
    return _nii_stem(path) if path.suffix != ".dcm" else path.parent.name


def index_series(root: Path, options: dict[str, Any], classes: list[str]) -> list[Record]:
    """Records of a layout of labelled volume globs (loader option ``series``: a list of
    ``{glob, label}``; a glob matches NIfTI files or DICOM series folders, relative to the
    dataset folder). A DICOM series is recorded by its first ``.dcm`` file (the whole folder is
    read). Series with fewer than ``min_slices`` files (scouts, 2-file CR/DX series) are skipped;
    ``patient_regex`` (group 1) takes the patient id from the relative path, else the DICOM
    ``PatientID`` or the file stem. Globs that match nothing are allowed: one manifest lists
    both the staged layout and the full download's."""
    min_slices = int(options.get("min_slices", 2))
    records: list[Record] = []
    seen: set[Path] = set()
    for entry in options["series"]:
        if entry["label"] not in classes:
            raise ValueError(f"{root}: loader series label {entry['label']!r} is not one of {classes}")
        label = classes.index(entry["label"])
        for p in sorted(root.glob(entry["glob"])):
            slices: dict[str, Path] = {}
            if p.is_dir():
                dcm = sorted(p.glob("*.dcm"))
                if len(dcm) < min_slices or p in seen:
                    continue
                seen.add(p)
                path = dcm[0]
                # every slice is a file of the dataset (verification lists the rest as extra)
                slices = {f"slice_{k:04d}": f for k, f in enumerate(dcm[1:], start=1)}
            elif p.name.endswith((".nii", ".nii.gz")):
                path = p
            else:
                continue
            pid = _patient_of(path, root, options.get("patient_regex"))
            rec = Record.at(path, root, label, f"{entry['glob']}", patient_id=pid, extra=slices)
            if path.suffix == ".dcm":  # the series folder is the sample
                rec.sample_id = relative_id(path.parent, root)
            records.append(rec)
    return records


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


class MosMedData(VolumeDataset):
    """MosMedData COVID19_1110: CT-0…CT-4 severity classes; infection masks for 50 studies.

    ``masks_only=True`` loads only the studies with a mask, without their volumes;
    ``with_masks_only=True`` keeps only the studies with a mask, with their volumes.
    """

    kind, title, default_name = "mosmed", "MosMedData", "mosmeddata"
    layout_settings: ClassVar[dict[str, Any]] = {"masks_only": False, "with_masks_only": False}

    @classmethod
    def index_split(
        cls, root: Path, options, classes, split, masks_only=False, with_masks_only=False
    ) -> list[Record]:
        reg = require_file(
            root / options.get("registry", "dataset_registry.csv"), "MosMedData registry"
        )
        records = []
        for lineno, row in enumerate(read_mosmed_registry(reg), start=2):
            mask = root / row["mask_file"].strip().lstrip("/") if row["mask_file"].strip() else None
            study = root / row["study_file"].strip().lstrip("/")
            if (masks_only or with_masks_only) and mask is None:
                continue
            main = mask if masks_only else study
            cat = row["category"].strip()
            if cat not in classes:
                raise ValueError(f"{reg}:{lineno}: category {cat!r} is not one of {classes}")
            pid, origin = f"study_{int(row['study_id']):04d}", f"{reg}:{lineno}"
            extra = {"infection": mask}  # masks-only copies hold no volumes
            records.append(
                Record.at(main, root, classes.index(cat), origin, patient_id=pid, extra=extra)
            )
        return records

    def select(self, records: list[Record]) -> list[Record]:
        """Raise :class:`VolumesMissing` (naming where to get them) when the registry's volumes
        are all absent and ``masks_only`` was not asked for."""
        if self.masks_only or not records or any(r.path.is_file() for r in records):
            return records
        from covidnb.data.manifest import load_manifest

        n_masks = sum(1 for r in records if r.extra["infection"] and r.extra["infection"].is_file())
        hint = f"{n_masks} infection masks are present: pass masks_only=True to load them without "
        hint = hint + "volumes." if n_masks else ""
        how_to_get = load_manifest(self.name).how_to_get()
        raise VolumesMissing(self.name, self.root, len(records), how_to_get, hint=hint)
