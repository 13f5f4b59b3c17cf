"""Decoding 2-D images whatever their name says: the format is read from the bytes.

Real-data quirks this handles (see ``../shared/data/*/PROVENANCE.md``): 34 COVID-CT files named
``.png`` hold JPEG data; NIH ``00000004_000.png`` and many COVID-CT / Cohen PNGs are RGBA (two
Cohen images have real transparency, composited on black, the X-ray background); grey, palette
and 16-bit PNGs; DICOM (RSNA) through pydicom. A file that cannot be decoded raises
:class:`CorruptImageError` naming it.

16-bit images are scaled by their *real* bit depth, not by the container's: medical images often
store 12-bit values (0…4095) in a 16-bit PNG or TIFF, and dividing those by 65535 gives a nearly
black image. The depth is, in this order: the caller's ``bit_depth``; the PNG's ``sBIT`` chunk
(the significant bits) when the values fit in it (values scaled up to the full 16-bit range, as
the PNG specification asks, are divided by 65535); else 12 bits when every value is below 4096,
and 16 otherwise (:func:`sample_bit_depth`). So a 12-bit image always decodes to [0, 1] over its
12-bit range, whatever its own brightest pixel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

# Truncated files must fail loudly rather than decode to a partly grey image.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# File endings a loader may take for an image when it has to search a folder; decoding itself
# never trusts the ending.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm")


class CorruptImageError(ValueError):
    """A file that cannot be decoded as an image; ``path`` names it."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot decode image ({reason})")


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_dicom(path: Path) -> np.ndarray:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - pydicom is installed in the dev env
        raise CorruptImageError(
            path, "DICOM file but pydicom is not installed (pip install pydicom)"
        ) from exc
    try:
        ds = pydicom.dcmread(str(path))
        arr = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom raises many types for damaged files
        raise CorruptImageError(path, f"DICOM: {exc}") from exc
    lo, hi = float(arr.min()), float(arr.max())
    arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = 1.0 - arr  # MONOCHROME1 stores bright as low values
    return arr[..., None]


def png_significant_bits(path: Path) -> int | None:
    """The grey (or first colour) channel's significant bits from a PNG's ``sBIT`` chunk, or
    ``None`` (not a PNG, or no ``sBIT``)."""
    import struct

    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"sBIT":
                data = fh.read(length)
                return int(data[0]) if data else None
            if kind in (b"IDAT", b"IEND"):
                return None
            fh.seek(length + 4, 1)  # the chunk's data and its CRC


def sample_bit_depth(values: np.ndarray, declared: int | None = None) -> int:
    """The bit depth 16-bit samples really use (module docstring): ``declared`` (``sBIT`` or
    the caller's) when every value fits in it, else 12 when every value is below 4096, else 16."""
    peak = int(values.max()) if values.size else 0
    if declared is not None and 1 <= declared <= 16 and peak < (1 << declared):
        return declared
    return 12 if peak < 4096 else 16


def _to_float(im: Image.Image, path: Path, bit_depth: int | None = None) -> np.ndarray:
    """H×W×{1,3} float32 in [0, 1] from any PIL mode."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        if mode.startswith("I;16"):
            declared = bit_depth if bit_depth is not None else png_significant_bits(path)
            depth = sample_bit_depth(arr, declared)
            arr = arr / float((1 << depth) - 1)
        else:
            # 32-bit int/float images carry no fixed range: scale by their own extent.
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        return arr[..., None]
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        # Transparent pixels are background: composite on black rather than keep hidden colours.
        rgb = rgba[..., :3] * rgba[..., 3:4]
        return rgb if mode == "RGBA" else rgb[..., :1]
    if mode in ("1", "L"):
        return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[..., None]
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    if channels == arr.shape[-1]:
        return arr
    if channels == 1:
        # ITU-R 601-2 luma, the weights PIL's convert("L") uses.
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return (arr[..., :3] @ w)[..., None].astype(np.float32)
    if channels == 3:
        return np.repeat(arr[..., :1], 3, axis=-1)
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def load_image(path: str | os.PathLike, channels: int = 1, as_tensor: bool = False,
               bit_depth: int | None = None):
    """Decode ``path`` to float32 ``H×W×C`` in [0, 1] (``C×H×W`` tensor if ``as_tensor``).

    The format is detected from the file's bytes, not its extension. ``channels`` 1 gives luma,
    3 gives RGB (grey images replicated). 16-bit samples are scaled by their real bit depth
    (``bit_depth`` when given; see the module docstring). Raises :class:`CorruptImageError`
    naming the file.
    """
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file does not exist")
    if _is_dicom(path):
        arr = _read_dicom(path)
    else:
        try:
            with Image.open(path) as im:
                im.load()
                arr = _to_float(im, path, bit_depth)
        except UnidentifiedImageError as exc:
            raise CorruptImageError(path, "not a recognised image format") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptImageError(path, str(exc) or type(exc).__name__) from exc
    arr = _to_channels(arr, channels)
    if as_tensor:
        import torch

        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return arr


def load_resized_uint8(
    path: str | os.PathLike, image_size: int | tuple[int, int], channels: int = 1,
    bit_depth: int | None = None,
) -> np.ndarray:
    """Decode and resize to ``image_size`` (square if an int) with antialiased bilinear
    interpolation; returns uint8 ``H×W×C`` (the form the cache stores)."""
    import torch
    import torch.nn.functional as F

    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    arr = load_image(path, channels, bit_depth=bit_depth)
    if arr.shape[:2] != size:
        t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
        arr = t[0].numpy().transpose(1, 2, 0)
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def check_decodes(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` decodes (image or NIfTI), else the reason it does not."""
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(path))
            np.asanyarray(img.dataobj)  # reads every byte: catches truncated gzip streams
        else:
            load_image(path, 1)
    except CorruptImageError as exc:
        return exc.reason
    except Exception as exc:  # noqa: BLE001 - nibabel/gzip raise many types for damaged files
        return f"{type(exc).__name__}: {exc}"
    return None
