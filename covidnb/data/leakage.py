"""Patient overlap between splits: the same patient in train and test inflates test scores.

DeepCXray (Xu et al., IEEE Access 2018) splits NIH images at random without saying whether by
image or by patient; COVID-CT and the Cohen collection hold several images per patient. This
check makes the overlap visible for any split dictionary.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd


def check_leakage(splits: dict[str, Any]) -> pd.DataFrame:
    """Patients found in more than one split.

    ``splits`` maps a split name to a dataset (anything with ``patient_ids``). Returns one row
    per shared patient: ``patient_id``, ``splits`` (comma-separated), ``n_images`` and
    ``n_<split>`` per split; empty (with those columns) when no patient is shared. Empty
    patient ids (unknown) are ignored; ``attrs["unknown"]`` counts them per split.
    """
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unknown = {}
    for split, ds in splits.items():
        unknown[split] = 0
        for pid in ds.patient_ids:
            if pid:
                counts[pid][split] += 1
            else:
                unknown[split] += 1
    rows = []
    for pid in sorted(counts):
        where = [s for s in splits if counts[pid].get(s)]
        if len(where) > 1:
            row = {
                "patient_id": pid,
                "splits": ",".join(where),
                "n_images": sum(counts[pid].values()),
            }
            row.update({f"n_{s}": counts[pid].get(s, 0) for s in splits})
            rows.append(row)
    cols = ["patient_id", "splits", "n_images"] + [f"n_{s}" for s in splits]
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["unknown"] = unknown
    return df
