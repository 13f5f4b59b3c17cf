"""RSNA Pneumonia Detection Challenge images (DICOM, read with pydicom), a COVIDx ingredient:
as in COVIDx, ``Normal`` is normal and ``Lung Opacity`` pneumonia; the "No Lung Opacity / Not
Normal" images are listed but unlabelled."""

from __future__ import annotations

from pathlib import Path

from covidnb.data.base import ImageFileDataset
from covidnb.data.records import Record
from covidnb.data.tables import read_text_csv, require_file


class RSNADataset(ImageFileDataset):
    """RSNA pneumonia chest X-rays with COVIDx-style classes; only the labelled stage-2
    training set (``train``) is published with labels."""

    kind, default_name = "rsna", "rsna-pneumonia"
    title = "RSNA (labelled stage-2 training set only)"
    splits = ("train",)

    @classmethod
    def index_split(cls, root: Path, options, classes, split) -> list[Record]:
        """One record per patientId of ``stage_2_detailed_class_info.csv`` (duplicates per box
        collapsed); classes by ``class_map`` (COVIDx: Normal → normal, Lung Opacity →
        pneumonia)."""
        info = require_file(
            root / options.get("class_info", "stage_2_detailed_class_info.csv"),
            "RSNA class-info file",
        )
        cmap = options.get("class_map", {"Normal": "normal", "Lung Opacity": "pneumonia"})
        image_dir = root / options.get("image_dir", "stage_2_train_images")
        seen, records = set(), []
        rows = read_text_csv(info, columns=["patientId", "class"]).to_dict("records")
        for rowno, row in enumerate(rows, start=2):  # line 1 is the header
            pid = row["patientId"]
            if pid in seen:
                continue
            seen.add(pid)
            klass = cmap.get(row["class"])
            label = classes.index(klass) if klass in classes else None
            path, origin = image_dir / f"{pid}.dcm", f"{info}:{rowno}"
            records.append(Record.at(path, root, label, origin, patient_id=pid))
        return records
