"""ChestX-ray14 read from CheXNet-style label lists: ``<image name> <14 labels 0/1>`` a line.

The CheXNet reproduction (``arnoweng/CheXNet``, labels of the 2017 release) ships
``train_list.txt`` / ``val_list.txt`` / ``test_list.txt``: every one of the 112,120 images with
its 14-label vector, split 70 / 10 / 20 by patient. These lists are the label matrix of the
whole dataset, which the DeepCXray chapter analyses without images, and a split a run can use
once the images are present.

Layout (manifest ``chexnet-split-labels``): the three lists in the dataset folder; the images
in one of ``options.image_dirs`` (relative to that folder; by default ``images/``, the Kaggle
``images_0NN/images/`` folders and the sibling ``../nih-chestxray14/images/``, where the official
release is unpacked). Absent images are skipped (logged), so the staged lists alone open as
an empty split.

``resplit`` (a layout setting, ``dataset_kwargs``) pools the three lists and draws the paper's
random 70 / 10 / 20 split again (:func:`covidnb.data.chestxray14_splits.random_split`):
``"image"`` (DeepCXray's likely reading, which leaks patients) or ``"patient"``, seeded by
``split_seed``. ``phantom=True`` opens the labelled multi-label phantom
(:class:`~covidnb.data.chestxray14_phantom.ChestXray14Phantom`) whose label vectors are rows of
the split's real label matrix.
"""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from covidnb.data.base import ImageFileDataset
from covidnb.data.chestxray14_splits import (
    LEVELS,
    PAPER_FRACTIONS,
    SPLITS,
    patient_of,
    random_split,
)
from covidnb.data.nih import BBOX_COLUMNS, NIH_LABELS, read_bbox_list
from covidnb.data.records import FolderIndex, Record
from covidnb.data.tables import listed_lines, require_file

LIST_FILES = {s: f"{s}_list.txt" for s in SPLITS}


def read_label_list(path: str | os.PathLike, labels: list[str] = NIH_LABELS) -> pd.DataFrame:
    """One CheXNet label list: columns ``image``, ``patient_id`` and one 0/1 ``int8`` column per
    label. A line that is not ``<name>.png`` followed by ``len(labels)`` zeros and ones raises
    ``ValueError`` naming the file and the line."""
    names, rows = [], []
    k = len(labels)
    for lineno, text in listed_lines(require_file(Path(path), "ChestX-ray14 label list")):
        parts = text.split()
        if len(parts) != k + 1 or not parts[0].endswith(".png") or any(v not in ("0", "1") for v in parts[1:]):
            raise ValueError(f"{path}:{lineno}: expected '<image>.png' and {k} labels 0/1, got {text[:80]!r}")
        names.append(parts[0])
        rows.append([int(v) for v in parts[1:]])
    frame = pd.DataFrame(np.asarray(rows, dtype=np.int8).reshape(len(rows), k), columns=labels)
    frame.insert(0, "patient_id", patient_of(names))
    frame.insert(0, "image", names)
    return frame


def read_label_lists(root: str | os.PathLike, labels: list[str] = NIH_LABELS) -> pd.DataFrame:
    """The three lists of ``root`` joined, with a ``split`` column (train, val, test). An image
    listed twice raises ``ValueError`` naming it."""
    root = Path(root)
    frames = [read_label_list(root / LIST_FILES[s], labels).assign(split=s) for s in SPLITS]
    frame = pd.concat(frames, ignore_index=True)
    dup = frame["image"][frame["image"].duplicated()]
    if len(dup):
        raise ValueError(f"{root}: {len(dup)} image(s) listed twice across the lists, first {dup.iloc[0]}")
    return frame


class ChestXray14Lists(ImageFileDataset):
    """ChestX-ray14 on the CheXNet label lists (splits ``train``/``val``/``test``).

    ``label`` is the 14-vector; ``normal`` (1.0 when all 14 are 0, "No Finding") is DeepCXray's
    auxiliary target. ``sample_id`` is ``images/<name>`` wherever the image was found, so a run
    keys alike on every machine. ``bboxes(sample_id)`` reads ``BBox_List_2017.csv`` when one of
    ``options.bbox_lists`` is present.
    """

    kind, title = "chexnet_lists", "ChestX-ray14 (CheXNet label lists)"
    default_name, default_split = "chexnet-split-labels", "train"
    splits = SPLITS
    multilabel = True
    layout_settings: ClassVar[dict[str, Any]] = {"resplit": None, "split_seed": 0,
                                                 "fractions": list(PAPER_FRACTIONS)}

    @classmethod
    def index_split(cls, root: Path, options, classes, split, resplit=None, split_seed=0,
                    fractions=PAPER_FRACTIONS) -> list[Record]:
        if resplit is None:
            frame = read_label_list(root / LIST_FILES[split], list(classes))
            origin = [f"{root / LIST_FILES[split]}:{i + 1}" for i in range(len(frame))]
        else:
            if resplit not in LEVELS:
                raise ValueError(f"resplit must be None or one of {LEVELS}, got {resplit!r}")
            pooled = read_label_lists(root, list(classes))
            keep = random_split(pooled["image"], level=resplit, seed=int(split_seed), fractions=fractions) == split
            frame = pooled[keep].reset_index(drop=True)
            origin = [f"{root / LIST_FILES[s]} ({resplit}-level resplit, seed {split_seed})" for s in frame["split"]]
        dirs = [FolderIndex(root / d) for d in options.get("image_dirs", ["images"])]
        # a labels-only copy (the staged lists) declares only the images it has: verification
        # then compares what is there, not the 112,120 files of the release
        present_only = bool(options.get("present_only"))
        y = frame[list(classes)].to_numpy(np.float32)
        records = []
        for i, name in enumerate(frame["image"]):
            found = next((p for p in (d.find(name, by_stem=False) for d in dirs) if p is not None), None)
            if found is None and present_only:
                continue
            path = found or dirs[0].folder / name
            records.append(Record(path=path, label=y[i], sample_id=f"images/{name}",
                                  patient_id=frame["patient_id"].iat[i], origin=origin[i],
                                  extra={"normal": float(y[i].sum() == 0)}))
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {**super().columns(records),
                "normal": np.array([r.extra["normal"] for r in records], dtype=np.float32)}

    def _load(self, i: int) -> dict[str, Any]:
        sample = super()._load(i)
        sample["normal"] = torch.tensor(self.normal[i], dtype=torch.float32)
        return sample

    @cached_property
    def bbox_table(self) -> pd.DataFrame:
        """The first of ``options.bbox_lists`` that exists (empty frame when none does)."""
        for rel in self.options.get("bbox_lists", ["BBox_List_2017.csv"]):
            if (self.root / rel).is_file():
                return read_bbox_list(self.root / rel)
        return pd.DataFrame(columns=BBOX_COLUMNS)

    def bboxes(self, sample_id: str) -> list[dict[str, Any]]:
        """Boxes of one image in original 1024² pixels: ``[{label, x, y, w, h}]``."""
        rows = self.bbox_table[self.bbox_table["Image Index"] == Path(sample_id).name]
        return [{"label": r["Finding Label"], **{k: float(r[k]) for k in "xywh"}} for _, r in rows.iterrows()]

    # -- the phantom whose labels are this split's real label vectors ----------------------------
    @classmethod
    def open(cls, manifest, split: str, *, phantom: bool = False, phantom_n: dict | None = None,
             synthetic_n: int | None = None, seed: int = 0, root=None, fallback: str = "synthetic", **kw: Any):
        """As :meth:`BaseDataset.open`; ``phantom=True`` returns the DeepCXray phantom with
        ``phantom_n[split]`` (else ``synthetic_n``, else 256) images whose label vectors are drawn
        from this split's real lists (or, when the lists are absent, from the prevalences of the
        whole release, with a warning)."""
        if not phantom:
            return super().open(manifest, split, root=root, fallback=fallback, seed=seed,
                                synthetic_n=synthetic_n, **kw)
        from covidnb.data.chestxray14_phantom import ChestXray14Phantom
        from covidnb.data.locate import try_find

        found = try_find(manifest.name, root)
        labels = None
        if found is not None:
            frame = read_label_list(found / LIST_FILES[cls.split_aliases.get(split, split)], manifest.classes)
            labels = frame[manifest.classes].to_numpy(np.float32)
        else:
            warnings.warn(f"{manifest.name}: label lists not found; the phantom draws labels "
                          "independently at the release's prevalences", stacklevel=2)
        kw.pop("cache", None)
        n = int((phantom_n or {}).get(split) or synthetic_n or 256)
        return ChestXray14Phantom(split, n=n, seed=seed, classes=manifest.classes,
                                  label_pool=labels, name=f"synthetic-{manifest.name}", **kw)
