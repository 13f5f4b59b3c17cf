"""NIH ChestX-ray14 (Wang et al., ChestX-ray8, CVPR 2017): 14-label multi-label chest X-rays.

Reads the release's own files: ``Data_Entry_2017.csv`` (``Finding Labels`` joined by ``|``,
``No Finding`` for none), ``train_val_list.txt`` / ``test_list.txt`` (one image name a line)
and ``BBox_List_2017.csv`` (boxes for 984 images, accessible by sample id). Label order is the
release's (as in CheXNet and the DeepCXray paper's tables). ``label`` is a float 0/1 vector;
``normal`` (No Finding) is the auxiliary target of DeepCXray (Xu et al., IEEE Access 2018).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from covidnb.data.base import ImageFileDataset
from covidnb.data.records import Record
from covidnb.data.tables import listed_lines, require_file

NIH_LABELS = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
]
NO_FINDING = "No Finding"
SPLIT_FILES = {"train_val": "train_val_list.txt", "test": "test_list.txt"}
SPLIT_ALIASES = {"train": "train_val", "trainval": "train_val"}
BBOX_COLUMNS = ["Image Index", "Finding Label", "x", "y", "w", "h"]

_ENTRY_COLUMNS = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage Width",
    "OriginalImage Height",
    "OriginalImagePixelSpacing x",
    "OriginalImagePixelSpacing y",
]


def read_data_entry(path: str | os.PathLike) -> pd.DataFrame:
    """``Data_Entry_2017.csv``. Its header splits ``OriginalImage[Width,Height]`` and the pixel
    spacing over two columns each and ends with a comma, so the columns are named here."""
    path = Path(path)
    df = pd.read_csv(
        path,
        header=None,
        skiprows=1,
        names=_ENTRY_COLUMNS,
        usecols=range(11),
        dtype=str,
        keep_default_na=False,
    )
    if df.empty or not df["Image Index"].str.endswith(".png").all():
        raise ValueError(
            f"{path}: expected NIH Data_Entry rows starting with an image name (*.png)"
        )
    return df


def read_bbox_list(path: str | os.PathLike) -> pd.DataFrame:
    """``BBox_List_2017.csv`` as ``Image Index, Finding Label, x, y, w, h`` (its header spreads
    ``Bbox [x,y,w,h]`` over four columns and adds three empty ones)."""
    path = Path(path)
    df = pd.read_csv(
        path,
        header=None,
        skiprows=1,
        usecols=range(6),
        names=BBOX_COLUMNS,
    )
    df = df.dropna(subset=["Image Index"])
    # The box file says Infiltrate where Data_Entry says Infiltration.
    df["Finding Label"] = df["Finding Label"].replace({"Infiltrate": "Infiltration"})
    return df.reset_index(drop=True)


def labels_to_vector(findings: str, labels: list[str] = NIH_LABELS) -> np.ndarray:
    parts = [p.strip() for p in findings.split("|") if p.strip()]
    unknown = [p for p in parts if p not in labels and p != NO_FINDING]
    if unknown:
        raise ValueError(f"unknown finding label(s) {unknown}; known: {labels + [NO_FINDING]}")
    return np.array([1.0 if lab in parts else 0.0 for lab in labels], dtype=np.float32)


class NIHChestXray14(ImageFileDataset):
    """NIH ChestX-ray14 with the official ``train_val`` / ``test`` lists (``train`` is an alias
    of ``train_val``) or ``all`` (every ``Data_Entry`` row, in its order). ``multilabel=True``;
    ``label`` is a 14-vector; the sample dict also carries ``normal`` (1.0 for No Finding).
    ``bboxes(sample_id)`` gives the boxes."""

    kind, title = "nih", "NIH ChestX-ray14"
    default_name, default_split = "nih-chestxray14", "train_val"
    split_aliases = SPLIT_ALIASES
    multilabel = True

    @classmethod
    def split_names(cls, options) -> list[str]:
        return [*SPLIT_FILES, "all"]  # "all" is Data_Entry itself, not the lists joined

    @classmethod
    def index_split(cls, root: Path, options, classes, split) -> list[Record]:
        entry_path = require_file(
            root / options.get("data_entry", "Data_Entry_2017.csv"), "NIH label file"
        )
        entries = read_data_entry(entry_path)
        image_dirs = [root / d for d in options.get("image_dirs", ["images"])]
        if split == "all":
            wanted = list(entries["Image Index"])
            origin = {n: f"{entry_path}:{i + 2}" for i, n in enumerate(wanted)}
        else:
            list_path = require_file(root / SPLIT_FILES[split], f"NIH split list ({split})")
            listed = list(listed_lines(list_path))
            wanted = [n for _, n in listed]
            origin = {n: f"{list_path}:{lineno}" for lineno, n in listed}
        by_name = entries.set_index("Image Index")
        records = []
        for name in wanted:
            if name not in by_name.index:
                raise ValueError(f"{origin[name]}: {name} has no row in {entry_path}")
            row = by_name.loc[name]
            path = next(
                (d / name for d in image_dirs if (d / name).is_file()), image_dirs[0] / name
            )
            records.append(
                Record.at(
                    path,
                    root,
                    labels_to_vector(row["Finding Labels"], classes),
                    origin[name],
                    patient_id=row["Patient ID"],
                    extra={
                        "normal": float(row["Finding Labels"].strip() == NO_FINDING),
                        "view": row["View Position"],
                    },
                )
            )
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {
            **super().columns(records),
            "normal": np.array([r.extra["normal"] for r in records], dtype=np.float32),
            "views": [r.extra["view"] for r in records],
        }

    @cached_property
    def bbox_table(self) -> pd.DataFrame:
        """``BBox_List_2017.csv`` (empty where the copy has none)."""
        path = self.root / self.options.get("bbox_list", "BBox_List_2017.csv")
        return read_bbox_list(path) if path.exists() else pd.DataFrame(columns=BBOX_COLUMNS)

    def _load(self, i: int) -> dict[str, Any]:
        sample = super()._load(i)
        sample["normal"] = torch.tensor(self.normal[i], dtype=torch.float32)
        return sample

    def bboxes(self, sample_id: str) -> list[dict[str, Any]]:
        """Boxes of one image (original 1024² pixel coordinates): ``[{label, x, y, w, h}]``."""
        name = Path(sample_id).name
        rows = self.bbox_table[self.bbox_table["Image Index"] == name]
        return [
            {
                "label": r["Finding Label"],
                "x": float(r["x"]),
                "y": float(r["y"]),
                "w": float(r["w"]),
                "h": float(r["h"]),
            }
            for _, r in rows.iterrows()
        ]
