"""One CT series (a folder of single-slice DICOM files) as a 3-D volume in Hounsfield units,
read with pydicom (Ouyang et al. 2020, §IV-B works on whole CT volumes; their scans were DICOM).

- Slices are ordered by their position along the slice normal: the projection of
  ``ImagePositionPatient`` on the cross product of the row and column direction cosines of
  ``ImageOrientationPatient`` (file names and ``InstanceNumber`` do not reliably give the order).
- Pixel values become HU through pydicom's modality LUT (``RescaleSlope`` × value +
  ``RescaleIntercept``).
- Spacing: ``PixelSpacing`` in-plane and the median step between sorted slice positions along
  the normal (``SliceThickness`` is the reconstructed thickness, not the step, and is ignored).

:func:`series_nifti` gives the series as a ``nibabel.Nifti1Image`` in RAS with its affine, so it
flows through the same canonical reorientation as a NIfTI file
(:func:`covidnb.data.volumes.canonical_volume`); :func:`read_dicom_series` returns the
``D×H×W`` array (D inferior→superior, H anterior→posterior, W patient right→left) and the
``(D, H, W)`` spacing in mm. Every error names the folder or file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DicomSeries", "find_series", "read_dicom_series", "read_series", "series_nifti"]

# a step between neighbouring slices that differs from the median by more than this (mm) means
# a gap (a missing file) or two interleaved series
GAP_TOLERANCE_MM = 0.05


@dataclass
class DicomSeries:
    """A sorted series: ``hu`` as ``x×y×k`` (DICOM column, row, slice) float32, the LPS affine
    (columns: column step, row step, slice step; origin = first slice's position), and the
    header facts a chapter reports."""

    folder: Path
    hu: np.ndarray
    affine_lps: np.ndarray
    spacing_xyz: tuple[float, float, float]
    files: list[Path]
    positions_mm: np.ndarray  # position of each sorted slice along the normal
    meta: dict[str, Any] = field(default_factory=dict)


def _dicom_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".dcm", ""))
    return [p for p in files if not p.name.startswith(".")]


def _floats(ds, tag: str, n: int, path: Path) -> np.ndarray:
    value = ds.get(tag)
    if value is None:
        raise ValueError(f"{path}: the DICOM header has no {tag}, needed to place the slice in 3-D")
    arr = np.asarray([float(v) for v in value], dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{path}: {tag} should hold {n} numbers, got {list(value)}")
    return arr


def read_series(folder: str | os.PathLike, *, min_slices: int = 2) -> DicomSeries:
    """Read every DICOM file of ``folder`` (one series) and sort it along the slice normal.

    Raises ``FileNotFoundError`` for a missing or empty folder and ``ValueError`` naming the
    file for a slice without pixel data or position, a slice of another series, orientation or
    size, two slices at one position, or an uneven slice step (a missing slice).
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such DICOM series folder")
    files = _dicom_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no DICOM files (*.dcm) in the series folder")
    slices = []
    for p in files:
        try:
            ds = pydicom.dcmread(p)
        except Exception as exc:  # pydicom raises several types for damaged files
            raise ValueError(f"{p}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
        if "PixelData" not in ds:
            raise ValueError(f"{p}: the DICOM file has no pixel data")
        slices.append((p, ds))
    p0, ds0 = slices[0]
    iop = _floats(ds0, "ImageOrientationPatient", 6, p0)
    row_dir, col_dir = iop[:3], iop[3:]  # along a row (column index grows), along a column
    normal = np.cross(row_dir, col_dir)
    uid, shape = ds0.get("SeriesInstanceUID"), (int(ds0.Rows), int(ds0.Columns))
    ps = _floats(ds0, "PixelSpacing", 2, p0)  # (between rows, between columns)
    placed = []
    for p, ds in slices:
        if ds.get("SeriesInstanceUID") != uid:
            raise ValueError(f"{p}: belongs to series {ds.get('SeriesInstanceUID')}, not {uid} "
                             f"of {p0.name}; one folder must hold one series")
        if not np.allclose(_floats(ds, "ImageOrientationPatient", 6, p), iop, atol=1e-4):
            raise ValueError(f"{p}: ImageOrientationPatient differs from {p0.name}'s")
        if (int(ds.Rows), int(ds.Columns)) != shape:
            raise ValueError(f"{p}: {ds.Rows}×{ds.Columns} pixels, {p0.name} has {shape[0]}×{shape[1]}")
        pos = _floats(ds, "ImagePositionPatient", 3, p)
        placed.append((float(pos @ normal), pos, p, ds))
    placed.sort(key=lambda t: t[0])
    z = np.array([t[0] for t in placed])
    if len(placed) < min_slices:
        raise ValueError(f"{folder}: {len(placed)} slice(s); a volume needs at least {min_slices}")
    steps = np.diff(z)
    if len(steps) and np.min(steps) < 1e-3:
        k = int(np.argmin(steps))
        raise ValueError(f"{placed[k + 1][2]}: same position along the normal as {placed[k][2].name}"
                         f" ({z[k]:.3f} mm): a duplicate slice or two series in one folder")
    dz = float(np.median(steps)) if len(steps) else float(ds0.get("SliceThickness", 1.0))
    if len(steps) and np.max(np.abs(steps - dz)) > GAP_TOLERANCE_MM:
        k = int(np.argmax(np.abs(steps - dz)))
        raise ValueError(f"{folder}: uneven slice steps (median {dz:.3f} mm, {steps[k]:.3f} mm "
                         f"between {placed[k][2].name} and {placed[k + 1][2].name}): a slice is "
                         "missing")
    planes = [np.asarray(apply_modality_lut(t[3].pixel_array, t[3]), dtype=np.float32)
              for t in placed]
    hu = np.ascontiguousarray(np.stack(planes, axis=-1).transpose(1, 0, 2))  # rows,cols → x,y
    affine = np.eye(4)
    affine[:3, 0] = row_dir * ps[1]
    affine[:3, 1] = col_dir * ps[0]
    affine[:3, 2] = normal * dz
    affine[:3, 3] = placed[0][1]
    meta = {
        "patient_id": str(ds0.get("PatientID", "")),
        "series_uid": str(uid or ""),
        "series_description": str(ds0.get("SeriesDescription", "")),
        "modality": str(ds0.get("Modality", "")),
        "kernel": str(ds0.get("ConvolutionKernel", "")),
        "slice_thickness": float(ds0.get("SliceThickness", np.nan) or np.nan),
        "n_slices": len(placed),
        "hu_min": float(hu.min()),
        "hu_max": float(hu.max()),
    }
    return DicomSeries(folder, hu, affine, (float(ps[1]), float(ps[0]), dz),
                       [t[2] for t in placed], z, meta)


def series_nifti(series: DicomSeries):
    """The series as a ``Nifti1Image`` in RAS (LPS x and y negated), HU as float32."""
    import nibabel as nib

    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ series.affine_lps
    img = nib.Nifti1Image(series.hu, ras)
    img.header.set_xyzt_units("mm")
    return img


def read_dicom_series(folder: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The series as float32 HU ``D×H×W`` (canonical axes, module doc) and its (D, H, W)
    spacing in mm: the same form as :func:`covidnb.data.volumes.load_nifti`."""
    from covidnb.data.volumes import canonical_volume

    return canonical_volume(series_nifti(read_series(folder)), folder)


def find_series(root: str | os.PathLike, pattern: str = "**") -> list[Path]:
    """Folders under ``root`` matching ``pattern`` that hold at least one ``*.dcm`` file, sorted."""
    root = Path(root)
    out = {p if p.is_dir() else p.parent for p in root.glob(pattern)}
    return sorted(d for d in out if d.is_dir() and any(d.glob("*.dcm")))
