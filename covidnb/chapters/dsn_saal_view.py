"""What only the ``dsn_saal`` chapter's notebooks show (Hu et al. 2021): Table 6's change in
sensitivity, SAAL's gradient signs and α/β trajectories, the kept-fraction counts, the §3.1
preprocessing steps, DSN side-output shapes, parameter counts, Fig. 7's Grad-CAM pairs and the
resolution ablation.

Everything every chapter shows — runs → frame, mean ± std tables, reported vs re-run, claims,
ROC / confusion / curves, the profile-vs-paper table — is the shared view layer
(:mod:`covidnb.chapters.views`) reading the chapter's declaration
(:data:`covidnb.chapters.dsn_saal.SPEC`). Every hyper-parameter lives in
``nbs/dsn_saal/profiles.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters.dsn_saal import TABLE6_NAMES, describe, settings
from covidnb.chapters.views.figures import cam_rows
from covidnb.chapters.views.frames import VAL_SUFFIX


# -- tables -------------------------------------------------------------------------------------
def sensitivity_change(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 6's bracketed numbers: mean SEN at each kept fraction minus the same method's mean
    SEN on the full training set (needs the 100 % runs)."""
    rows = frame[frame["table6_method"].notna()]
    sen = rows.groupby(["network", "keep_covid"])["sensitivity"].mean().unstack("network")
    if 1.0 not in sen.index:
        raise KeyError("sensitivity_change: no run on the full training set (keep_covid = 1.0)")
    out = (sen - sen.loc[1.0]).drop(index=1.0).round(3)
    out.index = [TABLE6_NAMES.get(k, f"{k:g}") for k in out.index]
    return out.rename(columns=lambda c: f"Δ SEN {c}")


def saal_gradient_signs(class_counts: Sequence[int], seed: int = 0, n: int = 64) -> pd.DataFrame:
    """The gradient of SAAL with respect to its raw α and β on random logits and labels, from
    several random starting points: a negative ∂ℓ/∂α means a gradient step raises σ(α), a
    positive ∂ℓ/∂β one lowers σ(β) (§3.4; see :mod:`covidnb.losses.saal`)."""
    import torch

    from covidnb.losses import build_loss

    g = torch.Generator().manual_seed(seed)
    rows = []
    for alpha0, beta0 in ((0.2, 0.2), (0.5, 0.5), (0.9, 0.8), (0.99, 0.5)):
        loss = build_loss("saal", class_counts=list(class_counts), num_outputs=1,
                          alpha_init=alpha0, beta_init=beta0)
        logits = torch.randn(n, len(class_counts), generator=g)
        y = torch.randint(0, len(class_counts), (n,), generator=g)
        loss(logits, y).backward()
        rows.append({"σ(α) start": alpha0, "σ(β) start": beta0,
                     "∂ℓ/∂α (raw)": float(loss.alpha.grad), "∂ℓ/∂β (raw)": float(loss.beta.grad[0]),
                     "σ(α) moves": "up" if float(loss.alpha.grad) < 0 else "down",
                     "σ(β) moves": "down" if float(loss.beta.grad[0]) > 0 else "up",
                     **{f"w_{k}": round(float(w), 5) for k, w in enumerate(loss.class_weights().tolist())}})
    return pd.DataFrame(rows)


def subsample_counts(dataset, ratios: Iterable[float], profile: str | dict) -> pd.DataFrame:
    """Training images and patients per class when ``keep_covid`` of the COVID-19 images are kept
    (by patient, the profile's ``data_seed``), and the resulting imbalance ratio."""
    from covidnb.data import subsample

    p = settings(profile)
    pos, neg = p["positive"], [c for c in p["classes"] if c != p["positive"]]
    rows = []
    for r in ratios:
        ds = dataset if float(r) >= 1 else subsample(dataset, {pos: float(r)}, seed=int(p["data_seed"]))
        counts = ds.class_counts()
        targets = np.asarray(ds.targets)
        pats = {c: len({ds.patient_ids[i] for i in np.flatnonzero(targets == k)})
                for k, c in enumerate(ds.classes)}
        row = {"kept": TABLE6_NAMES.get(float(r), f"{r:g}"), "COVID-19 fraction": float(r)}
        row.update({f"{c} images": counts[c] for c in ds.classes})
        row.update({f"{c} patients": pats[c] for c in ds.classes})
        row["non-COVID : COVID"] = round(sum(counts[c] for c in neg) / counts[pos], 2)
        rows.append(row)
    return pd.DataFrame(rows).set_index("kept")


# -- figures ------------------------------------------------------------------------------------
def saal_trajectories(runs: Sequence, figsize=(13, 3.6)):
    """σ(α), σ(β_i) and the class weights w_n per epoch (the ``loss.*`` columns of each SAAL
    run's history). One colour per configuration (network and kept COVID-19 fraction), shared by
    its seeds and its outputs; class weights solid for the positive class, dashed for the other;
    one legend entry per configuration, below the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    saal = [r for r in runs if r is not None and r.config["loss"] == "saal"]
    if not saal:
        raise ValueError("saal_trajectories: no SAAL run among the runs")
    fig, axes = plt.subplots(1, 3, figsize=figsize)
    groups: dict[str, list] = {}
    for run in saal:
        d = describe(run.config)
        groups.setdefault(f"{d['network']}, {d['keep_covid']:.0%} COVID-19 kept", []).append(run)
    colours = plt.get_cmap("tab10")
    seeds: dict[str, int] = {}
    for g, (label, members) in enumerate(groups.items()):
        colour = colours(g % 10)
        seeds[label] = len(members)
        for run in members:
            h = run.history
            if "loss.alpha" not in h:
                continue
            style = {"color": colour, "lw": 1, "alpha": 0.8, "marker": "o" if len(h) < 3 else None, "ms": 3}
            axes[0].plot(h["epoch"], h["loss.alpha"], **style)
            for col in sorted(c for c in h.columns if c.startswith("loss.beta_")):
                axes[1].plot(h["epoch"], h[col], **style)
            positive = len(run.metrics.get("classes") or []) - 1
            for col in sorted(c for c in h.columns if c.startswith("loss.w_")):
                k = int(col.removeprefix("loss.w_"))
                axes[2].plot(h["epoch"], h[col], **{**style, "ls": "-" if k == positive else "--"})
    axes[0].set_title("σ(α): effective-number factor", fontsize=9)
    axes[1].set_title("σ(β_i): reverse-CE weight, every output", fontsize=9)
    axes[2].set_title("class weights w_n = (1−α)/(1−α^k_n)", fontsize=9)
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.tick_params(labelsize=8)
    handles = [Line2D([], [], color=colours(g % 10), lw=2, label=f"{label} ({seeds[label]} seed(s))")
               for g, label in enumerate(groups)]
    handles += [Line2D([], [], color="grey", ls="-", label="w of the positive class"),
                Line2D([], [], color="grey", ls="--", label="w of the other class")]
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8,
               frameon=False)
    return fig


def preprocess_figure(steps: Mapping[str, np.ndarray], keys: Sequence[str] | None = None,
                      title: str | None = None, size: float = 2.2):
    """The §3.1 steps side by side (images in [0, 255], masks as black/white)."""
    import matplotlib.pyplot as plt

    keys = list(keys or steps)
    # at most four panels a row: a page scales a wider figure down until its titles are unreadable
    ncols = min(4, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.45) * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, k in zip(axes.flat, keys):
        img = steps[k]
        if img.dtype == bool:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img, cmap="gray", vmin=float(np.min(img)) if k == "input" else 0,
                      vmax=float(np.max(img)) if k == "input" else 255)
        ax.set_title(k.replace("_", " "), fontsize=10)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def side_output_shapes(image_size: int, model: str = "dsn_vgg16_bn", channels: int = 3,
                       num_classes: int = 2, **model_kwargs) -> pd.DataFrame:
    """For each output of a DSN model on one image: the feature maps its side branch taps, what
    the branch makes of them (21 maps → fused → pooled) and the logits' shape."""
    import torch

    from covidnb.models import build_model

    torch.manual_seed(0)
    net = build_model(model, in_channels=channels, num_classes=num_classes, **model_kwargs).eval()
    rows: list[dict] = []

    def hook(k):
        def fn(mod, inp, out):
            feats = inp[0]
            x = mod.reduce[0](feats[0])
            fused = mod.fuse(x)
            rows.append({"output": f"side{k}", "tapped maps": ", ".join(str(tuple(f.shape[1:])) for f in feats),
                         "after 1×1 → 21": str(tuple(x.shape[1:])), "after fuse": str(tuple(fused.shape[1:])),
                         "after pool": str(tuple(mod.pool(fused).shape[1:])), "logits": str(tuple(out.shape))})
        return fn

    handles = [s.register_forward_hook(hook(k)) for k, s in enumerate(net.sides, start=1)]
    try:
        with torch.no_grad():
            out = net(torch.rand(1, channels, image_size, image_size))
    finally:
        for h in handles:
            h.remove()
    rows.insert(0, {"output": "main (backbone classifier)", "tapped maps": "—", "after 1×1 → 21": "—",
                    "after fuse": "—", "after pool": "—", "logits": str(tuple(out[0].shape))})
    return pd.DataFrame(rows).set_index("output")


def model_counts(models: Sequence[str], channels: int = 3, num_classes: int = 2) -> pd.DataFrame:
    """Trainable parameters of the models as this chapter builds them (3 channels, 2 classes on
    COVID-CT), counted on the meta device (no memory)."""
    import torch

    from covidnb.models import build_model, count_parameters

    rows = {}
    for name in models:
        with torch.device("meta"):
            n = count_parameters(build_model(name, in_channels=channels, num_classes=num_classes))
        rows[name] = {"params": n, "params_M": round(n / 1e6, 2)}
    return pd.DataFrame.from_dict(rows, orient="index").astype({"params": int})


def cam_pair(runs: Mapping[str, Any], dataset, indices: Sequence[int], layer: str | None = None,
             target_class: str | int | None = None, image_weight: float = 0.5):
    """Fig. 7's shape: each test slice (row), then the Grad-CAM of each run's model over it, all
    explaining the same class (default: each model's own prediction). Needs checkpoints."""
    from covidnb.cam import compute_run_cams

    results = {name: compute_run_cams(run, dataset, indices, layer=layer, target_class=target_class)[0]
               for name, run in runs.items()}
    return cam_rows(results, image_weight)


def cam_pairs_with_cams(runs: Sequence) -> pd.DataFrame:
    """The (kept COVID-19 fraction, seed) pairs whose baseline and DSN-SAAL runs both have
    stored CAMs, with the two runs: the galleries
    :func:`~covidnb.chapters.views.figures.stored_cam_rows` can draw."""
    from covidnb.cam import CAMS_FILE

    found: dict[tuple[float, int], dict[str, Any]] = {}
    for r in runs:
        d = describe(r.config)
        if d["table6_method"] and (r.path / CAMS_FILE).exists():
            name = "VGG-16-BN + CE" if d["table6_method"] == "Base." else "DSN-SAAL"
            found.setdefault((d["keep_covid"], r.config["seed"]), {})[name] = r
    rows = [{"keep_covid": k, "seed": s, "runs": v} for (k, s), v in found.items() if len(v) == 2]
    frame = pd.DataFrame(rows, columns=["keep_covid", "seed", "runs"])
    return frame.sort_values(["keep_covid", "seed"], ascending=[False, True], ignore_index=True)


RESOLUTION_METRICS = {"auc": "AUC", "accuracy": "accuracy (0.5)",
                      "accuracy" + VAL_SUFFIX: "accuracy (validation threshold)"}


def resolution_ablation(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The resolution ablation (:func:`covidnb.chapters.dsn_saal.resolution_grid`) from a runs
    frame: one row per input size of the baseline (VGG-16-BN, CE, whole training set) — the
    profile's own size and each ablation size — with each metric's mean ± std over seeds, and,
    for an ablation size, the difference to the profile-size run of the same seed (paired, so
    the split and the initial draw are shared). AUC first: it needs no threshold. Empty when the
    frame holds no ablation run."""
    from covidnb.chapters.views.tables import mean_std_cell

    base = frame[(frame["model"] == "vgg16_bn") & (frame["loss"] == "ce") & (frame["keep_covid"] == 1.0)]
    if base.empty or base["ablation"].isna().all():
        return pd.DataFrame()
    at_profile = base[base["ablation"].isna()].set_index("seed")
    rows = []
    for px, g in sorted(base.groupby("input_px"), key=lambda kv: -kv[0]):
        row = {"input px": int(px), "runs": len(g)}
        for col, name in RESOLUTION_METRICS.items():
            row[name] = mean_std_cell(g[col].to_numpy(float), digits=digits)
        if g["ablation"].notna().all():
            paired = g.set_index("seed")[list(RESOLUTION_METRICS)].sub(at_profile[list(RESOLUTION_METRICS)]).dropna(how="all")
            for col, name in RESOLUTION_METRICS.items():
                row[f"Δ {name}"] = mean_std_cell(paired[col].to_numpy(float), digits=digits)
            row["paired seeds"] = len(paired)
        rows.append(row)
    return pd.DataFrame(rows, dtype=object).fillna("")
