"""A decoded pack of a 2-D image dataset: every image its splits use, decoded once per size.

Why: a bare GPU machine gets 64 MiB with the checkout (issue 18, item 4); COVID-CT's 746 files are
95 MiB, while a model sees only the uint8 array ``ImageFileDataset.load_uint8`` decodes at one
``image_size`` and ``channels``. :func:`write_pack` decodes through the dataset class itself
(``load_uint8``, disk cache off) and writes into a new dataset folder ``packed/<H>x<W>_c<C>.
<group>.npy.xz`` (those uint8 arrays, xz-compressed; at 3 channels the images whose channels are
identical keep one, group ``grey``, checked to rebuild the decode; the rest, ``colour``, three),
the folder's other files (split files, meta CSVs, ``SHA256SUMS``, ``PROVENANCE.md``), a note in
each image folder's top folder (``layout.detect`` looks for it) and last the marker
``covidnb-pack.json``: each image's path and sha256 from ``SHA256SUMS`` (checked against its
bytes), per size how it was decoded, its files and their sha256. A folder with the marker and none
of its images opens from the pack (:class:`PackedImages`, in ``CTSliceDataset``): same tensors, the
checksum the files give, and ``info()`` adds ``packed: true`` and ``pack_sha256`` (the marker's
sha256). Run keys come from the configuration alone (``covidnb.runs.store``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import io
import json
import logging
import lzma
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch

from covidnb.data.records import Record

log = logging.getLogger("covidnb.data")

PACK_FILE = "covidnb-pack.json"
PACK_DIR = "packed"
NOTE_FILE = "IMAGES_ARE_PACKED.txt"
FORMAT, VERSION = "covidnb-pack", 1
DECODE = ("{cls}.load_uint8, disk cache off: covidnb.data.imageio.load_resized_uint8(path, {size}, "
          "{channels}): decode by content, antialiased bilinear resize, round(x*255) as uint8")


class PackError(ValueError):
    """A pack that cannot serve a request: corrupt, truncated, or without the asked size."""


def size_key(image_size: int, channels: int) -> str:
    return f"{int(image_size)}x{int(image_size)}_c{int(channels)}"


def checksum_of(pairs) -> str:
    """:meth:`covidnb.data.base.BaseDataset.checksum` of ``(sample id, file sha256)`` pairs."""
    h = hashlib.sha256()
    for sid, sha in sorted(pairs):
        h.update(f"{sid}\t{sha}\n".encode())
    return h.hexdigest()


# -- writing -----------------------------------------------------------------------------------
def _groups(arrays: list[np.ndarray], channels: int) -> dict[str, tuple[list[int], np.ndarray]]:
    """``{group: (image positions, stored stack)}``; at 1 channel every image is ``grey``."""
    grey = [i for i, a in enumerate(arrays) if (a == a[..., :1]).all()]
    colour = [i for i in range(len(arrays)) if i not in set(grey)]
    groups = {"grey": (grey, [arrays[i][..., :1] for i in grey]),
              "colour": (colour, [arrays[i] for i in colour])}
    return {g: (pos, np.stack(a)) for g, (pos, a) in groups.items() if pos}


def _expand(stored: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(stored, channels, axis=-1) if stored.shape[-1] != channels else stored


def _xz(stack: np.ndarray, preset: int) -> tuple[bytes, list[dict]]:
    """``stack``'s ``.npy`` bytes, xz-compressed after a delta filter over the pixel one row up
    (one pixel left where a row is over xz's 256-byte limit): 3-8 % smaller on COVID-CT."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(stack, dtype=np.uint8), allow_pickle=False)
    row = stack.shape[2] * stack.shape[3]
    filters = [{"id": lzma.FILTER_DELTA, "dist": row if row <= 256 else stack.shape[3]},
               {"id": lzma.FILTER_LZMA2, "preset": preset}]
    return lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, filters=filters), filters


def write_pack(root: str | os.PathLike, out: str | os.PathLike, sizes, *, name: str = "covid-ct",
               split: str = "all", preset: int = 6, echo=print) -> Path:
    """Pack dataset ``name`` at ``root`` into the new folder ``out`` for ``sizes``, a list of
    ``(image_size, channels)``; only the images ``split`` lists (``"all"``: every split).
    Returns the path of ``covidnb-pack.json``. ``preset`` is the xz level."""
    from covidnb.data.base import file_sha256
    from covidnb.data.imageio import IMAGE_EXTENSIONS
    from covidnb.data.manifest import load_manifest
    from covidnb.data.registry import dataset_class
    from covidnb.data.verify import read_sha256sums

    root, out = Path(root), Path(out)
    if (root / PACK_FILE).exists():
        raise PackError(f"{root / PACK_FILE}: {root} is a pack already; pack the original files")
    if out.exists() and any(out.iterdir()):
        raise PackError(f"{out}: the pack's folder must be new or empty")
    sums_file = root / "SHA256SUMS"
    if not sums_file.is_file():
        raise PackError(f"{sums_file}: absent; a pack names each image by its sha256 from it")
    sums = read_sha256sums(sums_file)
    man = load_manifest(name)
    cls = dataset_class(man.kind)
    entry: dict[str, Any] = {"format": FORMAT, "version": VERSION, "dataset": name,
                             "split": split, "images": [], "sizes": []}
    images: list[str] = []
    for image_size, channels in sizes:
        ds = cls(root, split, name=name, image_size=image_size, channels=channels, cache=False)
        if not images:
            images = list(ds.sample_ids)
            for sid, path in zip(ds.sample_ids, ds.paths):
                if sid not in sums:
                    raise PackError(f"{sums_file}: does not list {sid}")
                if file_sha256(path) != sums[sid]:
                    raise PackError(f"{path}: its bytes differ from its sha256 in {sums_file}")
                entry["images"].append({"path": sid, "sha256": sums[sid]})
            (out / PACK_DIR).mkdir(parents=True, exist_ok=True)
        elif list(ds.sample_ids) != images:
            raise PackError(f"{root}: the listing changed between sizes; pack again")
        arrays = [ds.load_uint8(i) for i in range(len(ds))]
        key = size_key(image_size, channels)
        size_entry = {"image_size": image_size, "channels": channels, "dtype": "uint8",
                      "key": key, "decode": DECODE.format(cls=cls.__name__, size=image_size,
                                                          channels=channels), "groups": []}
        for group, (positions, stack) in _groups(arrays, channels).items():
            if not all(np.array_equal(_expand(s, channels), arrays[p])
                       for p, s in zip(positions, stack)):
                raise PackError(f"{root}: group {group} of {key} does not rebuild the decode")
            data, filters = _xz(stack, preset)
            rel = f"{PACK_DIR}/{key}.{group}.npy.xz"
            (out / rel).write_bytes(data)
            size_entry["groups"].append({
                "group": group, "file": rel, "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data), "shape": list(stack.shape), "positions": positions,
                "xz_filters": [{k: int(v) for k, v in f.items()} for f in filters],
                "expand": "repeat the one channel" if stack.shape[-1] != channels else "none"})
            echo(f"  {rel}: {len(positions)} images, {len(data) / 2**20:.1f} MiB")
        entry["sizes"].append(size_entry)
    entry["versions"] = {"numpy": np.__version__, "PIL": PIL.__version__,
                         "torch": torch.__version__}
    patterns = (man.layout or {}).get("images", [])
    packed = set(images)
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if (not p.is_file() or rel in packed or p.suffix.lower() in IMAGE_EXTENSIONS
                or any(fnmatch.fnmatch(rel, pat) for pat in patterns)):
            continue  # images stay behind, used by the splits or not
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, out / rel)
    for top in sorted({sid.split("/", 1)[0] for sid in images if "/" in sid}):
        (out / top).mkdir(exist_ok=True)
        (out / top / NOTE_FILE).write_text(f"The {name} images of this folder are decoded "
                                           f"into ../{PACK_DIR}/ (see ../{PACK_FILE}).\n")
    tmp = out / f".{PACK_FILE}.tmp"
    tmp.write_text(json.dumps(entry, indent=1, sort_keys=True))
    os.replace(tmp, out / PACK_FILE)  # the marker last: a half-written pack is no pack
    return out / PACK_FILE


# -- reading -----------------------------------------------------------------------------------
class Pack:
    """A pack opened for reading; each size's arrays are read (and checked) on first use."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.file = self.folder / PACK_FILE
        raw = self.file.read_bytes()
        try:
            self.meta = json.loads(raw)
            if (self.meta.get("format"), self.meta.get("version")) != (FORMAT, VERSION):
                raise ValueError(f"not a {FORMAT} version {VERSION} manifest")
            self.images = {e["path"]: (k, e["sha256"]) for k, e in enumerate(self.meta["images"])}
            self.sizes = {s["key"]: s for s in self.meta["sizes"]}
        except (ValueError, AttributeError, KeyError, TypeError) as exc:  # JSON errors included
            raise PackError(f"{self.file}: not a readable pack manifest ({exc})") from exc
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self._arrays: dict[str, list[tuple[np.ndarray, int]]] = {}

    def require(self, image_size: int, channels: int) -> dict:
        key = size_key(image_size, channels)
        if key not in self.sizes:
            held = ", ".join(f"{s['image_size']} px × {s['channels']} channel(s)"
                             for s in self.sizes.values())
            raise PackError(f"{self.file}: holds no {image_size} px × {channels}-channel images; "
                            f"it holds {held or 'none'}. Pack that size (benchmarks/gpu_bundle.py"
                            " --sizes) or use the original files")
        return self.sizes[key]

    def _read_group(self, group: dict) -> np.ndarray:
        path = self.folder / group["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackError(f"{path}: array file of the pack cannot be read ({exc})") from exc
        if hashlib.sha256(data).hexdigest() != group["sha256"]:
            raise PackError(f"{path}: corrupt or truncated ({len(data)} bytes, sha256 differs "
                            f"from {self.file}, which records {group['bytes']} bytes)")
        try:
            arr = np.load(io.BytesIO(lzma.decompress(data)), allow_pickle=False)
        except (lzma.LZMAError, EOFError, ValueError, OSError) as exc:
            raise PackError(f"{path}: cannot be decompressed/read ({exc})") from exc
        if arr.dtype != np.uint8 or list(arr.shape) != group["shape"]:
            raise PackError(f"{path}: holds {arr.dtype} {list(arr.shape)}, the manifest says "
                            f"uint8 {group['shape']}")
        return arr

    def _lookup(self, image_size: int, channels: int) -> list[tuple[np.ndarray, int]]:
        spec = self.require(image_size, channels)
        if spec["key"] not in self._arrays:
            where: list[Any] = [None] * len(self.images)
            for group in spec["groups"]:
                arr = self._read_group(group)
                for row, pos in enumerate(group["positions"]):
                    where[pos] = (arr, row)
            if any(w is None for w in where):
                raise PackError(f"{self.file}: size {spec['key']} misses some images")
            self._arrays[spec["key"]] = where
        return self._arrays[spec["key"]]

    def image(self, sample_id: str, image_size: int, channels: int) -> np.ndarray:
        """The uint8 ``H×W×C`` array ``load_uint8`` gives for the image ``sample_id``."""
        if sample_id not in self.images:
            raise PackError(f"{self.file}: holds no image {sample_id}")
        arr, row = self._lookup(image_size, channels)[self.images[sample_id][0]]
        return _expand(arr[row], channels).copy()


_OPEN: dict[tuple[str, int, int], Pack] = {}


def open_pack(root: str | os.PathLike) -> Pack | None:
    """The pack of dataset folder ``root`` when it has one and none of the pack's image files
    (the files, when there, are read as usual); opened once per process and manifest."""
    f = Path(root) / PACK_FILE
    if not f.is_file():
        return None
    st = f.stat()
    memo = (str(f.resolve()), st.st_size, st.st_mtime_ns)
    pack = _OPEN.get(memo) or _OPEN.setdefault(memo, Pack(root))
    if any((pack.folder / rel).is_file() for rel in pack.images):
        log.info("%s: the image files are present; reading them, not the pack", pack.folder)
        return None
    return pack


@dataclasses.dataclass
class PackedRecord(Record):
    """A record whose image lives in a pack rather than in a file."""

    @property
    def exists(self) -> bool:
        return True


class PackedImages:
    """Mixin for an :class:`~covidnb.data.base.ImageFileDataset`: open from a pack when the
    folder holds one (:func:`open_pack`), else exactly as before."""

    def __init__(self, root, split=None, **kw):
        self.pack = open_pack(root)
        super().__init__(root, split, **kw)
        if self.pack is not None:
            # read the arrays now, so a missing size or a damaged file fails at open
            self.pack._lookup(self.image_size, self.channels)
            self.cache = None  # the pack is decoded already

    def select(self, records: list[Record]) -> list[Record]:
        records = super().select(records)
        if self.pack is None:
            return records
        absent = [r.sample_id for r in records if r.sample_id not in self.pack.images]
        if absent:
            log.warning("%s: %d listed image(s) are not in the pack (first: %s)",
                        self.pack.file, len(absent), absent[0])
        return [PackedRecord(**{f.name: getattr(r, f.name) for f in dataclasses.fields(r)})
                if r.sample_id in self.pack.images else r for r in records]

    def load_uint8(self, i: int) -> np.ndarray:
        return (super().load_uint8(i) if self.pack is None
                else self.pack.image(self.sample_ids[i], self.image_size, self.channels))

    def checksum(self) -> str:
        if self.pack is None:
            return super().checksum()
        if self._checksum is None:
            self._checksum = checksum_of((s, self.pack.images[s][1]) for s in self.sample_ids)
        return self._checksum

    def info(self) -> dict[str, Any]:
        out = super().info()
        if self.pack is not None:
            out.update(packed=True, pack_sha256=self.pack.sha256)
        return out
