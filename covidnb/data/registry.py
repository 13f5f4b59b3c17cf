"""``open_dataset(name, split)``: the dataset class chosen by the manifest's ``loader.kind``,
with a loud synthetic fallback when the data are not found (``covidnb/CONTRACTS.md``)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

from covidnb.data.base import Record
from covidnb.data.locate import DatasetNotFound, find_dataset
from covidnb.data.manifest import Manifest, load_manifest
from covidnb.data.synthetic import SYNTHETIC_BANNER, synthetic_for

log = logging.getLogger("covidnb.data")

DEFAULT_SYNTHETIC_N = {"train": 96, "val": 32, "test": 32}


class SyntheticDataWarning(UserWarning):
    """Raised (as a warning) when a real dataset is replaced by its phantom."""


def _factory(kind: str):
    if kind == "ct_slices":
        from covidnb.data.ct_slices import CTSliceDataset

        return CTSliceDataset
    if kind == "cxr_metadata":
        from covidnb.data.cxr import CXRMetadataDataset

        return CXRMetadataDataset
    if kind == "covidx":
        from covidnb.data.cxr import COVIDxDataset

        return COVIDxDataset
    if kind == "coronahack":
        from covidnb.data.cxr import CoronaHackDataset

        return CoronaHackDataset
    if kind == "rsna":
        from covidnb.data.cxr import RSNADataset

        return RSNADataset
    if kind == "nih":
        from covidnb.data.nih import NIHChestXray14

        return NIHChestXray14
    if kind == "volumes":
        from covidnb.data.volumes import covid19_ct_seg

        return covid19_ct_seg
    if kind == "mosmed":
        from covidnb.data.volumes import MosMedData

        return MosMedData
    raise ValueError(f"no dataset class for loader kind {kind!r}")


def _needs_search_root(kind: str) -> bool:
    return kind in ("covidx", "coronahack")


def index_dataset(
    manifest: Manifest,
    root: Path,
    split: str,
    options: dict[str, Any] | None = None,
    search_root=None,
    **kw: Any,
) -> list[Record]:
    """Every listed sample of ``split`` (labelled or not) with its expected path; used by
    :func:`covidnb.data.verify.verify` and equal to what the dataset classes load."""
    options = {**manifest.options, **(options or {})}
    classes, kind = manifest.classes, manifest.kind
    if kind == "ct_slices":
        from covidnb.data.ct_slices import index

        return index(root, options, classes, split)
    if kind == "cxr_metadata":
        from covidnb.data.cxr import index_metadata

        return index_metadata(root, options, classes, split)
    if kind == "covidx":
        from covidnb.data.cxr import index_covidx

        return index_covidx(
            root, options, classes, split, kw.get("version", options.get("version", 3)), search_root
        )
    if kind == "coronahack":
        from covidnb.data.cxr import index_coronahack

        return index_coronahack(root, options, classes, split, search_root)
    if kind == "rsna":
        from covidnb.data.cxr import index_rsna

        return index_rsna(root, options, classes, split)
    if kind == "nih":
        from covidnb.data.nih import index_nih

        return index_nih(root, options, classes, split)
    if kind == "volumes":
        from covidnb.data.volumes import index_volume_folders

        return index_volume_folders(root, options, classes, split)
    if kind == "mosmed":
        from covidnb.data.volumes import index_mosmed

        return index_mosmed(
            root, options, classes, split, masks_only=bool(options.get("masks_only", False))
        )
    raise ValueError(f"no index for loader kind {kind!r}")


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
    ``synthetic_n`` sets the phantom size.
    """
    if fallback not in ("synthetic", "error"):
        raise ValueError(f"fallback must be 'synthetic' or 'error', got {fallback!r}")
    man = load_manifest(name)
    synthetic_n = kw.pop("synthetic_n", None)
    class_probs = kw.pop("class_probs", None)
    try:
        droot = find_dataset(name, root)
        factory = _factory(man.kind)
        args: dict[str, Any] = {
            "name": name,
            "classes": man.classes,
            "options": man.options,
            "image_size": image_size,
            "transform": transform,
        }
        if man.modality != "ct-volume":
            args.update(channels=channels, cache=cache)
        if _needs_search_root(man.kind):
            args["search_root"] = root
        return factory(droot, split, **args, **kw)
    except DatasetNotFound as exc:
        if fallback == "error":
            raise
        msg = (
            f"{SYNTHETIC_BANNER}\nDataset {name!r} is not available, "
            "so open_dataset returns a synthetic "
            f"{man.modality} phantom with the same classes ({', '.join(man.classes)}).\n{exc}"
        )
        warnings.warn(msg, SyntheticDataWarning, stacklevel=2)
        log.warning(msg)
        n = synthetic_n or DEFAULT_SYNTHETIC_N.get(split, 64)
        syn_kw: dict[str, Any] = {
            "split": split,
            "n": n,
            "classes": man.classes,
            "name": f"synthetic-{name}",
            "image_size": image_size,
            "channels": channels,
            "seed": seed,
            "transform": transform,
        }
        if man.modality == "ct-volume":
            from covidnb.data.volumes import default_volume_size

            syn_kw["volume_size"] = kw.get("volume_size") or default_volume_size(image_size)
        if class_probs is not None and not man.multilabel:
            syn_kw["class_probs"] = class_probs
        return synthetic_for(man.modality, multilabel=man.multilabel, **syn_kw)
