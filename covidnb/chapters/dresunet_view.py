"""What the ``dresunet`` chapter's notebooks show: runs gathered from the stores, Table 5.1-style
results (mean ± std over seeds), figures of the data, the models and the Grad-CAM maps.

Xu (2021, BSc thesis, MUST) trains seven models once each on COVID-CT and reports Table 5.1
(accuracy, precision, AUC, recall in %, F1 as a fraction). The helpers here only arrange what
the library computes; they choose no hyper-parameter (those live in ``nbs/dresunet/profiles.yaml``
and :mod:`covidnb.chapters.dresunet`).

Stores. ``"runs"`` is the user's run store (``COVIDNB_RUNS`` or ``<repo>/runs``); ``"results"`` is
the committed reference re-run (``<repo>/results``), which is only ever read; any other relative
path is taken from the repository root. :func:`collect_runs` reuses a finished run from the
reference store before it trains anything, so the ``cpu`` profile shows the reference re-run
without retraining, while ``smoke`` runs (never in the reference store) train into ``"runs"``.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters.dresunet import CHAPTER, CLASSES, TABLE_METRICS, TABLE_NAMES, settings
from covidnb.chapters.view import (  # noqa: F401  (re-exported for the notebooks)
    collect_runs,
    is_reference,
    resolve_store,
    stored_run,
    synthetic_banner,
)
from covidnb.paths import chapter_dir, runs_root

POSITIVE = CLASSES[1]  # COVID is the positive class (label 1) of Table 5.1's precision/recall
_ORDER = {name: i for i, name in enumerate(TABLE_NAMES.values())}


# -- session ------------------------------------------------------------------------------------
def setup(profile: str, progress: bool | None = None) -> dict[str, Any]:
    """Display options for a notebook; returns the profile's settings.

    For ``smoke`` the models are so small (width 4, 64 px) that a second intra-op thread costs
    more in synchronisation than it saves — measured 6× slower on a busy 2-core machine — so torch
    gets one thread; progress bars are off for ``smoke`` (``progress=None``) to keep CI logs short.
    """
    import torch

    pd.set_option("display.max_colwidth", 120)
    pd.set_option("display.width", 160)
    if profile == "smoke":
        torch.set_num_threads(1)
    if progress is False or (progress is None and profile == "smoke"):
        os.environ["COVIDNB_PROGRESS"] = "0"
    return settings(profile)


def runs_frame(runs: Sequence, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run: model (and Table 5.1 name), seed, the settings a reader compares with the
    thesis, and the test metrics (fractions). ``labels`` adds a ``variant`` column; ``None``
    entries (missing runs) are skipped with their label."""
    rows = []
    for k, run in enumerate(runs):
        if run is None:
            continue
        c, m = run.config, run.metrics
        t = c.get("train", {})
        sched = t.get("scheduler")
        if sched == "cosine":
            kw = t.get("scheduler_kwargs", {})
            sched = f"cosine, period {kw.get('T_max')}" + (" (warm restarts)" if kw.get("restarts") else "")
        sub = c.get("subsample")
        row = {
            "key": run.key[:12], "model": c["model"], "Model": TABLE_NAMES.get(c["model"], c["model"]),
            "seed": c["seed"], "profile": c.get("profile"), "synthetic": run.synthetic,
            "dataset": c["dataset"], "split": "official COVID-CT split files (test 98 / 105)",
            "image_size": c["image_size"], "width": c.get("model_kwargs", {}).get("width"),
            "weights": "random initialisation (trained from scratch)",
            "epochs": t.get("epochs"), "max_steps_per_epoch": t.get("max_steps_per_epoch"),
            "train_fraction": min(sub.values()) if sub else 1.0,
            "lr": t.get("lr"), "batch_size": t.get("batch_size"), "optimizer": t.get("optimizer"),
            "scheduler": sched, "mixup_alpha": t.get("mixup_alpha"), "cutmix_alpha": t.get("cutmix_alpha"),
            "mixup": _mixing_text(t),
        }
        for name in ("accuracy", "precision", "sensitivity", "specificity", "f1", "auc",
                     "tp", "fp", "tn", "fn", "n"):
            row[name] = m.get(name, math.nan)
        tr = m.get("training", {})
        row["best_epoch"], row["seconds"] = tr.get("best_epoch"), tr.get("seconds")
        if labels is not None:
            row["variant"] = labels[k]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["repeats"] = frame.groupby(["model"] + (["variant"] if labels is not None else []))["seed"].transform("nunique")
    return frame


def _mixing_text(train: Mapping) -> str:
    parts = []
    if train.get("mixup_alpha", 0) > 0:
        parts.append(f"mixup alpha={train['mixup_alpha']:g}")
    if train.get("cutmix_alpha", 0) > 0:
        parts.append(f"CutMix alpha={train['cutmix_alpha']:g}")
    return ", ".join(parts) or "none"


# -- tables -------------------------------------------------------------------------------------
def _unit_scale(column: str) -> tuple[float, int]:
    """Table 5.1's unit: % with 2 decimals, F1 a fraction with 4 decimals (as printed)."""
    return (1.0, 4) if column == "F1-score" else (100.0, 2)


def _model_order(frame: pd.DataFrame, col: str = "Model") -> pd.DataFrame:
    return frame.sort_values(col, key=lambda s: s.map(lambda v: _ORDER.get(v, len(_ORDER))), kind="stable")


def results_table(frame: pd.DataFrame, by: str | Sequence[str] = "Model") -> pd.DataFrame:
    """Table 5.1's columns as ``mean ± std`` over the runs of each group (seeds), in the thesis'
    units; a group of one run shows its value alone. Rows in the thesis' model order."""
    from covidnb.metrics import format_mean_std, mean_std

    by = [by] if isinstance(by, str) else list(by)
    if frame.empty:
        return pd.DataFrame(columns=by + list(TABLE_METRICS) + ["runs"])
    stats = mean_std(frame, by, list(dict.fromkeys(TABLE_METRICS.values())))
    out = stats[by].copy()
    for col, metric in TABLE_METRICS.items():
        scale, digits = _unit_scale(col)
        out[col] = [format_mean_std(m, s, digits, scale) for m, s in
                    zip(stats[f"{metric}_mean"], stats[f"{metric}_std"])]
    out["runs"] = stats["n"]
    # Rows as the frame lists them (e.g. the ablation's variant order), models in Table 5.1's order.
    first = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, frame[by].to_numpy().tolist())))}
    out["_first"] = [first.get(tuple(r), 0) for r in out[by].to_numpy().tolist()]
    out = out.sort_values("_first", kind="stable").drop(columns="_first")
    if "Model" in by:
        out = _model_order(out)
    return out.set_index(by)


def comparison_wide(result: pd.DataFrame) -> pd.DataFrame:
    """:func:`covidnb.report.compare`'s long result as one row per model: for each Table 5.1
    column the printed value, the re-run ``mean ± std`` and the difference (re-run − paper)."""
    cells = {}
    for _, r in result.iterrows():
        digits = 2 if r["unit"] == "%" else 4
        rerun = "—" if r["n_runs"] == 0 else (f"{r['rerun_mean']:.{digits}f}" + (
            "" if math.isnan(r["rerun_std"]) else f" ± {r['rerun_std']:.{digits}f}"))
        diff = "" if math.isnan(r["difference"]) else f"{r['difference']:+.{digits}f}"
        for what, v in (("paper", f"{r['printed']:.{digits}f}"), ("re-run", rerun), ("Δ", diff)):
            cells.setdefault(r["Model"], {})[(r["metric"], what)] = v
        cells[r["Model"]][("", "runs")] = int(r["n_runs"])
    out = pd.DataFrame.from_dict(cells, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "Model"
    return out


def compare_table51(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Table 5.1 as printed beside the re-runs in ``frame`` (:func:`runs_frame`) through
    :func:`covidnb.report.compare`, which refuses synthetic runs; ``None`` when ``frame`` is empty."""
    from covidnb import report
    from covidnb.chapters.dresunet import TABLE_UNITS

    if frame.empty:
        print("no finished re-run to compare with")
        return None
    return report.compare(report.reported_table(CHAPTER, "5.1"), frame, on="Model",
                          metrics=TABLE_METRICS, unit=TABLE_UNITS, chapter=CHAPTER)


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
    delta = _model_order(delta.reset_index()).set_index(["Model", "variant"])
    return delta.rename(columns=lambda c: f"Δ {c} (points)").round(2) + 0.0  # + 0.0: no "-0.00"


def profile_vs_thesis(profile: str) -> pd.DataFrame:
    """Each setting of ``profile`` beside the ``paper`` profile, where the thesis states it
    (``paper_reference`` in ``profiles.yaml``) and the note on the choice; ``differs`` marks
    the rows where the profile departs from the paper profile."""
    import yaml

    from covidnb.profiles import profile_table

    table = profile_table(CHAPTER)
    ref = yaml.safe_load((chapter_dir(CHAPTER) / "profiles.yaml").read_text()).get("paper_reference", {})
    out = pd.DataFrame({
        profile: table[profile].astype(str),
        "paper profile": table["paper"].astype(str),
        "where the thesis says it": [ref.get(k, "—") for k in table.index],
        "note": table["note"],
    }, index=table.index)
    out.insert(2, "differs", out[profile] != out["paper profile"])
    return out


# -- training figures ---------------------------------------------------------------------------
def curves_by_model(runs: Sequence, quantities: Sequence[str] = ("train_loss", "val_loss", "val_auc"),
                    figsize=None):
    """Per-epoch training history, one line per model (mean over its seeds), one panel per
    quantity."""
    import matplotlib.pyplot as plt

    frames = []
    for run in runs:
        h = run.history
        if len(h):
            frames.append(h.assign(Model=TABLE_NAMES.get(run.config["model"], run.config["model"])))
    if not frames:
        raise ValueError("curves_by_model: no run has a training history")
    hist = pd.concat(frames, ignore_index=True)
    quantities = [q for q in quantities if q in hist]
    fig, axes = plt.subplots(1, len(quantities), figsize=figsize or (4.2 * len(quantities), 3.4), squeeze=False)
    models = _model_order(pd.DataFrame({"Model": hist["Model"].unique()}))["Model"]
    for ax, q in zip(axes[0], quantities):
        for name in models:
            mean = hist[hist.Model == name].groupby("epoch")[q].mean()
            ax.plot(mean.index, mean.values, marker="o", ms=3, label=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="epoch", title=q + (" (mean over seeds)" if hist.groupby("Model")["epoch"].size().max() > hist["epoch"].nunique() else ""))
    axes[0][-1].legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


def roc_by_model(runs: Sequence, seed: int | None = None, ax=None):
    """ROC curves on the test split, one per model, for one seed (default: the smallest)."""
    from covidnb.plots import roc_curves

    seeds = sorted({r.config["seed"] for r in runs})
    if not seeds:
        raise ValueError("roc_by_model: no runs")
    seed = seeds[0] if seed is None else seed
    chosen = sorted((r for r in runs if r.config["seed"] == seed),
                    key=lambda r: _ORDER.get(TABLE_NAMES.get(r.config["model"]), 99))
    curves = {TABLE_NAMES.get(r.config["model"], r.config["model"]): r.predictions for r in chosen}
    return roc_curves(curves, positive=POSITIVE, ax=ax, title=f"ROC on the test split (seed {seed})")


def _predicted(pred: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
    return (pred[f"p_{POSITIVE}"].to_numpy(float) >= threshold).astype(int)


def confusion_grid(runs: Sequence, threshold: float = 0.5, ncols: int = 4):
    """One confusion matrix per model (counts summed over its seeds), threshold 0.5 (§3.1)."""
    import matplotlib.pyplot as plt

    from covidnb.plots import confusion_matrix_plot

    by_model: dict[str, list[pd.DataFrame]] = {}
    for r in runs:
        by_model.setdefault(TABLE_NAMES.get(r.config["model"], r.config["model"]), []).append(r.predictions)
    names = sorted(by_model, key=lambda n: _ORDER.get(n, 99))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        pred = pd.concat(by_model[name], ignore_index=True)
        n = len(by_model[name])
        confusion_matrix_plot(pred["label"], _predicted(pred, threshold), ["non-COVID", "COVID"], ax=ax,
                              title=f"{name}" + (f" (sum of {n} seeds)" if n > 1 else ""))
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


# -- data (notebook 01) -------------------------------------------------------------------------
def file_summary(files: pd.DataFrame) -> pd.DataFrame:
    """Per class: image count, width / height / aspect ratio (min, median, max), the share of
    non-square images, PIL modes, and files whose bytes are not the format their name says."""
    f = files.assign(aspect=files["width"] / files["height"])
    rows = {}
    for cls, g in f.groupby("class"):
        rows[cls] = {
            "images": len(g),
            "width min / median / max": f"{g.width.min()} / {int(g.width.median())} / {g.width.max()}",
            "height min / median / max": f"{g.height.min()} / {int(g.height.median())} / {g.height.max()}",
            "aspect (w/h) min / median / max": f"{g.aspect.min():.2f} / {g.aspect.median():.2f} / {g.aspect.max():.2f}",
            "non-square %": round(100 * float((g.width != g.height).mean()), 1),
            "modes": ", ".join(f"{m}: {k}" for m, k in g["mode"].value_counts().items()),
            "misnamed files": int(g["misnamed"].sum()),
        }
    return pd.DataFrame(rows).T


def size_figure(files: pd.DataFrame):
    """Width × height per image (log axes), the aspect-ratio histogram and the colour modes,
    by class."""
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    for cls, g in files.groupby("class"):
        a.scatter(g.width, g.height, s=8, alpha=0.6, label=cls)
        b.hist(g.width / g.height, bins=40, alpha=0.6, label=cls)
    lo, hi = files[["width", "height"]].min().min(), files[["width", "height"]].max().max()
    a.plot([lo, hi], [lo, hi], c="grey", lw=0.8, ls="--")
    a.set(xscale="log", yscale="log", xlabel="width (px)", ylabel="height (px)", title="image sizes")
    b.set(xlabel="aspect ratio w/h", ylabel="images", title="aspect ratios")
    files.groupby(["mode", "class"]).size().unstack(fill_value=0).plot.bar(ax=c, rot=0)
    c.set(title="PIL colour modes", ylabel="images")
    a.legend(fontsize="small")
    fig.tight_layout()
    return fig


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


# -- models (notebook 02) -----------------------------------------------------------------------
def parameter_table(widths: Mapping[str, int], in_channels: int = 1, num_classes: int = 1) -> pd.DataFrame:
    """Trainable parameters of the seven models at each named width (e.g. ``{"paper": 64}``)."""
    from covidnb.models import build_model, count_parameters

    rows = {}
    for name, label in TABLE_NAMES.items():
        rows[label] = {f"{w_name} (width {w})": count_parameters(
            build_model(name, in_channels=in_channels, num_classes=num_classes, width=w))
            for w_name, w in widths.items()}
    return pd.DataFrame(rows).T


def forward_shapes(width: int, image_size: int, batch: int = 2) -> pd.DataFrame:
    """Input and output shape of each model on a random batch (one logit per image)."""
    import torch

    from covidnb.models import build_model

    x = torch.rand(batch, 1, image_size, image_size)
    rows = {}
    for name, label in TABLE_NAMES.items():
        with torch.no_grad():
            out = build_model(name, width=width).eval()(x)
        rows[label] = {"input": tuple(x.shape), "output": tuple(out.shape)}
    return pd.DataFrame(rows).T


def parts_table(width: int = 4) -> pd.DataFrame:
    """How many of each distinguishing module every model holds, counted in its module tree."""
    from torch import nn

    from covidnb.models import build_model
    from covidnb.models.attention import SCSE, ECAsE
    from covidnb.models.deform import ModulatedDeformConv2d
    from covidnb.models.fprm import FPRM
    from covidnb.models.resunet import ResidualStage

    kinds = {"residual stages": ResidualStage, "deformable convs": ModulatedDeformConv2d,
             "scSE gates": SCSE, "ECAsE": ECAsE, "FPRM": FPRM, "nn.Conv2d (incl. offset branches)": nn.Conv2d,
             "BatchNorm2d": nn.BatchNorm2d}
    rows = {}
    for name, label in TABLE_NAMES.items():
        mods = list(build_model(name, width=width).modules())
        rows[label] = {k: sum(type(m) is t or (t is not nn.Conv2d and isinstance(m, t)) for m in mods)
                       for k, t in kinds.items()}
    return pd.DataFrame(rows).T


def stage_shapes(model_name: str = "dresunet", width: int = 4, image_size: int = 64) -> pd.DataFrame:
    """The output shape of each top-level block of a model (forward hooks), in call order."""
    import torch

    from covidnb.models import build_model

    model = build_model(model_name, width=width).eval()
    rows = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: rows.append(
        {"block": n, "type": type(mod).__name__, "output shape": tuple(out.shape)}))
        for n, m in model.named_children()]
    try:
        with torch.no_grad():
            model(torch.rand(1, 1, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)


def deform_checks(channels: int = 4, size: int = 16, seed: int = 0) -> pd.DataFrame:
    """Known values of the modulated deformable conv (DCNv2, as ``covidnb.models.deform``):

    1. freshly built (offsets 0, mask σ(0) = 0.5) it equals half the plain conv with its weights;
    2. a 1×1 kernel of weight 1 with offset Δx = +1 and mask ≈ 1 reads each pixel's right-hand
       neighbour (zero beyond the border);
    3. Δx = +0.5 reads the bilinear midpoint, the mean of a pixel and its right-hand neighbour.
    """
    import torch
    import torch.nn.functional as F

    from covidnb.models.deform import ModulatedDeformConv2d

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, size, size, generator=g)
    rows = []
    m = ModulatedDeformConv2d(channels, channels, 3)
    with torch.no_grad():
        got, want = m(x), 0.5 * F.conv2d(x, m.weight, padding=1)
    rows.append({"check": "initial offsets 0, mask 0.5 → 0.5 · conv3×3", "max |difference|": float((got - want).abs().max())})
    x1 = x[:, :1]
    shifted = torch.cat([x1[..., 1:], torch.zeros_like(x1[..., :1])], dim=-1)
    for dx, want, text in ((1.0, shifted, "offset Δx = +1 → right-hand neighbour"),
                           (0.5, 0.5 * (x1 + shifted), "offset Δx = +0.5 → bilinear midpoint")):
        got = shift_with_deform_conv(x1, dy=0.0, dx=dx)
        inside = (slice(None), slice(None), slice(None), slice(0, size - 1))  # the border column reads padding
        rows.append({"check": text, "max |difference|": float((got - want)[inside].abs().max())})
    return pd.DataFrame(rows)


def shift_with_deform_conv(x, dy: float, dx: float):
    """Sample a 1-channel ``N×1×H×W`` map at ``p + (dy, dx)`` with a 1×1 modulated deformable conv
    whose offsets and mask are fixed through its (zero-weight) offset branch's bias."""
    import torch

    from covidnb.models.deform import ModulatedDeformConv2d

    m = ModulatedDeformConv2d(1, 1, kernel_size=1)
    with torch.no_grad():
        m.conv.weight.fill_(1.0)
        # torchvision's offset layout: (Δy, Δx) per kernel point, then one mask logit per point.
        m.offset_mask.bias.copy_(torch.tensor([dy, dx, 30.0]))  # σ(30) = 1 − 1e-13
        return m(x)


def deform_shift_figure(image, shifts: Sequence[tuple[float, float]] = ((0, 0), (0, 10), (-15, 0), (7.5, 7.5))):
    """An image sampled through a deformable conv with constant offsets: what an offset does."""
    import matplotlib.pyplot as plt

    x = image[None, :1] if image.dim() == 3 else image
    fig, axes = plt.subplots(1, len(shifts), figsize=(3 * len(shifts), 3.2))
    for ax, (dy, dx) in zip(np.atleast_1d(axes), shifts):
        ax.imshow(shift_with_deform_conv(x, dy, dx)[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"offset (Δy, Δx) = ({dy:g}, {dx:g})", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def module_costs(width: int) -> pd.DataFrame:
    """Parameters each added module costs where DResUNet places it (x5 has 8·width channels,
    the head 2·width), beside the plain layer it extends or the block it gates."""
    import torch
    from torch import nn

    from covidnb.models import count_parameters
    from covidnb.models.attention import CSE, ECA, SCSE, SSE, ECAsE, eca_kernel_size
    from covidnb.models.deform import ModulatedDeformConv2d
    from covidnb.models.fprm import FPRM

    c5, ch = 8 * width, 2 * width
    entries = [
        ("Conv2d 3×3 (x5's plain first conv)", nn.Conv2d(4 * width, c5, 3, padding=1, bias=False), 4 * width),
        ("ModulatedDeformConv2d 3×3 (DResUNet's x5)", ModulatedDeformConv2d(4 * width, c5, 3), 4 * width),
        ("sSE gate (1×1 conv C→1)", SSE(c5), c5),
        ("cSE gate (C→C/2→C)", CSE(c5), c5),
        ("scSE (after each decoder stage; here on x5's channels)", SCSE(c5), c5),
        (f"ECA, avg + max pools, 2×2/2 (1-D kernel {eca_kernel_size(c5)})", ECA(c5, pools=("avg", "max"), downsample=True), c5),
        ("ECAsE = sSE + ECA (x5 of ResUNet_ECSA, DResUNet)", ECAsE(c5), c5),
        ("FPRM (head of ResUNet_FPRM, DResUNet)", FPRM(ch, width), ch),
    ]
    rows = []
    for name, module, cin in entries:
        x = torch.rand(1, cin, 8, 8)
        if isinstance(module, FPRM):
            with torch.no_grad():
                out = module(x, torch.rand(1, width, 32, 32))
        else:
            with torch.no_grad():
                out = module.eval()(x)
        rows.append({"module": name, "input": tuple(x.shape), "output": tuple(out.shape),
                     "parameters": count_parameters(module)})
    return pd.DataFrame(rows).set_index("module")


# Model modules whose docstrings state the readings chosen where the thesis is vague.
_READING_MODULES = ("simplecnn", "vgg_small", "unet", "resunet", "attention", "fprm", "deform", "dresunet")


def readings(modules: Sequence[str] = _READING_MODULES) -> dict[str, str]:
    """``{module: text}``: each model module's docstring title, then its paragraphs from the first
    one that mentions a reading on (the whole docstring when none does) — the choices made where
    the thesis is vague, as the code states them."""
    import importlib
    import re

    out = {}
    for name in modules:
        doc = inspect.getdoc(importlib.import_module(f"covidnb.models.{name}")) or ""
        paras = re.split(r"\n\s*\n", doc)
        start = next((i for i, p in enumerate(paras) if "reading" in p.lower()), 1)
        out[name] = "\n\n".join(paras[:1] + paras[max(start, 1):]).strip()
    return out


def readings_markdown(modules: Sequence[str] = _READING_MODULES):
    """:func:`readings` as one Markdown object, a section per module."""
    from IPython.display import Markdown

    parts = [f"#### `covidnb.models.{name}`\n\n{text}" for name, text in readings(modules).items()]
    return Markdown("\n\n".join(parts))


# -- Grad-CAM (notebook 05) ---------------------------------------------------------------------
def trained_model(run, store: Any = "runs", which: str = "best"):
    """``(model, run)``: the run's model from its checkpoint; when the run was stored without
    checkpoints (the reference re-run), its configuration is trained again with checkpoints
    kept — into ``store`` (never into ``results/``), or into ``<store>/_checkpointed`` when
    ``store`` already holds the run without them."""
    from covidnb.experiment import load_model, run_experiment
    from covidnb.runs import RunStore

    try:
        return load_model(run, which), run
    except FileNotFoundError:
        pass
    target = resolve_store(store)
    if is_reference(target):
        target = RunStore(runs_root())
    if target.root.resolve() == run.path.parents[1].resolve():
        target = RunStore(target.root / "_checkpointed")
    config = {k: v for k, v in run.config.items() if k != "synthetic"}
    print(f"{run.path.name} has no checkpoint: training its configuration again into {target.root} "
          "with checkpoints kept")
    again = run_experiment(config, store=target, keep_checkpoints=True)
    return load_model(again, which), again


def confident_indices(run, dataset, cls: str = POSITIVE, n: int = 4) -> list[int]:
    """Indices in ``dataset`` of the ``n`` test images of class ``cls`` the run scored most
    confidently as ``cls`` (from its stored predictions), most confident first."""
    pred = run.predictions
    k = list(dataset.classes).index(cls)
    pos = {sid: i for i, sid in enumerate(dataset.sample_ids)}
    rows = pred[pred["label"] == k].sort_values(f"p_{cls}", ascending=False, kind="stable")
    return [pos[s] for s in rows["sample_id"] if s in pos][:n]


def cam_comparison(models: Mapping[str, Any], dataset, indices: Sequence[int], method: str = "gradcam",
                   target_class: str | None = None, image_weight: float = 0.5):
    """Rows: images; columns: the image, then each model's CAM over it (its ``cam_layer()``),
    titled with the prediction, its probability and the class the map explains."""
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    from covidnb.cam import compute_cams

    results = {name: compute_cams(m, dataset, indices, getattr(m, "cam_layer", lambda: None)(),
                                  method, target_class) for name, m in models.items()}
    ncol = 1 + len(models)
    fig, axes = plt.subplots(len(indices), ncol, figsize=(2.6 * ncol, 2.7 * len(indices)), squeeze=False)
    first = next(iter(results.values()))
    for r, row in enumerate(axes):
        row[0].imshow(first[r].image)
        row[0].set_title(f"{Path(first[r].sample_id).name[:26]}\nlabel: {first[r].label}", fontsize=7)
        for ax, (name, res) in zip(row[1:], results.items()):
            c = res[r]
            ax.imshow(show_cam_on_image(c.image, c.cam, use_rgb=True, image_weight=image_weight))
            ax.set_title(f"{name}: {c.prediction} (p={c.probability:.2f})\n{method} for {c.target}", fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    fig.results = results
    return fig


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
