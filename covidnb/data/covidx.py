"""COVIDx chest X-rays (Wang et al., COVID-Net, Sci Rep 10:19549, 2020), 3 classes.

The label files ``{train,test}_COVIDx{3,5}.txt`` list ``patientid filename label [source]``;
each image is resolved in a full COVIDx folder (``train/``, ``test/``) or in its source
dataset's folder (cohen, fig1, actmed, rsna, sirm), wherever the data roots hold that dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from covidnb.data.base import ImageFileDataset
from covidnb.data.records import FolderIndex, Record
from covidnb.data.tables import label_lines, require_file


def source_folders(options: dict[str, Any], search_root) -> dict[str, list[FolderIndex]]:
    """For each source key of ``options["sources"]`` (COVIDx, CoronaHack), the image folders of
    its dataset wherever it is found (none where it is not)."""
    from covidnb.data.locate import try_find
    from covidnb.data.manifest import load_manifest

    out: dict[str, list[FolderIndex]] = {}
    for key, dsname in (options.get("sources") or {}).items():
        if not dsname:
            out[key] = []
            continue
        found = try_find(dsname, search_root)
        dirs = load_manifest(dsname).options.get("image_dirs") or [
            load_manifest(dsname).options.get("image_dir", "images")
        ]
        out[key] = [FolderIndex(found / d) for d in dirs] if found else []
    return out


class COVIDxDataset(ImageFileDataset):
    """COVIDx (v3 by default, ``version=5`` for v5) chest X-rays, 3 classes.

    ``sample_id`` is ``<split>/<filename>`` (the path in a full COVIDx copy), ``source`` the
    ingredient dataset (cohen, figure1, actualmed, rsna, sirm) and ``patient_id``
    ``<source>:<patientid>`` because the ingredients number patients independently.
    ``search_root`` is where the ingredient datasets are looked for (then the data roots).
    """

    kind, title, default_name = "covidx", "COVIDx", "covidx-cxr"
    layout_settings: ClassVar[dict[str, Any]] = {"version": 3, "search_root": None}

    @classmethod
    def index_split(
        cls, root: Path, options, classes, split, version=3, search_root=None
    ) -> list[Record]:
        """One record per label line; ``path`` is where the image was found (or where a full
        COVIDx copy would hold it). ``source`` is the dataset the image came from."""
        label_file = require_file(
            root
            / options.get("label_file", "{split}_COVIDx{version}.txt").format(
                split=split, version=version
            ),
            f"COVIDx label file (split {split!r}, version {version})",
        )
        names = options.get("source_names") or {}
        local = [
            FolderIndex(root / d.format(split=split))
            for d in options.get("image_dirs", ["{split}"])
        ]
        by_source = source_folders(options, search_root)
        records = []
        form = "patientid filename label [source]"
        for lineno, parts in label_lines(label_file, field=2, labels=classes, form=form):
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
