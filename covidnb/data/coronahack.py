"""CoronaHack chest X-rays (Kaggle ``praveengovi/coronahack-chest-xraydataset``) mapped to the
three COVIDx classes. The metadata CSV labels every image; images are looked up in the Kaggle
layout under the dataset folder and then in the source datasets the manifest names (its Cohen
and Figure 1 images carry the same file names)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from covidnb.data.base import ImageFileDataset
from covidnb.data.covidx import source_folders
from covidnb.data.records import FolderIndex, Record
from covidnb.data.tables import read_text_csv, require_file


def coronahack_class(label: str, virus2: str) -> str | None:
    """CoronaHack row → COVIDx class: ``Normal`` → normal; ``Pnemonia`` [sic] with category
    COVID-19 → COVID-19; any other ``Pnemonia`` (bacteria, virus, SARS, Streptococcus, ARDS,
    as the dataset labels them) → pneumonia."""
    label = (label or "").strip()
    if label == "Normal":
        return "normal"
    if label.startswith("Pn"):
        return "COVID-19" if (virus2 or "").strip() == "COVID-19" else "pneumonia"
    return None


def read_coronahack_metadata(path: str | os.PathLike) -> pd.DataFrame:
    """The CoronaHack metadata CSV with a ``class`` column (COVIDx classes) added."""
    df = read_text_csv(
        Path(path), columns=["X_ray_image_name", "Label", "Dataset_type", "Label_2_Virus_category"]
    )
    df["class"] = [
        coronahack_class(a, b) for a, b in zip(df["Label"], df["Label_2_Virus_category"])
    ]
    return df


class CoronaHackDataset(ImageFileDataset):
    """CoronaHack chest X-rays, 3 classes; ``train`` / ``test`` from ``Dataset_type``.
    Patient ids exist only for the Kermany pneumonia images (``patient_regex``)."""

    kind, title, default_name = "coronahack", "CoronaHack", "coronahack"
    layout_settings: ClassVar[dict[str, Any]] = {"search_root": None}

    @classmethod
    def split_names(cls, options) -> list[str]:
        return ["train", "test"]  # the Dataset_type values, whatever the manifest says

    @classmethod
    def index_split(cls, root: Path, options, classes, split, search_root=None) -> list[Record]:
        meta = require_file(
            root / options.get("metadata", "Chest_xray_Corona_Metadata.csv"),
            "CoronaHack metadata file",
        )
        df = read_coronahack_metadata(meta)
        local = FolderIndex(root / options.get("image_dir", "{split}").format(split=split))
        fallback = [f for fs in source_folders(options, search_root).values() for f in fs]
        regex = options.get("patient_regex")
        records = []
        for rowno, row in enumerate(df.to_dict("records"), start=2):
            if row["Dataset_type"].strip().lower() != split:
                continue
            name = row["X_ray_image_name"]
            path = local.find(name, by_stem=False)
            for folder in fallback if path is None else []:
                if (path := folder.find(name, by_stem=False)) is not None:
                    break
            path = path or local.folder / name
            m = re.search(regex, name) if regex else None
            records.append(
                Record(
                    path=path,
                    label=classes.index(row["class"]) if row["class"] in classes else None,
                    sample_id=f"{split}/{name}",
                    patient_id=m.group(1) if m else "",
                    origin=f"{meta}:{rowno}",
                )
            )
        return records
