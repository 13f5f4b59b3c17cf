"""The one dataset base (``covidnb/CONTRACTS.md``, "Samples").

A dataset is a table of samples held as parallel per-sample arrays (``targets``,
``sample_ids``, ``patient_ids``, ``sources``, file paths …), so a subset is the same class with
the arrays indexed. :class:`BaseDataset` owns what every dataset class shares: the constructor
(manifest defaults, split names and aliases, ``"all"``, the policy for absent files), the
table, the cache switch, ``checksum()``, ``info()``, ``subset()`` and :meth:`BaseDataset.open`,
which finds the data or falls back to the phantom of the same modality. A dataset class declares
only its layout and labels::

    class MyDataset(ImageFileDataset):
        kind = "my_kind"                  # the manifest's loader.kind
        default_name, default_split = "my-dataset", "train"
        splits = ("train", "test")        # ("all",): published without a split

        @classmethod
        def index_split(cls, root, options, classes, split) -> list[Record]:
            ...                           # where each file of `split` is, and its label

and, where it keeps more per sample, :meth:`columns`; where it checks the listing as a whole,
:meth:`select`. :class:`ImageFileDataset` (2-D images, cached) and
:class:`~covidnb.data.volumes.VolumeDataset` (NIfTI volumes) are the two loaders.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from covidnb.data.cache import make_cache
from covidnb.data.imageio import load_resized_uint8
from covidnb.data.records import MissingImageError, Record, relative_id, resolve_present

# Record and friends live in covidnb.data.records; importing them from here keeps working.
__all__ = ["BaseDataset", "ImageFileDataset", "MissingImageError", "Record", "file_sha256"]
__all__ += ["SyntheticDataWarning", "relative_id", "resolve_present"]

log = logging.getLogger("covidnb.data")

DEFAULT_SYNTHETIC_N = {"train": 96, "val": 32, "test": 32}
NO_SPLIT_HINT = " (and covidnb.data.subsample / your own patient-level split)"

_SHA_MEMO: dict[tuple[str, int, int], str] = {}


class SyntheticDataWarning(UserWarning):
    """Raised (as a warning) when a real dataset is replaced by its phantom."""


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


class BaseDataset(Dataset):
    """Common constructor, attributes, ``info()``, ``checksum()``, ``subset()``, sample dict.

    Subclasses implement :meth:`_load` (the tensors of sample ``i``) and :meth:`_files` (the
    files sample ``i`` reads, for the checksum); a dataset read from disk also implements
    :meth:`index_split`. Phantoms, which list no files, fill the table with :meth:`_set_samples`.
    """

    # -- what a dataset class declares ----------------------------------------------------
    kind: str = ""  # the manifest loader.kind it reads (covidnb.data.registry)
    title: str = "this dataset"  # how error messages name it
    default_name: str = ""  # the manifest read when no options/classes are given
    default_split: str = "train"
    splits: tuple[str, ...] = ("train", "test")  # manifest loader.options.splits overrides
    split_aliases: ClassVar[dict[str, str]] = {}
    # extra keywords of the layout (e.g. COVIDx version) and their defaults
    layout_settings: ClassVar[dict[str, Any]] = {}
    strict: bool = False  # default for listed files that are absent: raise, or drop and log
    multilabel: bool = False
    cached: bool = False  # whether decoded images go to the on-disk cache

    _per_sample: tuple[str, ...] = ("targets", "sample_ids", "patient_ids", "sources")

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        *,
        name: str | None = None,
        classes: Sequence[str] | None = None,
        options: dict[str, Any] | None = None,
        image_size: int = 224,
        channels: int = 1,
        transform: Callable | None = None,
        cache: Any = True,
        strict: bool | None = None,
        **layout: Any,
    ):
        """Open the dataset folder ``root`` at ``split`` (``"all"``: every split). ``options``
        and ``classes`` are the manifest's ``loader.options`` and ``classes``; where ``None``,
        the manifest ``name`` (default :attr:`default_name`) supplies them."""
        unknown = sorted(set(layout) - set(self.layout_settings))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword(s) {unknown}")
        layout = {**self.layout_settings, **layout}
        for key, value in layout.items():
            setattr(self, key, value)
        name = name or self.default_name
        if options is None or classes is None:
            from covidnb.data.manifest import load_manifest

            man = load_manifest(name)
            options = man.options if options is None else options
            classes = man.classes if classes is None else classes
        self.name, self.options = name, dict(options)
        asked = split or self.default_split
        self.split, self.root = self.split_aliases.get(asked, asked), Path(root)
        records = self.index(self.root, self.options, list(classes), self.split, **layout)
        records = resolve_present(
            self.select(records),
            strict=self.strict if strict is None else strict,
            what=f"{name}/{asked}",
        )
        self._set_samples(
            name=name,
            split=self.split,
            classes=classes,
            targets=[r.label for r in records],
            sample_ids=[r.sample_id for r in records],
            patient_ids=[r.patient_id for r in records],
            sources=[r.source or name for r in records],
            root=self.root,
            multilabel=self.multilabel,
            transform=transform,
            image_size=image_size,
            channels=channels,
        )
        columns = self.columns(records)
        for attr, values in columns.items():
            setattr(self, attr, values)
        self._per_sample = BaseDataset._per_sample + tuple(columns)
        self.cache = make_cache(cache, name, image_size, channels) if self.cached else None

    # -- the layout: what a dataset class implements ------------------------------------------
    @classmethod
    def split_names(cls, options: dict[str, Any]) -> list[str]:
        """The layout's splits (``["all"]`` alone: published without a split)."""
        return list(options.get("splits", cls.splits))

    @classmethod
    def index_split(
        cls, root: Path, options: dict[str, Any], classes: list[str], split: str, **layout: Any
    ) -> list[Record]:  # pragma: no cover - abstract
        """One :class:`Record` per sample listed for ``split``, labelled or not."""
        raise NotImplementedError

    @classmethod
    def index(
        cls,
        root: str | os.PathLike,
        options: dict[str, Any],
        classes: list[str],
        split: str,
        **layout: Any,
    ) -> list[Record]:
        """Every sample listed for ``split`` with its expected path; ``"all"`` joins every split
        (unless the layout has a split of that name). An unknown split raises ``ValueError``
        naming the available ones. :func:`covidnb.data.verify.verify` reads the same records."""
        root = Path(root)
        split = cls.split_aliases.get(split, split)
        names = cls.split_names(options)
        if names == ["all"] and split != "all":
            raise ValueError(
                f"{root}: {cls.title} has no official split; use split='all'{NO_SPLIT_HINT}"
            )
        if split == "all" and "all" not in names:
            return [r for s in names for r in cls.index_split(root, options, classes, s, **layout)]
        if split not in names:
            avail = names + ([] if "all" in names else ["all"])
            alias = "".join(f", {a} (= {c})" for a, c in cls.split_aliases.items())
            raise ValueError(
                f"unknown split {split!r} for {cls.title} ({root}); "
                f"available: {', '.join(avail)}{alias}"
            )
        return cls.index_split(root, options, classes, split, **layout)

    def select(self, records: list[Record]) -> list[Record]:
        """Checks or filters over the whole listing before absent files are dropped."""
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        """Per-sample attributes beyond the contract's (file paths, findings, boxes …), one
        entry per record; subsets index them too."""
        return {}

    # -- opening by manifest, with the synthetic fallback ---------------------------------------
    @classmethod
    def open(
        cls,
        manifest,
        split: str,
        *,
        root: str | os.PathLike | None = None,
        fallback: str = "synthetic",
        seed: int = 0,
        synthetic_n: int | None = None,
        class_probs: Sequence[float] | None = None,
        **kw: Any,
    ):
        """The dataset of ``manifest`` found under the data roots (``root`` first). When it is
        not there, ``fallback="synthetic"`` warns loudly, naming how to get it, and returns the
        phantom of its modality with its classes; ``fallback="error"`` raises."""
        from covidnb.data.locate import DatasetNotFound, find_dataset

        if fallback not in ("synthetic", "error"):
            raise ValueError(f"fallback must be 'synthetic' or 'error', got {fallback!r}")
        if "search_root" in cls.layout_settings:  # a composite looks for its sources there
            kw.setdefault("search_root", root)
        try:
            found = find_dataset(manifest.name, root)
            return cls(
                found,
                split,
                name=manifest.name,
                classes=manifest.classes,
                options=manifest.options,
                **kw,
            )
        except DatasetNotFound as exc:  # VolumesMissing too: labels without their images
            if fallback == "error":
                raise
            from covidnb.data.synthetic import SYNTHETIC_BANNER

            msg = (
                f"{SYNTHETIC_BANNER}\nDataset {manifest.name!r} is not available, "
                "so open_dataset returns a synthetic "
                f"{manifest.modality} phantom with the same classes "
                f"({', '.join(manifest.classes)}).\n{exc}"
            )
            warnings.warn(msg, SyntheticDataWarning, stacklevel=3)
            log.warning(msg)
            return cls.phantom(manifest, split, synthetic_n, seed, class_probs, **kw)

    @classmethod
    def phantom(cls, manifest, split: str, n, seed: int, class_probs, **kw: Any):
        """The phantom standing in for this dataset (:func:`covidnb.data.synthetic.synthetic_for`)."""
        from covidnb.data.synthetic import synthetic_for

        settings: dict[str, Any] = {
            "split": split,
            "n": n or DEFAULT_SYNTHETIC_N.get(split, 64),
            "classes": manifest.classes,
            "name": f"synthetic-{manifest.name}",
            "image_size": kw.get("image_size", 224),
            "channels": kw.get("channels", 1),
            "seed": seed,
            "transform": kw.get("transform"),
            **cls.phantom_settings(kw),
        }
        if class_probs is not None and not manifest.multilabel:
            settings["class_probs"] = class_probs
        return synthetic_for(manifest.modality, multilabel=manifest.multilabel, **settings)

    @classmethod
    def phantom_settings(cls, kw: dict[str, Any]) -> dict[str, Any]:
        """Phantom keywords taken from the open call (volumes: their size)."""
        return {}

    # -- the table -----------------------------------------------------------------------------
    def _set_samples(
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
    ) -> None:
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

    cached = True

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {"paths": [r.path for r in records]}

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
