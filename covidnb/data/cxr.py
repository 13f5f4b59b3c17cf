"""Single-label chest X-ray datasets mapped to the three COVIDx classes
``["normal", "pneumonia", "COVID-19"]`` (Wang et al., COVID-Net, Sci Rep 10:19549, 2020).

- :class:`CXRMetadataDataset` (here): a folder of images plus a ``metadata.csv`` with a
  ``finding`` column (Cohen et al. covid-chestxray-dataset; Figure 1, whose CSV is Latin-1;
  Actualmed), and the finding → class map COVIDx uses.
- :class:`~covidnb.data.covidx.COVIDxDataset`: the COVIDx label files.
- :class:`~covidnb.data.coronahack.CoronaHackDataset`: Kaggle CoronaHack metadata.
- :class:`~covidnb.data.rsna.RSNADataset`: RSNA Pneumonia Detection Challenge (DICOM).

Policy for listed images that are absent: by default they are dropped and the number is
logged (the staged data in ``../shared/data`` are subsets); ``strict=True`` raises
:class:`~covidnb.data.records.MissingImageError` naming the listing file and line.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from covidnb.data.base import ImageFileDataset
from covidnb.data.records import FolderIndex, Record
from covidnb.data.tables import read_text_csv, require_file

log = logging.getLogger("covidnb.data")

CXR3_CLASSES = ["normal", "pneumonia", "COVID-19"]

# Finding (leaf of a hierarchical label) -> class. COVIDx's own table (create_COVIDx notebook:
# COVID-19, SARS, MERS, Streptococcus, Klebsiella, Chlamydophila, Legionella, E.Coli, Normal,
# No Finding, Lung Opacity) extended with the other infectious pneumonias of the Cohen collection.
# ARDS, Tuberculosis and "todo" are left out, as COVIDx leaves them out.
COVIDX_FINDING_MAP = {
    "COVID-19": "COVID-19",
    "SARS": "pneumonia",
    "MERS": "pneumonia",
    "MERS-CoV": "pneumonia",
    "Streptococcus": "pneumonia",
    "Klebsiella": "pneumonia",
    "Chlamydophila": "pneumonia",
    "Legionella": "pneumonia",
    "E.Coli": "pneumonia",
    "Lung Opacity": "pneumonia",
    "Pneumocystis": "pneumonia",
    "Mycoplasma Bacterial Pneumonia": "pneumonia",
    "Bacterial": "pneumonia",
    "Influenza": "pneumonia",
    "Varicella": "pneumonia",
    "Lipoid": "pneumonia",
    "Pneumonia": "pneumonia",
    "No Finding": "normal",
    "No finding": "normal",
    "Normal": "normal",
}


def map_finding(finding: str, mapping: dict[str, str] | None = None) -> str | None:
    """The COVIDx class of a ``finding`` value, ``None`` when unmapped or blank.

    Values starting with ``COVID-19`` (``"COVID-19, ARDS"``) are COVID-19; hierarchical values
    (``Pneumonia/Viral/COVID-19``) are mapped by their leaf, then by their root, so both the
    mid-2020 flat vocabulary and the later one work.
    """
    mapping = COVIDX_FINDING_MAP if mapping is None else mapping
    f = (finding or "").strip()
    if not f or f.lower() == "todo":
        return None
    parts = [p.strip() for p in f.split("/") if p.strip()]
    if any(p.startswith("COVID-19") for p in parts):  # e.g. "COVID-19, ARDS"
        return mapping.get("COVID-19")
    for key in (f, parts[-1], parts[0]):
        if key in mapping:
            return mapping[key]
    return None


class CXRMetadataDataset(ImageFileDataset):
    """Chest X-rays from an image folder + ``metadata.csv`` (``finding`` → 3 COVIDx classes).

    Rows whose finding is blank or unmapped (e.g. ARDS, Figure 1's 15 blank findings) are left
    out; ``self.excluded`` counts them by finding. No official split: open ``split="all"``.
    """

    kind, default_name, default_split = "cxr_metadata", "cohen-covid-chestxray", "all"
    splits = ("all",)

    @classmethod
    def index_split(cls, root: Path, options: dict[str, Any], classes, split) -> list[Record]:
        """One record per metadata row; rows the filters leave out, or whose finding is
        unmapped, get ``label=None``."""
        meta = require_file(root / options.get("metadata", "metadata.csv"), "metadata file")
        finding_col = options.get("finding_col", "finding")
        patient_col = options.get("patient_col", "patientid")
        file_col = options.get("filename_col")
        encoding = options.get("encoding", "utf-8")
        df = read_text_csv(
            meta,
            encoding=encoding,
            columns=[finding_col, patient_col, file_col or "", options.get("folder_col", "")]
            + list(options.get("filters", {})),
            hint="; set loader.options.encoding in the manifest "
            "(Figure 1's metadata.csv is latin-1)",
        )
        folder_col = options.get("folder_col")
        folders: dict[str, FolderIndex] = {}

        def folder_of(row) -> FolderIndex:
            sub = (
                row[folder_col]
                if folder_col and row.get(folder_col)
                else options.get("image_dir", "images")
            )
            if sub not in folders:
                folders[sub] = FolderIndex(root / sub)
            return folders[sub]

        mapping = options.get("finding_map") or COVIDX_FINDING_MAP
        records = []
        for rowno, row in enumerate(df.to_dict("records"), start=2):  # line 1 is the header
            # Rows the filters leave out (e.g. CT images in Cohen's images/) stay as unlabelled
            # records: their files are part of the dataset, not extra files.
            passes = all(
                row[col] in (allowed if isinstance(allowed, list) else [allowed])
                for col, allowed in options.get("filters", {}).items()
            )
            images = folder_of(row)
            if file_col:
                name = row[file_col]
                path = images.find(name, by_stem=False) or images.folder / name
            else:  # Figure 1 / Actualmed: the image is named after the patient id
                name = row[patient_col]
                path = images.find(name) or images.folder / f"{name}.jpg"
            klass = map_finding(row[finding_col], mapping)
            label = classes.index(klass) if klass in classes and passes else None
            records.append(
                Record.at(
                    path,
                    root,
                    label,
                    f"{meta}:{rowno}",
                    patient_id=str(row[patient_col]).strip(),
                    extra={"finding": row[finding_col], "filtered": not passes},
                )
            )
        return records

    def select(self, records: list[Record]) -> list[Record]:
        self.excluded = Counter(
            r.extra["finding"] or "(blank)"
            for r in records
            if r.label is None and not r.extra["filtered"]
        )
        if self.excluded:
            log.info("%s: rows left out by the class mapping: %s", self.name, dict(self.excluded))
        return records

    def columns(self, records: list[Record]) -> dict[str, Any]:
        return {**super().columns(records), "findings": [r.extra["finding"] for r in records]}
