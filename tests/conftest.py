"""Shared fixtures: the real data under ``<repo>/../shared/data``, a throw-away cache, one thread.

Every test session points ``COVIDNB_DATA`` at the staged real data and ``COVIDNB_CACHE`` at a
temporary folder, so no test reads or writes the user's own ``~/.cache/covidnb``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _covidnb_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("covidnb_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVIDNB_DATA", str(SHARED_DATA))
        mp.setenv("COVIDNB_CACHE", str(cache))
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``; tests that need it are skipped when it is absent."""
    if not (SHARED_DATA / "covid-ct").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty ``COVIDNB_CACHE`` for one test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("COVIDNB_CACHE", str(cache))
    return cache


def build_mini_covid_ct(shared: Path, dest: Path, per_split: int = 2, copy: bool = False) -> Path:
    """A COVID-CT-shaped tree under ``dest/covid-ct`` holding ``per_split`` real images per
    class and split (symlinks, or copies with ``copy=True``), with split files and meta CSVs."""
    src = shared / "covid-ct"
    root = dest / "covid-ct"
    for cls, short in (("CT_COVID", "COVID"), ("CT_NonCOVID", "NonCOVID")):
        (root / "Images-processed" / cls).mkdir(parents=True, exist_ok=True)
        (root / "Data-split" / short).mkdir(parents=True, exist_ok=True)
        for split in ("train", "val", "test"):
            listing = (src / "Data-split" / short / f"{split}{cls}.txt").read_text().splitlines()
            names = [ln.strip() for ln in listing if ln.strip()][:per_split]
            (root / "Data-split" / short / f"{split}{cls}.txt").write_text(
                "".join(n + "\n" for n in names)
            )
            for n in names:
                target = root / "Images-processed" / cls / n
                if copy:
                    shutil.copy2(src / "Images-processed" / cls / n, target)
                else:
                    os.symlink(src / "Images-processed" / cls / n, target)
    for meta in ("COVID-CT-MetaInfo.csv", "NonCOVID-CT-MetaInfo.csv"):
        shutil.copy2(src / meta, root / meta)
    return root


@pytest.fixture
def mini_covid_ct(shared_data, tmp_path) -> Path:
    """A tiny COVID-CT tree (2 images per class and split, copies) in ``tmp_path``."""
    return build_mini_covid_ct(shared_data, tmp_path, per_split=2, copy=True)


@pytest.fixture
def mini_counts() -> dict[str, dict[str, int]]:
    """The per-split class counts of :func:`mini_covid_ct`, as a manifest's ``splits``."""
    return {s: {"CT_COVID": 2, "CT_NonCOVID": 2} for s in ("train", "val", "test")}


@pytest.fixture
def tmp_manifests(tmp_path, monkeypatch) -> Path:
    """A private copy of ``data_manifests/`` (tests edit it without touching the repository)."""
    from covidnb.data import manifest as manifest_mod

    d = tmp_path / "manifests"
    shutil.copytree(manifest_mod.MANIFEST_DIR, d)
    monkeypatch.setattr(manifest_mod, "MANIFEST_DIR", d)
    return d


@pytest.fixture
def edit_manifest(tmp_manifests):
    """``edit_manifest(name, **fields)``: set top-level fields of manifest ``name`` in the
    private copy of :func:`tmp_manifests`."""

    def edit(name: str, **fields) -> Path:
        path = tmp_manifests / f"{name}.yaml"
        data = yaml.safe_load(path.read_text())
        data.update(fields)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return edit
