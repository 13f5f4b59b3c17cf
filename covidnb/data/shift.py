"""Do the splits agree on what separates the classes? Image cues that are not findings.

COVID-CT's images are figures cut from papers (Zhao et al. 2020, arXiv:2003.13865): their size,
brightness, contrast and colour depend on the paper they came from, not only on the lungs. A
model can learn such a cue from the training split; if the validation and test splits carry it
in another direction, validation scores go below chance while the network is learning something
real on train. :func:`cue_auc` measures, per split, how well each trivial cue alone ranks the
positive class (AUC: 0.5 = no information; below 0.5 = the cue points the other way).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

CUES = ("width", "height", "mean", "std", "colour")


def image_cues(path) -> dict[str, float]:
    """Original width and height (pixels), grey mean and standard deviation (in [0, 1]) and
    colour (mean absolute difference between RGB channels, 0 for a grey image), decoded as the
    datasets decode it (:func:`covidnb.data.imageio.load_image`: format from the bytes, real bit
    depth), before any resizing."""
    from covidnb.data.imageio import load_image

    rgb = load_image(path, channels=3)
    h, w = rgb.shape[:2]
    grey = rgb.mean(axis=2)
    colour = np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
    return {"width": float(w), "height": float(h), "mean": float(grey.mean()),
            "std": float(grey.std()), "colour": float(colour)}


def cues_frame(ds) -> pd.DataFrame:
    """One row of :func:`image_cues` per sample of an image-file dataset, with its label."""
    paths = getattr(ds, "paths", None)
    if paths is None:
        raise TypeError(f"{type(ds).__name__} has no image files (paths) to read cues from")
    rows = [image_cues(p) for p in paths]
    return pd.DataFrame(rows).assign(label=np.asarray(ds.targets).astype(int),
                                     sample_id=list(ds.sample_ids))


def cue_auc(splits: Mapping[str, object], cues=CUES) -> pd.DataFrame:
    """AUC of each cue for the positive class (label 1), one row per split, one column per cue."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for name, ds in splits.items():
        f = cues_frame(ds)
        out[name] = {c: roc_auc_score(f["label"], f[c]) for c in cues}
    return pd.DataFrame(out).T.rename_axis("split")
