"""CAM → box (Xu et al., IEEE Access 2018, §IV-G, Fig. 7), and how well the box finds the finding.

The paper turns a class activation map into a box in three steps: scale the heat map to
[0, 255], keep the pixels at or above 200, and take the bounding box of the largest connected
component. It shows the result as pictures only. The IoU against a known box and the hit rate
(share of boxes with IoU at or above a threshold, the T(IoU) of ChestX-ray8, Wang et al. 2017)
are **this book's extension**, computed on the phantom's known boxes and, when the data root holds
those images, on ``BBox_List_2017.csv`` (984 boxes, 8 findings).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import ndimage

THRESHOLD = 200  # §IV-G
IOU_LEVELS = (0.1, 0.3, 0.5)  # T(IoU) levels of ChestX-ray8's localisation table (a subset)
NIH_SIZE = 1024  # ChestX-ray14 images (and BBox_List coordinates) are 1024 × 1024


def heat_255(cam: torch.Tensor | np.ndarray, size: int) -> np.ndarray:
    """A ``h×w`` class activation map upsampled (bilinear) to ``size×size`` and min–max scaled to
    [0, 255]. A constant map scales to all zeros (no pixel reaches the threshold)."""
    t = torch.as_tensor(cam, dtype=torch.float32)
    if t.ndim != 2:
        raise ValueError(f"cam must be a 2-D map, got shape {tuple(t.shape)}")
    up = F.interpolate(t[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()
    lo, hi = float(up.min()), float(up.max())
    return np.zeros_like(up) if hi - lo <= 1e-12 else (up - lo) / (hi - lo) * 255.0


def largest_component_box(heat: np.ndarray, threshold: float = THRESHOLD) -> dict | None:
    """``{x, y, w, h}`` (pixels, x to the right, y down) of the largest 8-connected component of
    ``heat >= threshold``, or ``None`` when no pixel reaches it."""
    mask = np.asarray(heat) >= threshold
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    return {"x": float(xs.min()), "y": float(ys.min()), "w": float(xs.max() - xs.min() + 1),
            "h": float(ys.max() - ys.min() + 1)}


def iou(a: dict | None, b: dict | None) -> float:
    """Intersection over union of two ``{x, y, w, h}`` boxes (0 when either is ``None``)."""
    if a is None or b is None:
        return 0.0
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return float(inter / union) if union > 0 else 0.0


def scaled_box(box: dict, factor: float) -> dict:
    return {k: float(box[k]) * factor for k in ("x", "y", "w", "h")}


def boxes_of(dataset, i: int) -> list[dict]:
    """The known boxes of sample ``i`` in the dataset's ``image_size`` pixels: the phantom's own,
    or ``BBox_List_2017.csv``'s rescaled from 1,024² (an empty list when there is none)."""
    if hasattr(dataset, "boxes"):
        return dataset.boxes(i)
    if hasattr(dataset, "bboxes"):
        f = dataset.image_size / NIH_SIZE
        return [{"label": b["label"], **scaled_box(b, f)} for b in dataset.bboxes(dataset.sample_ids[i])]
    return []


def score_boxes(model, dataset, indices: Sequence[int] | None = None, threshold: float = THRESHOLD,
                levels: Sequence[float] = IOU_LEVELS) -> pd.DataFrame:
    """One row per known box of the images ``indices``: the CAM box of that finding (§IV-G), its
    IoU with the known box and a ``hit@T`` column per T in ``levels`` — the extension's numbers."""
    model.eval()
    classes = list(dataset.classes)
    idx = range(len(dataset)) if indices is None else indices
    rows = []
    for i in idx:
        known = boxes_of(dataset, int(i))
        if not known:
            continue
        x = dataset[int(i)]["image"][None]
        cams = model.cam(x)[0]
        for b in known:
            k = classes.index(b["label"])
            pred = largest_component_box(heat_255(cams[k], dataset.image_size), threshold)
            v = iou(pred, b)
            rows.append({"sample_id": dataset.sample_ids[int(i)], "finding": b["label"], "iou": v,
                         "cam_box": pred, "known_box": {k2: b[k2] for k2 in ("x", "y", "w", "h")},
                         **{f"hit@{t:g}": v >= t for t in levels}})
    return pd.DataFrame(rows)


def hit_rates(scores: pd.DataFrame) -> pd.DataFrame:
    """Per finding: boxes scored, mean IoU and each hit rate (the last row: all findings)."""
    if scores.empty:
        return pd.DataFrame()
    cols = [c for c in scores.columns if c.startswith("hit@")]
    agg = scores.groupby("finding").agg(boxes=("iou", "size"), mean_iou=("iou", "mean"),
                                        **{c: (c, "mean") for c in cols})
    agg.loc["all findings"] = [len(scores), scores["iou"].mean(), *[scores[c].mean() for c in cols]]
    return agg


def draw_boxes(dataset, model, indices: Sequence[int], threshold: float = THRESHOLD, cols: int = 4):
    """Image, CAM heat map and the two boxes (known: green, CAM: red) for each image's findings."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    panels = []
    for i in indices:
        cams = model.cam(dataset[int(i)]["image"][None])[0]
        for b in boxes_of(dataset, int(i)):
            heat = heat_255(cams[list(dataset.classes).index(b["label"])], dataset.image_size)
            panels.append((int(i), b, heat, largest_component_box(heat, threshold)))
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (i, b, heat, pred) in zip(axes.flat, panels):
        ax.imshow(dataset[i]["image"][0].numpy(), cmap="gray")
        ax.imshow(heat, cmap="jet", alpha=0.35)
        for box, colour in ((b, "lime"), (pred, "red")):
            if box is not None:
                ax.add_patch(Rectangle((box["x"], box["y"]), box["w"], box["h"], fill=False, ec=colour, lw=1.5))
        ax.set_title(f"{b['label']}  IoU {iou(pred, b):.2f}", fontsize=7)
    if getattr(dataset, "synthetic", False):
        fig.suptitle("SYNTHETIC PHANTOM — known boxes in green, CAM boxes in red", color="red", fontsize=9)
    fig.tight_layout()
    return fig


def cam_overlays(model, dataset, indices: Sequence[int], threshold: float = THRESHOLD, cols: int = 6):
    """Each image with the CAM of its highest-scoring finding and that CAM's box (§IV-G), titled
    with the finding, its probability and the image's labels — for images without known boxes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    model.eval()
    rows = max(1, -(-len(indices) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        x = dataset[int(i)]["image"][None]
        with torch.no_grad():
            out = model(x)
        prob = torch.sigmoid(out[0] if isinstance(out, (tuple, list)) else out)[0]
        k = int(prob.argmax())
        heat = heat_255(model.cam(x, index=k)[0, 0], dataset.image_size)
        box = largest_component_box(heat, threshold)
        ax.imshow(x[0, 0].numpy(), cmap="gray")
        ax.imshow(heat, cmap="jet", alpha=0.35)
        if box is not None:
            ax.add_patch(Rectangle((box["x"], box["y"]), box["w"], box["h"], fill=False, ec="red", lw=1.5))
        true = [dataset.classes[j] for j in np.flatnonzero(dataset.targets[int(i)])] or ["No Finding"]
        ax.set_title(f"CAM {dataset.classes[k]} p={float(prob[k]):.2f}\nlabels: {', '.join(true)}", fontsize=6)
    fig.tight_layout()
    return fig
