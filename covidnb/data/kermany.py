"""Kermany et al. pediatric chest X-rays ("Labeled Optical Coherence Tomography (OCT) and Chest
X-Ray Images for Classification", Mendeley Data v2, doi:10.17632/rscbjbr9sj.2; Cell 172(5), 2018),
the normal and pneumonia images behind CoronaHack.

Layout, as published (Mendeley ``ChestXRay2017.zip`` and the Kaggle copy
``paultimothymooney/chest-xray-pneumonia``): ``chest_xray/<split>/{NORMAL,PNEUMONIA}/*.jpeg``,
splits ``train`` and ``test`` (Kaggle adds a 16-image ``val``). Pneumonia file names carry the
patient and the cause (``person1_bacteria_1.jpeg``, ``person1_virus_6.jpeg``); normal ones are
``IM-0115-0001.jpeg`` or ``NORMAL2-IM-0927-0001.jpeg``, whose leading part names the patient.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from covidnb.data.base import ImageFileDataset
from covidnb.data.imageio import IMAGE_EXTENSIONS
from covidnb.data.records import Record

FOLDER_CLASSES = {"NORMAL": "normal", "PNEUMONIA": "pneumonia"}
_PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_", re.IGNORECASE)
_NORMAL = re.compile(r"^((?:NORMAL2-)?IM-\d+)-\d+", re.IGNORECASE)


def kermany_patient(filename: str) -> tuple[str, str]:
    """``(patient id, cause)`` read from a Kermany file name; ``("", "")`` when it has neither
    form (the image is then its own group in a patient split)."""
    if m := _PERSON.match(filename):
        return m.group(1).lower(), m.group(2).lower()
    if m := _NORMAL.match(filename):
        return m.group(1).upper(), ""
    return "", ""


class KermanyDataset(ImageFileDataset):
    """Kermany chest X-rays, classes normal / pneumonia (COVIDx's names) by class folder.
    ``causes`` holds bacteria / virus for pneumonia images (from the file name)."""

    kind, default_name, title = "kermany", "kermany-chest-xray", "Kermany chest X-ray"
    splits = ("train", "val", "test")

    @classmethod
    def split_names(cls, options: dict[str, Any]) -> list[str]:
        return list(options.get("splits", cls.splits))

    @classmethod
    def index_split(cls, root: Path, options, classes, split) -> list[Record]:
        base = root / options.get("image_root", "chest_xray") / split
        if not base.is_dir():
            if split == "val":  # the Mendeley layout has no val folder: an empty split
                return []
            raise FileNotFoundError(f"{base}: Kermany split folder {split!r} does not exist")
        records = []
        for folder, klass in options.get("class_folders", FOLDER_CLASSES).items():
            files = sorted(p for p in (base / folder).glob("*")
                           if p.suffix.lower() in IMAGE_EXTENSIONS)
            for path in files:
                pid, cause = kermany_patient(path.name)
                label = classes.index(klass) if klass in classes else None
                records.append(Record.at(path, root, label, str(base / folder),
                                         patient_id=pid, extra={"cause": cause}))
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {**super().columns(records), "causes": [r.extra["cause"] for r in records]}
