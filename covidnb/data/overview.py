"""What a dataset holds, as tables: counts per split and class, image sizes, and file formats.

COVID-CT's images are figures cut from papers: sizes and aspect ratios vary, some are colour,
and 34 files named ``.png`` hold JPEG bytes. These tables make that visible before training.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from PIL import Image

_EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def split_counts(splits: Mapping[str, object]) -> pd.DataFrame:
    """Rows: classes (and a total), columns: splits; from each dataset's ``info()``."""
    frame = pd.DataFrame({name: ds.info()["class_counts"] for name, ds in splits.items()})
    frame.loc["total"] = frame.sum()
    frame["all"] = frame.sum(axis=1)
    return frame


def file_table(ds) -> pd.DataFrame:
    """One row per file: sample id, class, the extension's format, the format its bytes hold,
    width, height and PIL mode (read from the header only, no decoding)."""
    paths = getattr(ds, "paths", None)
    if paths is None:
        raise TypeError(f"{type(ds).__name__} has no file paths (a synthetic phantom has no files)")
    rows = []
    for sid, path, y in zip(ds.sample_ids, paths, ds.targets):
        path = Path(path)
        with Image.open(path) as im:
            rows.append({"sample_id": sid, "class": ds.classes[int(y)],
                         "named_as": _EXT_FORMAT.get(path.suffix.lower(), path.suffix.lower()),
                         "format": im.format, "width": im.width, "height": im.height, "mode": im.mode})
    frame = pd.DataFrame(rows)
    frame["misnamed"] = frame["named_as"] != frame["format"]
    return frame
