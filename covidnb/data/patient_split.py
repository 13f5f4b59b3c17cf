"""Seeded patient-level splits and per-class quotas drawn by whole patients.

Used to assemble a COVIDx-style set (Zhang & Zhang §4.1: "1000 CXRs of each class to train …
100 CXRs of each class to test") from source collections that publish no split of their own.
Images of one patient never fall in two splits; where a patient id is unknown the image is its
own group. Quotas are filled with whole patients, so a class may exceed its quota by less than
one patient's images, and falls short where the sources hold too few.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def _groups(frame: pd.DataFrame) -> pd.Series:
    """One group key per row: the patient id, or the sample id where the patient is unknown."""
    pid = frame["patient_id"].astype(str)
    return pid.where(pid != "", "__sample__" + frame["sample_id"].astype(str))


def patient_split(frame: pd.DataFrame, fractions: Mapping[str, float], seed: int = 0,
                  strata: Sequence[str] = ("label", "source")) -> pd.Series:
    """The split of each row of ``frame`` (columns ``sample_id``, ``patient_id`` and ``strata``).

    Patients are grouped by the stratum of their first image (so every class and source is
    spread over the splits where it has patients enough), shuffled with ``seed`` and dealt out:
    each split other than ``train`` gets ``round(fraction × patients)`` of a stratum, at least one
    when the stratum has a patient for every split; ``train`` takes the rest.
    """
    bad = {k: v for k, v in fractions.items() if k not in SPLITS or not 0 <= v < 1}
    if bad or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be {SPLITS} in [0, 1) summing to 1, got {dict(fractions)}")
    groups = _groups(frame)
    first = frame.assign(_g=groups).groupby("_g", sort=True)[list(strata)].first()
    rng = np.random.default_rng(seed)
    assign: dict[str, str] = {}
    for _, members in first.groupby(list(strata), sort=True):
        keys = list(members.index)
        keys = [keys[j] for j in rng.permutation(len(keys))]
        others = [s for s in SPLITS if s != "train" and fractions.get(s, 0) > 0]
        start = 0
        for s in others:
            k = round(fractions[s] * len(keys))
            if k == 0 and len(keys) > len(others):
                k = 1
            for g in keys[start:start + k]:
                assign[g] = s
            start += k
        for g in keys[start:]:
            assign[g] = "train"
    return groups.map(assign).rename("split")


def draw_per_class(frame: pd.DataFrame, quota: int | None, seed: int = 0) -> pd.Index:
    """Row labels of ``frame`` kept when each class (column ``label``) is cut to ``quota`` images,
    whole patients at a time in a seeded order, until the quota is reached (``None``: keep all)."""
    if quota is None:
        return frame.index
    groups = _groups(frame)
    rng = np.random.default_rng(seed)
    kept: list = []
    for _, part in frame.groupby("label", sort=True):
        keys = sorted(set(groups[part.index]))
        keys = [keys[j] for j in rng.permutation(len(keys))]
        n = 0
        for g in keys:
            if n >= quota:
                break
            rows = part.index[groups[part.index] == g]
            kept += list(rows)
            n += len(rows)
    return frame.index[frame.index.isin(kept)]


def quota_table(frame: pd.DataFrame, quotas: Mapping[str, int], classes: Sequence[str]) -> pd.DataFrame:
    """For each split and class: the images the quota asks for, the images there are, the
    shortfall and whether the quota can be met (columns ``split, class, asked, available,
    short, met``); ``frame`` has columns ``split`` and ``label``."""
    rows = []
    for split, asked in quotas.items():
        for c in classes:
            have = int(((frame["split"] == split) & (frame["label"] == c)).sum())
            rows.append({"split": split, "class": c, "asked": int(asked), "available": have,
                         "short": max(0, int(asked) - have), "met": have >= int(asked)})
    return pd.DataFrame(rows)
