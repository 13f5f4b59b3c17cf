"""Run keys: the canonical JSON of a configuration and its sha256.

:func:`canonical` makes a JSON-ready copy (tuples → lists, numpy scalars, paths and dataclasses →
plain values, integral floats → integers so ``1.0`` and ``1`` are one value; NaN and infinity are
refused); :func:`canonical_json` writes it with sorted keys and no spaces; :func:`config_key` is
the sha256 of that text without the dotted fields it is told to ignore.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

KEY_PREFIX = 12  # a run's folder is named by the first KEY_PREFIX hex digits of its key


def canonical(obj: Any, where: str = "config") -> Any:
    """A JSON-ready copy: tuples → lists, numpy/Path/dataclass → plain values, 1.0 → 1."""
    import numpy as np

    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            out[k] = canonical(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where}: {obj} cannot be part of a run key")
        return int(obj) if obj.is_integer() else obj
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"{where}: {type(obj).__name__} {obj!r} is not a JSON value")


def canonical_json(config: dict) -> str:
    return json.dumps(canonical(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_key(config: dict, ignore: tuple[str, ...] = ()) -> str:
    """sha256 (hex) of the canonical JSON of ``config`` without the dotted paths in ``ignore``."""
    import hashlib

    return hashlib.sha256(canonical_json(_without(canonical(config), ignore)).encode()).hexdigest()


def _without(config: dict, ignore: tuple[str, ...]) -> dict:
    config = json.loads(json.dumps(config))
    for dotted in ignore:
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config

