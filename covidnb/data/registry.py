"""``open_dataset(name, split)``: the dataset class chosen by the manifest's ``loader.kind``,
with a loud synthetic fallback when the data are not found (``covidnb/CONTRACTS.md``).

Each dataset class declares the ``kind`` it reads; finding the data, the fallback to the
phantom and the split handling are :class:`~covidnb.data.base.BaseDataset`'s."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from covidnb.data.base import DEFAULT_SYNTHETIC_N, BaseDataset, Record, SyntheticDataWarning
from covidnb.data.chestxray14_lists import ChestXray14Lists
from covidnb.data.coronahack import CoronaHackDataset
from covidnb.data.covidx import COVIDxDataset
from covidnb.data.ct_slices import CTSliceDataset
from covidnb.data.cxr import CXRMetadataDataset
from covidnb.data.cxr3_assembled import AssembledCXR3
from covidnb.data.kermany import KermanyDataset
from covidnb.data.manifest import Manifest, load_manifest
from covidnb.data.nih import NIHChestXray14
from covidnb.data.rsna import RSNADataset
from covidnb.data.volumes import COVID19CTSeg, MosMedData

__all__ = ["DATASET_CLASSES", "DEFAULT_SYNTHETIC_N", "SyntheticDataWarning"]
__all__ += ["dataset_class", "index_dataset", "open_dataset"]

DATASET_CLASSES: dict[str, type[BaseDataset]] = {
    cls.kind: cls
    for cls in (
        CTSliceDataset,
        CXRMetadataDataset,
        COVIDxDataset,
        CoronaHackDataset,
        RSNADataset,
        NIHChestXray14,
        COVID19CTSeg,
        MosMedData,
        ChestXray14Lists,
        KermanyDataset,
        AssembledCXR3,
    )
}


def dataset_class(kind: str) -> type[BaseDataset]:
    """The dataset class reading manifests of ``loader.kind == kind``."""
    if kind not in DATASET_CLASSES:
        raise ValueError(f"no dataset class for loader kind {kind!r}")
    return DATASET_CLASSES[kind]


def index_dataset(
    manifest: Manifest,
    root: Path,
    split: str,
    options: dict[str, Any] | None = None,
    search_root=None,
    **kw: Any,
) -> list[Record]:
    """Every listed sample of ``split`` (labelled or not) with its expected path; used by
    :func:`covidnb.data.verify.verify` and equal to what the dataset classes load. A layout
    setting (e.g. COVIDx ``version``) comes from ``kw``, then ``options``, then its default."""
    options = {**manifest.options, **(options or {})}
    cls = dataset_class(manifest.kind)
    layout = {k: kw.get(k, options.get(k, v)) for k, v in cls.layout_settings.items()}
    if "search_root" in layout:
        layout["search_root"] = search_root
    return cls.index(root, options, manifest.classes, split, **layout)


def open_dataset(
    name: str,
    split: str,
    *,
    root: str | os.PathLike | None = None,
    image_size: int = 224,
    channels: int = 1,
    transform=None,
    cache: Any = True,
    fallback: str = "synthetic",
    seed: int = 0,
    **kw: Any,
):
    """Open dataset ``name`` (a manifest name, e.g. ``"covid-ct"``) at ``split``.

    Looks under the data roots (``root`` first). When the data are not there and
    ``fallback="synthetic"``, warns loudly (naming how to get the data) and returns the phantom
    of the same modality with the same class names (``synthetic=True``); ``fallback="error"``
    raises :class:`DatasetNotFound`. Extra keywords go to the dataset class (e.g. ``version=5``
    for COVIDx, ``masks_only=True`` for MosMedData, ``strict=True``, ``volume_size=(D, H, W)``);
    ``synthetic_n`` sets the phantom size and ``class_probs`` its class mix.
    """
    man = load_manifest(name)
    kw.update(image_size=image_size, channels=channels, transform=transform, cache=cache)
    return dataset_class(man.kind).open(man, split, root=root, fallback=fallback, seed=seed, **kw)
