"""What a dataset's layout yields before anything is loaded: one :class:`Record` per listed
sample, and the helpers every layout uses to build them (stable sample ids, file lookup in a
folder, the policy for listed files that are absent)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covidnb.data.imageio import IMAGE_EXTENSIONS

log = logging.getLogger("covidnb.data")


class MissingImageError(FileNotFoundError):
    """An image listed in a label or split file is absent; the message names the listing file,
    the line and the missing path."""


@dataclass
class Record:
    """One listed sample before loading: where its file should be and what it is.

    ``label`` is a class index, a 0/1 vector (multi-label) or ``None`` for a listed file that the
    class mapping leaves out (still counted as referenced by verification). ``origin`` is
    ``"<listing file>:<line>"``. ``extra`` holds what a layout reads beside the label (a finding,
    a bounding box, companion mask files: any ``Path`` there is a file of the dataset too).
    """

    path: Path
    label: Any
    sample_id: str
    patient_id: str = ""
    source: str = ""
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def at(cls, path: Path, root: Path, label: Any, origin: str, **kw: Any) -> Record:
        """The record of the file ``path`` of the dataset at ``root``: its sample id is the path
        relative to the root (:func:`relative_id`)."""
        return cls(path=path, label=label, sample_id=relative_id(path, root), origin=origin, **kw)

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
    logger = logger or log
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


class FolderIndex:
    """Exact-name and by-stem lookup of image files in one folder (listed once).

    By stem because the chest X-ray collections that COVIDx and CoronaHack draw on store one
    image under different extensions (RSNA ``<id>.dcm`` is ``<id>.png`` in COVIDx; Figure 1
    names images after the patient id with either ``.jpg`` or ``.png``)."""

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
