"""What only the ``dresunet`` chapter's notebooks show (Xu 2021, BSc thesis): the thesis'
augmentation and mixup, the mixing ablation's differences, and Grad-CAM / deformable-offset
figures of trained models (the model notebook's tables are :mod:`covidnb.chapters.dresunet_models`).

Everything every chapter shows — runs → frame, mean ± std tables in Table 5.1's units, reported
vs re-run, ROC / confusion / curves, the profile-vs-thesis table — is the shared view layer
(:mod:`covidnb.chapters.views`) reading the chapter's declaration
(:data:`covidnb.chapters.dresunet.SPEC`). Hyper-parameters live in ``nbs/dresunet/profiles.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters.dresunet import SPEC
from covidnb.chapters.views.figures import cam_rows
from covidnb.chapters.views.tables import ordered


# -- data (notebook 01) -------------------------------------------------------------------------
def augmentation_grid(dataset, indices: Sequence[int], image_size: int, n: int = 4, seed: int = 0):
    """Each image (row) as loaded, then ``n`` draws of the thesis' training augmentation
    (``covidnb.data.augment.get_augmentation("dresunet")``)."""
    import matplotlib.pyplot as plt
    import torch

    from covidnb.data.augment import get_augmentation

    aug = get_augmentation("dresunet", image_size)
    torch.manual_seed(seed)
    fig, axes = plt.subplots(len(indices), n + 1, figsize=(1.9 * (n + 1), 2.0 * len(indices)), squeeze=False)
    for row, i in zip(axes, indices):
        img = dataset[int(i)]["image"]
        row[0].imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
        row[0].set_title(f"{dataset.classes[int(dataset.targets[i])]}\nas loaded", fontsize=8)
        for ax in row[1:]:
            ax.imshow(aug(img)[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title("augmented", fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig


def mixing_figure(dataset, indices: Sequence[int], lam: float = 0.7, seed: int = 0):
    """One batch mixed as training mixes it (:func:`covidnb.train.mixing.mix_batch`, fixed λ):
    the images, their mixup, their CutMix (the extension), each titled with its soft label.

    For a readable figure the generator seed is the first one from ``seed`` on whose random
    partners all have the other class (when the batch holds both classes); training itself
    pairs at random."""
    import matplotlib.pyplot as plt
    import torch

    from covidnb.train.mixing import mix_batch

    x = torch.stack([dataset[int(i)]["image"] for i in indices])
    y = torch.as_tensor(np.asarray(dataset.targets)[list(indices)], dtype=torch.float32)
    gen_seed = seed
    if len(set(y.tolist())) > 1:
        for s in range(seed, seed + 1000):
            perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(s))
            if bool((y[perm] != y).all()):
                gen_seed = s
                break
    rows = [("as loaded", x, None)]
    for mode in ("mixup", "cutmix"):
        mixed, ya, yb, lam_used = mix_batch(x, y, alpha=1.0, mode=mode,
                                            generator=torch.Generator().manual_seed(gen_seed), lam=lam)
        rows.append((mode, mixed, lam_used * ya + (1 - lam_used) * yb))
    fig, axes = plt.subplots(3, len(indices), figsize=(2.0 * len(indices), 6.6), squeeze=False)
    for (name, imgs, soft), row in zip(rows, axes):
        for k, ax in enumerate(row):
            ax.imshow(imgs[k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{dataset.classes[int(y[k])]}" if soft is None
                         else f"{'CutMix (ext.)' if name == 'cutmix' else name}: P(COVID) = {float(soft[k]):.2f}",
                         fontsize=7)
            ax.axis("off")
    fig.suptitle(f"one batch mixed with λ = {lam}: each image with a partner of the other class", fontsize=9)
    fig.tight_layout()
    return fig


# -- the mixing ablation (notebook 04) --------------------------------------------------------
def ablation_deltas(frame: pd.DataFrame, baseline: str = "no mixup",
                    metrics: Sequence[str] = ("accuracy", "auc", "f1")) -> pd.DataFrame:
    """Mean of each metric per model and variant minus the same model's ``baseline`` mean, in
    percentage points (F1 too), so each row reads "what this mixing adds"."""
    means = frame.groupby(["Model", "variant"])[list(metrics)].mean()
    if baseline not in means.index.get_level_values("variant"):
        raise KeyError(f"ablation_deltas: no run of the baseline variant {baseline!r}")
    base = means.xs(baseline, level="variant")
    delta = (means - base.reindex(means.index.get_level_values("Model")).to_numpy()) * 100
    delta = delta.drop(index=baseline, level="variant")
    order = list(dict.fromkeys(frame["variant"]))
    delta = delta.sort_index(level="variant", key=lambda v: v.map(order.index), sort_remaining=False)
    delta = ordered(SPEC, delta.reset_index(), ["Model"]).set_index(["Model", "variant"])
    return delta.rename(columns=lambda c: f"Δ {c} (points)").round(2) + 0.0  # + 0.0: no "-0.00"


# -- Grad-CAM (notebook 05) ---------------------------------------------------------------------
def cam_comparison(models: Mapping[str, Any], dataset, indices: Sequence[int], method: str = "gradcam",
                   target_class: str | None = None, image_weight: float = 0.5):
    """Rows: images; columns: the image, then each model's CAM (``method``) over it, at the
    model's own ``cam_layer()`` (DResUNet's: the last decoder stage before the FPRM head)."""
    from covidnb.cam import compute_cams

    results = {name: compute_cams(m, dataset, indices, getattr(m, "cam_layer", lambda: None)(),
                                  method, target_class) for name, m in models.items()}
    return cam_rows(results, image_weight)


def offset_figure(model, dataset, indices: Sequence[int], block: str = "x2"):
    """Where a trained DResUNet's first deformable conv in ``block`` samples: per image, the mean
    offset length |Δp| (pixels of that block's input) and the mean modulation Δm per position."""
    import matplotlib.pyplot as plt
    import torch

    from covidnb.models.deform import ModulatedDeformConv2d

    conv = next(m for m in getattr(model, block).modules() if isinstance(m, ModulatedDeformConv2d))
    seen = []
    hook = conv.register_forward_hook(lambda mod, inp, out: seen.append(mod.offsets_and_mask(inp[0])))
    x = torch.stack([dataset[int(i)]["image"] for i in indices])
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    offset, mask = seen[0]
    n, k2 = offset.shape[0], offset.shape[1] // 2
    length = offset.view(n, k2, 2, *offset.shape[-2:]).norm(dim=2).mean(dim=1)
    fig, axes = plt.subplots(len(indices), 3, figsize=(8, 2.6 * len(indices)), squeeze=False)
    for r, row in enumerate(axes):
        row[0].imshow(x[r, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        im1 = row[1].imshow(length[r].numpy(), cmap="magma")
        im2 = row[2].imshow(mask[r].mean(dim=0).numpy(), cmap="viridis", vmin=0, vmax=1)
        row[1].set_title(f"mean |Δp| ({block}), max {float(length[r].max()):.2g} px", fontsize=8)
        row[2].set_title(f"mean modulation Δm ({block})", fontsize=8)
        fig.colorbar(im1, ax=row[1], fraction=0.046)
        fig.colorbar(im2, ax=row[2], fraction=0.046)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig
