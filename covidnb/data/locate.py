"""Find a dataset by name under the data roots (see :func:`covidnb.paths.data_roots`)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from covidnb.data.manifest import Manifest, load_manifest
from covidnb.paths import data_roots


class DatasetNotFound(FileNotFoundError):
    """No copy of a dataset under any data root; the message lists the roots and how to get it."""

    def __init__(self, name: str, roots: list[Path], how_to_get: str, detail: str = ""):
        self.name, self.roots, self.how_to_get = name, list(roots), how_to_get
        searched = "\n".join(
            f"  - {r}" + ("" if r.exists() else " (does not exist)") for r in roots
        )
        extra = f" {detail}" if detail else ""
        msg = f"dataset {name!r} not found.{extra}\nSearched:\n{searched}\n"
        msg += f"How to get it:\n{how_to_get}\n"
        msg += "Put it in a folder under one of these roots, or point COVIDNB_DATA at its parent."
        super().__init__(msg)


def _looks_like(manifest: Manifest, folder: Path) -> bool:
    """Whether ``folder`` holds the dataset: every ``layout.detect`` pattern matches something."""
    if not folder.is_dir():
        return False
    patterns = (manifest.layout or {}).get("detect") or []
    return all(glob.glob(os.path.join(glob.escape(str(folder)), pat)) for pat in patterns)


def candidate_dirs(
    manifest: Manifest, root: str | os.PathLike | None = None, search: bool = True
) -> list[Path]:
    """Every folder that is checked, in order: ``<root>/<dirname>`` and ``root`` itself for an
    explicit ``root`` (a user may point straight at the dataset folder), then
    ``<data root>/<dirname>`` for the other data roots (only with ``search``)."""
    out: list[Path] = []
    if root is not None:
        r = Path(root).expanduser()
        out += [r / d for d in manifest.dirnames] + [r]
    if search:
        for r in data_roots(None):
            out += [r / d for d in manifest.dirnames]
    return out


def find_dataset(name: str, root: str | os.PathLike | None = None, *, search: bool = True) -> Path:
    """The folder holding dataset ``name``: the first ``<root>/<dirname>`` that matches the
    manifest's ``layout.detect`` patterns, searching an explicit ``root`` first, then
    ``COVIDNB_DATA``, then ``~/.cache/covidnb``; ``search=False`` looks under ``root`` only.
    Raises :class:`DatasetNotFound`, at once when an explicit ``root`` is not an existing
    folder."""
    manifest = load_manifest(name)
    if root is not None and not Path(root).expanduser().is_dir():
        # An explicit root that is not there is a mistake (a typo, an unmounted disk): finding
        # another copy instead would check or train on data the user did not name.
        r = Path(root).expanduser()
        raise DatasetNotFound(
            name, [r], manifest.how_to_get(),
            detail=f"The data root {r} {'is not a folder' if r.exists() else 'does not exist'}; "
                   "no other root was searched.")
    for folder in candidate_dirs(manifest, root, search):
        if _looks_like(manifest, folder):
            return folder.resolve()
    roots = data_roots(root) if search else [Path(root).expanduser()] if root is not None else []
    raise DatasetNotFound(
        name,
        roots,
        manifest.how_to_get(),
        detail=f"Looked for folders named {', '.join(manifest.dirnames)}.",
    )


def try_find(name: str, root: str | os.PathLike | None = None) -> Path | None:
    try:
        return find_dataset(name, root)
    except DatasetNotFound:
        return None
