"""Where things are: the repository root, the data roots and the run store.

A dataset is found by name under the data roots, in this order: an explicit ``root`` argument,
every entry of ``COVIDNB_DATA`` (``os.pathsep``-separated), then ``~/.cache/covidnb``.
The run store is ``COVIDNB_RUNS`` or ``<repo>/runs``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def default_cache_root() -> Path:
    return Path(os.environ.get("COVIDNB_CACHE", Path.home() / ".cache" / "covidnb"))


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    roots: list[Path] = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get("COVIDNB_DATA", "")
    roots += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    roots.append(default_cache_root())
    return roots


def runs_root() -> Path:
    return Path(os.environ.get("COVIDNB_RUNS", REPO_ROOT / "runs"))


def chapter_dir(chapter: str) -> Path:
    return REPO_ROOT / "nbs" / chapter
