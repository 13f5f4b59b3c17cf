"""What every covidnb dataset shares (``covidnb/CONTRACTS.md``, "Samples").

A dataset is a table of samples held as parallel per-sample arrays (``targets``,
``sample_ids``, ``patient_ids``, ``sources`` plus whatever a subclass needs, e.g. file paths),
so a subset (:meth:`BaseDataset.subset`, used by ``subsample``) is the same class with the
arrays indexed. ``dataset[i]`` returns the sample dict of the contract.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from covidnb.data.cache import ImageCache
from covidnb.data.imageio import load_resized_uint8

_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) within the process."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def make_cache(cache: Any, name: str, image_size, channels: int) -> ImageCache | None:
    """``True`` → the default cache; ``False``/``None`` → none; a path → a cache rooted there;
    an :class:`ImageCache` → itself."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, ImageCache):
        return cache
    if cache is True:
        return ImageCache(name, image_size, channels)
    return ImageCache(name, image_size, channels, root=cache)


class BaseDataset(Dataset):
    """Common attributes, ``info()``, ``checksum()``, ``subset()`` and the sample dict.

    Subclasses implement :meth:`_load` (the tensors of sample ``i``) and :meth:`_files` (the
    files sample ``i`` reads, for the checksum), and list extra per-sample attributes in
    ``_per_sample`` so subsets index them too.
    """

    _per_sample: tuple[str, ...] = ("targets", "sample_ids", "patient_ids", "sources")

    def __init__(
        self,
        *,
        name: str,
        split: str,
        classes: Sequence[str],
        targets: Any,
        sample_ids: Sequence[str],
        patient_ids: Sequence[str] | None = None,
        sources: Sequence[str] | str | None = None,
        root: str | os.PathLike | None = None,
        multilabel: bool = False,
        synthetic: bool = False,
        transform: Callable | None = None,
        image_size: int = 224,
        channels: int = 1,
    ):
        n = len(sample_ids)
        self.name = name
        self.split = split
        self.classes = list(classes)
        self.multilabel = bool(multilabel)
        self.synthetic = bool(synthetic)
        self.root = Path(root) if root is not None else None
        self.transform = transform
        self.image_size = image_size
        self.channels = channels
        dtype = np.float32 if multilabel else np.int64
        self.targets = np.asarray(targets, dtype=dtype).reshape(
            (n, len(self.classes)) if multilabel else (n,)
        )
        self.sample_ids = list(sample_ids)
        self.patient_ids = list(patient_ids) if patient_ids is not None else [""] * n
        if sources is None or isinstance(sources, str):
            sources = [sources or name] * n
        self.sources = list(sources)
        for attr in ("patient_ids", "sources"):
            if len(getattr(self, attr)) != n:
                raise ValueError(
                    f"{name}/{split}: {attr} has {len(getattr(self, attr))} entries for {n} samples"
                )
        self._checksum: str | None = None

    # -- the contract -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(
                f"{self.name}/{self.split}: index {i} out of range ({len(self)} samples)"
            )
        sample = self._load(i)
        if self.transform is not None:
            sample["image"] = self.transform(sample["image"])
        if self.multilabel:
            sample["label"] = torch.from_numpy(self.targets[i].copy())
        else:
            sample["label"] = torch.tensor(int(self.targets[i]), dtype=torch.int64)
        sample["sample_id"] = self.sample_ids[i]
        sample["patient_id"] = self.patient_ids[i]
        sample["source"] = self.sources[i]
        return sample

    def _load(self, i: int) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _files(self, i: int) -> list[Path]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- summaries ----------------------------------------------------------------------------
    def class_counts(self) -> dict[str, int]:
        """Images per class (multi-label: positives per label), in class order."""
        if self.multilabel:
            sums = self.targets.sum(axis=0) if len(self) else np.zeros(len(self.classes))
            return {c: int(s) for c, s in zip(self.classes, sums)}
        counts = (
            np.bincount(self.targets, minlength=len(self.classes))
            if len(self)
            else np.zeros(len(self.classes), int)
        )
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def checksum(self) -> str:
        """sha256 over the sorted ``(sample_id, file sha256)`` pairs of the files the split uses."""
        if self._checksum is None:
            pairs = sorted(
                (sid, file_sha256(f))
                for i, sid in enumerate(self.sample_ids)
                for f in self._files(i)
            )
            h = hashlib.sha256()
            for sid, sha in pairs:
                h.update(f"{sid}\t{sha}\n".encode())
            self._checksum = h.hexdigest()
        return self._checksum

    def info(self) -> dict[str, Any]:
        """The run-record entry: ``{name, split, root, n, class_counts, checksum, synthetic}``."""
        return {
            "name": self.name,
            "split": self.split,
            "root": str(self.root) if self.root is not None else None,
            "n": len(self),
            "class_counts": self.class_counts(),
            "checksum": self.checksum(),
            "synthetic": self.synthetic,
        }

    def to_frame(self):
        """One row per sample: sample_id, patient_id, source, label (class name, or one 0/1
        column per label when multi-label)."""
        import pandas as pd

        df = pd.DataFrame(
            {"sample_id": self.sample_ids, "patient_id": self.patient_ids, "source": self.sources}
        )
        if self.multilabel:
            for j, c in enumerate(self.classes):
                df[c] = self.targets[:, j].astype(int)
        else:
            df["label"] = [self.classes[t] for t in self.targets]
        return df

    # -- subsets -----------------------------------------------------------------------------
    def subset(self, indices: Sequence[int]) -> BaseDataset:
        """The same dataset restricted to ``indices`` (same class, same attributes)."""
        idx = [int(i) for i in indices]
        out = copy.copy(self)
        for attr in self._per_sample:
            val = getattr(self, attr)
            setattr(out, attr, val[idx] if isinstance(val, np.ndarray) else [val[i] for i in idx])
        out._checksum = None
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}={k}" for c, k in self.class_counts().items())
        tag = " SYNTHETIC" if self.synthetic else ""
        head = f"{type(self).__name__} {self.name}/{self.split}{tag}"
        return f"<{head}: n={len(self)} ({counts}); root={self.root}>"


class ImageFileDataset(BaseDataset):
    """A 2-D image dataset read from files: decode (format from bytes), resize to
    ``image_size``, optionally cache the uint8 result on disk, return ``C×H×W`` in [0, 1]."""

    _per_sample = BaseDataset._per_sample + ("paths",)

    def __init__(self, *, paths: Sequence[str | os.PathLike], cache: Any = True, **kw):
        super().__init__(**kw)
        self.paths = [Path(p) for p in paths]
        if len(self.paths) != len(self.sample_ids):
            raise ValueError(
                f"{self.name}/{self.split}: {len(self.paths)} paths "
                f"for {len(self.sample_ids)} samples"
            )
        self.cache = make_cache(cache, self.name, self.image_size, self.channels)

    def load_uint8(self, i: int) -> np.ndarray:
        """Sample ``i``'s resized image as uint8 ``H×W×C`` (from the cache when present)."""
        path = self.paths[i]
        compute = lambda: load_resized_uint8(path, self.image_size, self.channels)
        return self.cache.get(path, compute) if self.cache is not None else compute()

    def _load(self, i: int) -> dict[str, Any]:
        arr = self.load_uint8(i)
        image = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(255.0)
        return {"image": image}

    def _files(self, i: int) -> list[Path]:
        return [self.paths[i]]


class MissingImageError(FileNotFoundError):
    """An image listed in a label or split file is absent; the message names the listing file,
    the line and the missing path."""


@dataclass
class Record:
    """One listed sample before loading: where its file should be and what it is.

    ``label`` is a class index, a 0/1 vector (multi-label) or ``None`` for a listed file that the
    class mapping leaves out (still counted as referenced by verification). ``origin`` is
    ``"<listing file>:<line>"``.
    """

    path: Path
    label: Any
    sample_id: str
    patient_id: str = ""
    source: str = ""
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.path.is_file()


def relative_id(path: Path, root: Path) -> str:
    """The stable sample id: ``path`` relative to ``root`` in POSIX form (absolute if outside)."""
    try:
        return (
            Path(os.path.relpath(path, root)).as_posix()
            if path.is_relative_to(root)
            else path.as_posix()
        )
    except ValueError:
        return path.as_posix()


def resolve_present(records: list[Record], *, strict: bool, what: str, logger=None) -> list[Record]:
    """Keep the labelled records whose file exists. ``strict`` raises :class:`MissingImageError`
    for the first absent file; otherwise absent files are dropped and their number logged."""
    import logging

    logger = logger or logging.getLogger("covidnb.data")
    present, missing = [], []
    for r in records:
        if r.label is None:
            continue
        (present if r.exists else missing).append(r)
    if missing:
        first = missing[0]
        if strict:
            raise MissingImageError(
                f"{first.origin}: lists {first.path}, which does not exist"
                + (f" ({len(missing)} listed files are missing in all)" if len(missing) > 1 else "")
            )
        logger.info(
            "%s: %d listed images are not present and were skipped (first: %s from %s)",
            what,
            len(missing),
            first.path,
            first.origin,
        )
    return present


def manifest_defaults(
    name: str, options: dict[str, Any] | None, classes: Sequence[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """``options`` and ``classes`` as given, the manifest ``name``'s where ``None``: a dataset class
    opens from its manifest alone, or from explicit values (tests, verification)."""
    if options is None or classes is None:
        from covidnb.data.manifest import load_manifest

        man = load_manifest(name)
        options = man.options if options is None else options
        classes = man.classes if classes is None else classes
    return options, classes


def index_splits(
    split: str, splits: Sequence[str], index_one: Callable[[str], list[Record]], where: str
) -> list[Record]:
    """The records of ``split`` from ``index_one``; ``"all"`` joins every split in ``splits``
    (unless a layout has a split of that name). An unknown split raises ``ValueError`` naming
    ``where`` and the available splits."""
    if split == "all" and "all" not in splits:
        return [r for s in splits for r in index_one(s)]
    if split not in splits:
        raise ValueError(
            f"unknown split {split!r} for {where}; available: {', '.join([*splits, 'all'])}"
        )
    return index_one(split)


def require_all_split(split: str, root, who: str = "this dataset", hint: str = "") -> None:
    """Datasets published without a train/test split open only as ``split="all"``."""
    if split != "all":
        raise ValueError(f"{root}: {who} has no official split; use split='all'{hint}")


def record_columns(records: Sequence[Record]) -> dict[str, list]:
    """The per-sample ``targets``, ``sample_ids`` and ``patient_ids`` of :class:`BaseDataset`,
    taken from listed records (paths are passed by each class under its own name)."""
    return {
        "targets": [r.label for r in records],
        "sample_ids": [r.sample_id for r in records],
        "patient_ids": [r.patient_id for r in records],
    }
