"""2-D CT slice classification datasets (COVID-CT, COVIDx-CT, SARS-CoV-2 CT-scan, COVID19-Diag).

One class, three layouts, chosen by the manifest's ``loader.options.mode``:

- ``split_files`` (COVID-CT, Zhao et al. 2020, arXiv:2003.13865): per class an image folder
  and one list file per split (``Data-split/COVID/trainCT_COVID.txt`` …), one file name a line;
  patient ids from meta CSVs.
- ``label_file`` (COVIDx-CT, Gunraj et al. 2020): one file per split, lines
  ``filename class xmin ymin xmax ymax``; the patient id is read from the file name.
- ``class_folders`` (SARS-CoV-2 CT-scan, COVID19-Diag): a folder per class, optionally one per
  split (``{split}`` in the folder pattern).

A file listed in a split file that does not exist raises :class:`MissingImageError` naming the
split file, the line and the path (``strict=False`` drops such files and logs how many).

A folder holding a decoded pack (``covidnb-pack.json``, :mod:`covidnb.data.pack`) instead of
its image files opens from the pack, with the same tensors and the same checksum.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from covidnb.data.base import ImageFileDataset
from covidnb.data.imageio import IMAGE_EXTENSIONS
from covidnb.data.pack import PackedImages
from covidnb.data.records import Record
from covidnb.data.tables import label_lines, listed_lines, read_text_csv, require_file

log = logging.getLogger("covidnb.data")


def _patient_map(root: Path, options: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in options.get("patients", []) or []:
        path = root / spec["csv"]
        if not path.exists():
            log.warning("%s: patient-id file is absent; patient ids left empty", path)
            continue
        df = read_text_csv(
            path,
            encoding=spec.get("encoding", "utf-8"),
            columns=[spec["file_col"], spec["patient_col"]],
        )
        out.update(
            {
                os.path.basename(f): p.strip()
                for f, p in zip(df[spec["file_col"]], df[spec["patient_col"]])
                if f
            }
        )
    return out


def _index_split_files(root: Path, options, classes, split) -> list[Record]:
    records = []
    for ci, cls in enumerate(classes):
        spec = options["classes"][cls]
        list_file = require_file(
            root / spec["split_file"].format(split=split),
            f"split file for class {cls!r}, split {split!r}",
        )
        image_dir = root / spec["image_dir"]
        for lineno, fname in listed_lines(list_file):
            records.append(Record.at(image_dir / fname, root, ci, f"{list_file}:{lineno}"))
    return records


def _index_label_file(root: Path, options, classes, split) -> list[Record]:
    list_file = require_file(
        root / options["label_file"].format(split=split), f"label file for split {split!r}"
    )
    label_map = {str(k): v for k, v in options["label_map"].items()}
    image_dir = root / options.get("image_dir", "")
    records = []
    form = "filename class [xmin ymin xmax ymax]"
    for lineno, parts in label_lines(list_file, field=1, labels=sorted(label_map), form=form):
        label = classes.index(label_map[parts[1]])
        extra = {"bbox": [float(v) for v in parts[2:6]]} if len(parts) >= 6 else {}
        origin = f"{list_file}:{lineno}"
        records.append(Record.at(image_dir / parts[0], root, label, origin, extra=extra))
    return records


def _index_class_folders(root: Path, options, classes, split) -> list[Record]:
    records = []
    exts = tuple(options.get("extensions", IMAGE_EXTENSIONS))
    for ci, cls in enumerate(classes):
        folder = root / options["class_dirs"][cls].format(split=split)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: folder of class {cls!r} (split {split!r}) does not exist"
            )
        for path in sorted(
            p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(exts)
        ):
            records.append(Record.at(path, root, ci, str(folder)))
    return records


_MODES: dict[str, Callable[..., list[Record]]] = {
    "split_files": _index_split_files,
    "label_file": _index_label_file,
    "class_folders": _index_class_folders,
}


class CTSliceDataset(PackedImages, ImageFileDataset):
    """2-D CT slices with a class label (``classes`` from the manifest; COVID-CT:
    ``["CT_NonCOVID", "CT_COVID"]``, label 1 = COVID, the positive class).

    ``root`` is the dataset folder; ``options``/``classes`` come from the manifest (see
    :func:`covidnb.data.open_dataset`). ``strict=True`` (default) raises on a listed file that is
    missing. ``bboxes`` holds COVIDx-CT's lesion boxes (``None`` where a layout has none).
    """

    kind, title, default_name = "ct_slices", "CT slices", "covid-ct"
    splits = ("train", "val", "test")
    strict = True

    @classmethod
    def index_split(cls, root: Path, options, classes, split) -> list[Record]:
        mode = options.get("mode", "split_files")
        if mode not in _MODES:
            raise ValueError(f"unknown ct_slices mode {mode!r}; known: {', '.join(_MODES)}")
        return _MODES[mode](root, options, classes, split)

    @classmethod
    def index(cls, root, options, classes, split, **layout) -> list[Record]:
        """Every sample listed for ``split`` (``"all"``: every split), with patient ids from the
        meta CSVs or, failing that, read from the file name by ``patient_regex``."""
        records = super().index(root, options, classes, split, **layout)
        pmap = _patient_map(Path(root), options)
        regex = options.get("patient_regex")
        for r in records:
            if r.path.name in pmap:
                r.patient_id = pmap[r.path.name]
            elif regex and (m := re.search(regex, r.path.name)):
                r.patient_id = m.group(1)
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {**super().columns(records), "bboxes": [r.extra.get("bbox") for r in records]}
