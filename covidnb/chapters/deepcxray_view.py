"""What only the ``deepcxray`` chapter's notebooks show (Xu et al., IEEE Access 2018): the
ChestX-ray14 label matrix, the W-CEL failure rate per finding, split leakage, and multi-label
image grids. The numbers come from :mod:`covidnb.data.chestxray14_labels` and
:mod:`covidnb.data.chestxray14_splits`; this module only gathers and draws them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from covidnb.data.nih import NIH_LABELS

LISTS = "chexnet-split-labels"
SYNTHETIC_LABELS = ("*** SYNTHETIC LABELS *** the CheXNet label lists were not found, so this notebook "
                    "draws a label matrix at the release's prevalences: every number below describes "
                    "that draw, not ChestX-ray14.")


# -- the label matrix -----------------------------------------------------------------------
def label_frame(root=None) -> tuple[pd.DataFrame, bool]:
    """``(frame, synthetic)``: the 112,120 real label vectors of the CheXNet lists (columns
    ``image, patient_id, <14 findings>, split``), or, when the lists are absent, a labelled
    synthetic stand-in of the same size drawn at the release's prevalences (one image per
    patient, with a warning)."""
    from covidnb.data.chestxray14_lists import read_label_lists
    from covidnb.data.chestxray14_phantom import RELEASE_N, ChestXray14Phantom
    from covidnb.data.chestxray14_splits import random_split
    from covidnb.data.locate import try_find

    found = try_find(LISTS, root)
    if found is not None:
        return read_label_lists(found), False
    warnings.warn(SYNTHETIC_LABELS, stacklevel=2)
    y = ChestXray14Phantom("all", n=RELEASE_N, seed=0).targets.astype(np.int8)
    names = [f"{i + 1:08d}_000.png" for i in range(RELEASE_N)]
    frame = pd.DataFrame(y, columns=NIH_LABELS)
    frame.insert(0, "patient_id", [n[:8] for n in names])
    frame.insert(0, "image", names)
    frame["split"] = random_split(names, level="patient", seed=0)
    return frame, True


def official_train_val(root=None) -> list[str] | None:
    """The image names of NIH's complete official ``train_val_list.txt`` (86,524), looked up in
    the NIH folder (``original-lists/`` of the staged copy, or the release's own file), or
    ``None`` when only a subset is there."""
    from covidnb.data.locate import try_find
    from covidnb.data.tables import listed_lines

    nih = try_find("nih-chestxray14", root)
    if nih is None:
        return None
    for rel in ("original-lists/train_val_list.txt", "train_val_list.txt"):
        names = [n for _, n in listed_lines(nih / rel)] if (nih / rel).is_file() else []
        if len(names) > 80000:
            return names
    return None


def leakage_summary(frame: pd.DataFrame, train_val: Sequence[str] | None, seeds: Sequence[int] = range(6)):
    """``(per-seed table of image-level draws, one row per split kind)``: test images sharing a
    patient with training, for image-level random draws, a patient-level draw, the CheXNet lists
    and NIH's official list (when ``train_val`` is given)."""
    from covidnb.data.chestxray14_splits import (
        leakage_table,
        official_assignment,
        random_split,
        random_split_leakage,
    )

    names = list(frame["image"])
    draws = random_split_leakage(names, seeds=seeds, level="image")
    kinds = {"CheXNet lists (patient-level)": frame["split"].to_numpy(),
             "random patient-level 70/10/20 (seed 0)": random_split(names, level="patient", seed=0)}
    if train_val is not None:
        kinds["NIH official train_val / test"] = official_assignment(names, train_val)
    table = leakage_table(names, kinds)
    mean = draws[["n_test_images", "leaked_images", "leaked_share", "n_test_patients", "leaked_patients"]].mean()
    table.loc[f"random image-level 70/10/20 (mean of {len(draws)} draws)"] = mean
    return draws, table


# -- figures --------------------------------------------------------------------------------
def plot_prevalence(prev: pd.DataFrame, ax=None):
    """Prevalence per finding over the whole release (bars, log scale), "No Finding" last."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.2))[1]
    p = prev[("all", "prevalence")]
    ax.bar(range(len(p)), p.to_numpy(), color=["C0"] * (len(p) - 1) + ["C7"])
    ax.set_xticks(range(len(p)), p.index, rotation=45, ha="right", fontsize=8)
    ax.set(yscale="log", ylabel="share of images", title="ChestX-ray14: prevalence per finding (112,120 images)")
    return ax


def plot_cooccurrence(cond: pd.DataFrame, ax=None):
    """P(column finding | row finding) as a heat map."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 5))[1]
    im = ax.imshow(cond.to_numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(cond)), cond.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(cond)), cond.index, fontsize=7)
    ax.set_title("P(column | row): share of a finding's images that carry another")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def plot_no_positive(table: pd.DataFrame, shares: pd.Series, p_batch: float, batch: int = 16, ax=None):
    """Per finding: P(no positive in a batch) exactly (bars) and in shuffled epochs (dots); the
    line is P(whole batch "No Finding"), when the batch-wide W-CEL weight is infinite."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7.5, 3.6))[1]
    x = np.arange(len(table))
    ax.bar(x, table["P(no positive)"], color="C1", label=f"exact, batch of {batch} (per-finding β_P = ∞)")
    ax.plot(x, shares[table.index].to_numpy(), "k.", label="share in shuffled epochs")
    ax.axhline(p_batch, color="C3", ls="--", label=f"whole batch 'No Finding' (batch-wide β_P = ∞): {p_batch:.2e}")
    ax.set_xticks(x, table.index, rotation=45, ha="right", fontsize=8)
    ax.set(yscale="log", ylim=(min(p_batch, 1e-3) / 3, 1.5), ylabel="probability per batch",
           title="W-CEL: how often a batch of 16 makes a weight infinite (training split)")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_leakage(draws: pd.DataFrame, table: pd.DataFrame, ax=None):
    """Share of test images whose patient is in training, per kind of split."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 2.6))[1]
    ax.barh(range(len(table)), table["leaked_share"], color="C3")
    ax.plot(draws["leaked_share"], [len(table) - 1] * len(draws), "k|", ms=12)
    ax.set_yticks(range(len(table)), table.index, fontsize=8)
    ax.set(xlim=(0, 1), xlabel="share of test images with the same patient in training",
           title="Patient leakage of 70/10/20 splits of ChestX-ray14")
    return ax


def image_grid(dataset, indices: Sequence[int] | None = None, cols: int = 6, size: float = 1.9):
    """Images of a multi-label dataset titled with their findings ("No Finding" when none)."""
    import matplotlib.pyplot as plt

    idx = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    rows = max(1, -(-len(idx) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows * 1.1), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx):
        on = [dataset.classes[j] for j in np.flatnonzero(dataset.targets[i])]
        ax.imshow(dataset[i]["image"][0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{Path(dataset.sample_ids[i]).name}\n{', '.join(on) or 'No Finding'}", fontsize=6)
    if getattr(dataset, "synthetic", False):
        fig.suptitle("SYNTHETIC PHANTOM — not real data", color="red")
    fig.tight_layout()
    return fig
