"""Run profiles: ``smoke`` (CI, ≤ 90 s a notebook on 2 cores), ``cpu`` (real data, scaled down),
``paper`` (the paper's own settings, for GPUs).

Each chapter states its profiles in one file, ``nbs/<chapter>/profiles.yaml``: a mapping from
profile name to settings, plus a ``paper_reference`` block naming where each paper setting comes
from. ``load_profile`` returns one profile's settings; ``profile_table`` shows all profiles side by
side so a reviewer sees how a run differs from the paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from covidnb.paths import chapter_dir

PROFILES = ("smoke", "cpu", "paper")


def _read(chapter: str) -> dict[str, Any]:
    path = Path(chapter_dir(chapter)) / "profiles.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: chapter {chapter!r} has no profiles.yaml")
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    missing = [p for p in PROFILES if p not in data.get("profiles", {})]
    if missing:
        raise ValueError(f"{path}: profiles missing: {', '.join(missing)}")
    return data


def load_profile(chapter: str, name: str) -> dict[str, Any]:
    data = _read(chapter)
    if name not in data["profiles"]:
        raise KeyError(f"unknown profile {name!r} for chapter {chapter!r}; known: {', '.join(data['profiles'])}")
    settings = dict(data.get("defaults", {}))
    settings.update(data["profiles"][name] or {})
    settings["profile"] = name
    return settings


def profile_table(chapter: str):
    """All profiles of a chapter as a DataFrame (rows: settings, columns: profiles)."""
    import pandas as pd

    data = _read(chapter)
    cols = {p: load_profile(chapter, p) for p in data["profiles"]}
    df = pd.DataFrame(cols).drop(index="profile", errors="ignore")
    notes = data.get("notes", {})
    if notes:
        df["note"] = [notes.get(k, "") for k in df.index]
    return df.fillna("—")
