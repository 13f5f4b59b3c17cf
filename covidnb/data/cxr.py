"""Single-label chest X-ray datasets mapped to the three COVIDx classes
``["normal", "pneumonia", "COVID-19"]`` (Wang et al., COVID-Net, Sci Rep 10:19549, 2020).

- :class:`CXRMetadataDataset`: a folder of images plus a ``metadata.csv`` with a ``finding``
  column (Cohen et al. covid-chestxray-dataset; Figure 1, whose CSV is Latin-1; Actualmed).
- :class:`COVIDxDataset`: the COVIDx label files ``{train,test}_COVIDx{3,5}.txt`` (lines
  ``patientid filename label [source]``), each image resolved in a full COVIDx folder
  (``train/``, ``test/``) or in its source dataset's folder (cohen, fig1, actmed, rsna, sirm).
- :class:`CoronaHackDataset`: Kaggle CoronaHack metadata (labels; images where present).
- :class:`RSNADataset`: RSNA Pneumonia Detection Challenge (DICOM, read with pydicom).

Policy for listed images that are absent: by default they are dropped and the number is
logged (the staged data in ``../shared/data`` are subsets); ``strict=True`` raises
:class:`~covidnb.data.base.MissingImageError` naming the listing file and line.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from covidnb.data.base import (
    ImageFileDataset,
    Record,
    index_splits,
    manifest_defaults,
    record_columns,
    relative_id,
    require_all_split,
    resolve_present,
)
from covidnb.data.imageio import IMAGE_EXTENSIONS
from covidnb.data.tables import listed_lines, read_text_csv, require_file

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


class _FolderIndex:
    """Exact-name and by-stem lookup of image files in one folder (listed once)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.names: dict[str, Path] = {}
        self.stems: dict[str, Path] = {}
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file():
                    self.names[p.name] = p
                    if p.suffix.lower() in IMAGE_EXTENSIONS:
                        self.stems.setdefault(p.stem, p)

    def find(self, filename: str, by_stem: bool = True) -> Path | None:
        if filename in self.names:
            return self.names[filename]
        return self.stems.get(Path(filename).stem) if by_stem else None


# ---------------------------------------------------------------------------------------------
# metadata.csv datasets (Cohen, Figure 1, Actualmed)
# ---------------------------------------------------------------------------------------------
def index_metadata(
    root: str | os.PathLike, options: dict[str, Any], classes: list[str], split: str = "all"
) -> list[Record]:
    """One record per metadata row that passes the filters; unmapped findings get ``label=None``."""
    require_all_split(
        split, root, hint=" (and covidnb.data.subsample / your own patient-level split)"
    )
    root = Path(root)
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
        hint="; set loader.options.encoding in the manifest (Figure 1's metadata.csv is latin-1)",
    )
    folder_col = options.get("folder_col")
    folders: dict[str, _FolderIndex] = {}

    def folder_of(row) -> _FolderIndex:
        sub = (
            row[folder_col]
            if folder_col and row.get(folder_col)
            else options.get("image_dir", "images")
        )
        if sub not in folders:
            folders[sub] = _FolderIndex(root / sub)
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
        cls = map_finding(row[finding_col], mapping)
        label = classes.index(cls) if cls in classes and passes else None
        records.append(
            Record(
                path=path,
                label=label,
                sample_id=relative_id(path, root),
                patient_id=str(row[patient_col]).strip(),
                origin=f"{meta}:{rowno}",
                extra={"finding": row[finding_col], "filtered": not passes},
            )
        )
    return records


class CXRMetadataDataset(ImageFileDataset):
    """Chest X-rays from an image folder + ``metadata.csv`` (``finding`` → 3 COVIDx classes).

    Rows whose finding is blank or unmapped (e.g. ARDS, Figure 1's 15 blank findings) are left
    out; ``self.excluded`` counts them by finding.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "all",
        *,
        name: str = "cohen-covid-chestxray",
        classes: list[str] | None = None,
        options: dict[str, Any] | None = None,
        image_size: int = 224,
        channels: int = 1,
        transform=None,
        cache: Any = True,
        strict: bool = False,
    ):
        options, classes = manifest_defaults(name, options, classes)
        root = Path(root)
        records = index_metadata(root, options, classes, split)
        self.excluded = Counter(
            r.extra["finding"] or "(blank)"
            for r in records
            if r.label is None and not r.extra["filtered"]
        )
        if self.excluded:
            log.info("%s: rows left out by the class mapping: %s", name, dict(self.excluded))
        records = resolve_present(records, strict=strict, what=f"{name}/{split}")
        self.findings = [r.extra["finding"] for r in records]
        super().__init__(
            name=name,
            split=split,
            classes=classes,
            root=root,
            **record_columns(records),
            sources=name,
            paths=[r.path for r in records],
            image_size=image_size,
            channels=channels,
            transform=transform,
            cache=cache,
        )

    _per_sample = ImageFileDataset._per_sample + ("findings",)


# ---------------------------------------------------------------------------------------------
# COVIDx label files
# ---------------------------------------------------------------------------------------------
def _source_folders(options: dict[str, Any], search_root) -> dict[str, list[_FolderIndex]]:
    """For each COVIDx source key, the image folders of its dataset wherever it is found."""
    from covidnb.data.locate import try_find
    from covidnb.data.manifest import load_manifest

    out: dict[str, list[_FolderIndex]] = {}
    for key, dsname in (options.get("sources") or {}).items():
        if not dsname:
            out[key] = []
            continue
        found = try_find(dsname, search_root)
        dirs = load_manifest(dsname).options.get("image_dirs") or [
            load_manifest(dsname).options.get("image_dir", "images")
        ]
        out[key] = [_FolderIndex(found / d) for d in dirs] if found else []
    return out


def index_covidx(
    root: str | os.PathLike,
    options: dict[str, Any],
    classes: list[str],
    split: str,
    version: int | str = 3,
    search_root=None,
) -> list[Record]:
    """One record per label line; ``path`` is where the image was found (or where a full COVIDx
    copy would hold it). ``source`` is the dataset the image came from."""
    root = Path(root)
    splits = list(options.get("splits", ["train", "test"]))
    return index_splits(
        split,
        splits,
        lambda s: _index_covidx_split(root, options, classes, s, version, search_root),
        "COVIDx",
    )


def _index_covidx_split(
    root: Path, options: dict[str, Any], classes: list[str], split: str, version, search_root
) -> list[Record]:
    label_file = require_file(
        root
        / options.get("label_file", "{split}_COVIDx{version}.txt").format(
            split=split, version=version
        ),
        f"COVIDx label file (split {split!r}, version {version})",
    )
    names = options.get("source_names") or {}
    local = [
        _FolderIndex(root / d.format(split=split)) for d in options.get("image_dirs", ["{split}"])
    ]
    by_source = _source_folders(options, search_root)
    records = []
    for lineno, line in listed_lines(label_file):
        parts = line.split()
        if len(parts) < 3 or parts[2] not in classes:
            raise ValueError(
                f"{label_file}:{lineno}: expected 'patientid filename label [source]' "
                f"with label in {classes}, got {line!r}"
            )
        pid, fname, lab = parts[:3]
        src = parts[3] if len(parts) > 3 else ""
        path, found_src = None, src
        for folder in local:
            if (path := folder.find(fname, by_stem=False)) is not None:
                break
        if path is None:
            keys = [src] if src else list(by_source)
            for key in keys:
                for folder in by_source.get(key, []):
                    if (path := folder.find(fname)) is not None:
                        found_src = key
                        break
                if path is not None:
                    break
        if path is None:
            path = local[0].folder / fname if local else root / fname
        source = names.get(found_src, found_src) or "unknown"
        records.append(
            Record(
                path=path,
                label=classes.index(lab),
                sample_id=f"{split}/{fname}",
                patient_id=f"{source}:{pid}",
                source=source,
                origin=f"{label_file}:{lineno}",
            )
        )
    return records


class COVIDxDataset(ImageFileDataset):
    """COVIDx (v3 by default, ``version=5`` for v5) chest X-rays, 3 classes.

    ``sample_id`` is ``<split>/<filename>`` (the path in a full COVIDx copy), ``source`` the
    ingredient dataset (cohen, figure1, actualmed, rsna, sirm) and ``patient_id``
    ``<source>:<patientid>`` because the ingredients number patients independently.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        name: str = "covidx-cxr",
        classes: list[str] | None = None,
        options: dict[str, Any] | None = None,
        version: int | str = 3,
        search_root=None,
        image_size: int = 224,
        channels: int = 1,
        transform=None,
        cache: Any = True,
        strict: bool = False,
    ):
        options, classes = manifest_defaults(name, options, classes)
        root = Path(root)
        self.version = version
        records = index_covidx(root, options, classes, split, version, search_root)
        records = resolve_present(records, strict=strict, what=f"{name} v{version}/{split}")
        super().__init__(
            name=name,
            split=split,
            classes=classes,
            root=root,
            **record_columns(records),
            sources=[r.source for r in records],
            paths=[r.path for r in records],
            image_size=image_size,
            channels=channels,
            transform=transform,
            cache=cache,
        )


# ---------------------------------------------------------------------------------------------
# CoronaHack
# ---------------------------------------------------------------------------------------------
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


def index_coronahack(
    root: str | os.PathLike,
    options: dict[str, Any],
    classes: list[str],
    split: str,
    search_root=None,
) -> list[Record]:
    root = Path(root)
    return index_splits(
        split,
        ["train", "test"],
        lambda s: _index_coronahack_split(root, options, classes, s, search_root),
        "CoronaHack",
    )


def _index_coronahack_split(
    root: Path, options: dict[str, Any], classes: list[str], split: str, search_root
) -> list[Record]:
    meta = require_file(
        root / options.get("metadata", "Chest_xray_Corona_Metadata.csv"),
        "CoronaHack metadata file",
    )
    df = read_coronahack_metadata(meta)
    local = _FolderIndex(root / options.get("image_dir", "{split}").format(split=split))
    fallback = [f for fs in _source_folders(options, search_root).values() for f in fs]
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


class CoronaHackDataset(ImageFileDataset):
    """CoronaHack chest X-rays (Kaggle ``praveengovi/coronahack-chest-xraydataset``), 3 classes.

    Images are looked up in the Kaggle layout under ``root`` and then in the source datasets
    named by the manifest (its Cohen images carry the same file names).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        name: str = "coronahack",
        classes: list[str] | None = None,
        options: dict[str, Any] | None = None,
        search_root=None,
        image_size: int = 224,
        channels: int = 1,
        transform=None,
        cache: Any = True,
        strict: bool = False,
    ):
        options, classes = manifest_defaults(name, options, classes)
        root = Path(root)
        records = index_coronahack(root, options, classes, split, search_root)
        records = resolve_present(records, strict=strict, what=f"{name}/{split}")
        super().__init__(
            name=name,
            split=split,
            classes=classes,
            root=root,
            **record_columns(records),
            sources=name,
            paths=[r.path for r in records],
            image_size=image_size,
            channels=channels,
            transform=transform,
            cache=cache,
        )


# ---------------------------------------------------------------------------------------------
# RSNA Pneumonia Detection Challenge
# ---------------------------------------------------------------------------------------------
def index_rsna(
    root: str | os.PathLike, options: dict[str, Any], classes: list[str], split: str = "train"
) -> list[Record]:
    """One record per patientId of ``stage_2_detailed_class_info.csv`` (duplicates per box
    collapsed); classes by ``class_map`` (COVIDx: Normal → normal, Lung Opacity → pneumonia)."""
    if split not in ("train", "all"):
        raise ValueError(
            "RSNA: only the labelled 'train' split (stage 2 training set) is available"
        )
    root = Path(root)
    info = require_file(
        root / options.get("class_info", "stage_2_detailed_class_info.csv"), "RSNA class-info file"
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
        cls = cmap.get(row["class"])
        path = image_dir / f"{pid}.dcm"
        records.append(
            Record(
                path=path,
                label=classes.index(cls) if cls in classes else None,
                sample_id=relative_id(path, root),
                patient_id=pid,
                origin=f"{info}:{rowno}",
            )
        )
    return records


class RSNADataset(ImageFileDataset):
    """RSNA Pneumonia Detection Challenge images (DICOM) with COVIDx-style classes."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        name: str = "rsna-pneumonia",
        classes: list[str] | None = None,
        options: dict[str, Any] | None = None,
        image_size: int = 224,
        channels: int = 1,
        transform=None,
        cache: Any = True,
        strict: bool = False,
    ):
        options, classes = manifest_defaults(name, options, classes)
        root = Path(root)
        records = resolve_present(
            index_rsna(root, options, classes, split), strict=strict, what=f"{name}/{split}"
        )
        super().__init__(
            name=name,
            split=split,
            classes=classes,
            root=root,
            **record_columns(records),
            sources=name,
            paths=[r.path for r in records],
            image_size=image_size,
            channels=channels,
            transform=transform,
            cache=cache,
        )
