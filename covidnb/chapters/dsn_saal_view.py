"""What the ``dsn_saal`` chapter's notebooks show: runs as tables in the paper's shape (Tables
3–6 and 8), SAAL's α/β trajectories, confusion matrices per imbalance ratio, ROC curves, the §3.1
preprocessing steps, DSN side-output shapes, Grad-CAM pairs and reported-vs-re-run comparisons.

Hu et al. (2021) report COVID19-Diag (three classes, by request, not here) in Tables 3–6 and
COVID19-CT (= COVID-CT, here) in Table 8. Every table built here carries :func:`caption`, which
names the substitution and the profile. The helpers arrange what the library computes; every
hyper-parameter lives in ``nbs/dsn_saal/profiles.yaml`` and :mod:`covidnb.chapters.dsn_saal`.

The run-store helpers (:func:`resolve_store`, :func:`collect_runs`, :func:`stored_run`,
:func:`synthetic_banner`) are the generic ones of :mod:`covidnb.chapters.view`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidnb.chapters.dsn_saal import CHAPTER, DSN_SAAL, TABLE6_NAMES, describe, settings
from covidnb.chapters.view import (  # generic run-store helpers, shared not copied
    collect_runs,
    is_reference,
    resolve_store,
    stored_run,
    synthetic_banner,
)
from covidnb.paths import chapter_dir

__all__ = [
    "METRICS",
    "NOT_COMPARABLE",
    "SUBSTITUTION",
    "cam_pair",
    "cam_pairs_with_cams",
    "caption",
    "claims",
    "claims_wide",
    "collect_runs",
    "compare_all",
    "comparison_wide",
    "confusion_by_ratio",
    "draw_cam_rows",
    "finished_runs",
    "is_reference",
    "model_counts",
    "preprocess_figure",
    "profile_vs_paper",
    "resolve_store",
    "results_table",
    "roc_by_model",
    "run_with_checkpoint",
    "runs_frame",
    "saal_gradient_signs",
    "saal_trajectories",
    "sensitivity_change",
    "setup",
    "side_output_shapes",
    "stored_cam_pair",
    "stored_run",
    "subsample_counts",
    "synthetic_banner",
]

# The paper's column names (§4.2) → covidnb.metrics names (binary: CT_COVID is positive).
METRICS = {"ACC": "accuracy", "F1-score": "f1", "G-mean": "g_mean", "AUC": "auc",
           "SEN": "sensitivity", "SPE": "specificity", "PRE": "precision"}
SUBSTITUTION = ("COVID-CT (the paper's COVID19-CT, official split, 2 classes) in place of the "
                "authors' COVID19-Diag (3 classes, by request)")
NOT_COMPARABLE = "smoke profile — not comparable"


# -- session ------------------------------------------------------------------------------------
def setup(profile: str) -> dict[str, Any]:
    """Display options; one torch thread for ``smoke`` (on a busy 2-core machine a second
    intra-op thread made a smoke VGG run 3–4× slower, measured); returns the profile."""
    import torch

    pd.set_option("display.max_colwidth", 100)
    pd.set_option("display.width", 160)
    if profile == "smoke":
        torch.set_num_threads(1)
        os.environ["COVIDNB_PROGRESS"] = "0"
    return settings(profile)


def finished_runs(profile: str, store: Any = "runs", reference: Any = "results") -> list:
    """Every finished ``dsn_saal`` run of ``profile``: the reference store's first, then the
    ones of ``store`` not already there (same key)."""
    out, seen = [], set()
    for s in ([reference] if reference is not None else []) + [store]:
        st = resolve_store(s)
        for run in st.runs(status="done", chapter=CHAPTER, profile=profile):
            if run.key not in seen:
                seen.add(run.key)
                out.append(run)
    return out


def run_with_checkpoint(config: dict, store: Any = "runs"):
    """The run of ``config`` with its ``best.pt`` (for Grad-CAM): reused when ``store`` holds it
    with checkpoints, re-trained there otherwise (never into the reference store)."""
    from covidnb.experiment import run_experiment

    if is_reference(store):
        raise ValueError("checkpoints are never written to the reference store; use store='runs'")
    st = resolve_store(store)
    run = stored_run(config, st)
    force = run is not None and not (run.checkpoint_dir / "best.pt").exists()
    return run_experiment(config, store=st, force=force, keep_checkpoints=True)


# -- tables -------------------------------------------------------------------------------------
def _weights_text(cfg: dict) -> str:
    if cfg.get("model_kwargs", {}).get("pretrained"):
        return "ImageNet requested (from scratch where torchvision could not load it)"
    return "random initialisation (no ImageNet weights)"


def runs_frame(runs: Sequence) -> pd.DataFrame:
    """One row per run: what it re-runs (:func:`~covidnb.chapters.dsn_saal.describe`), the
    settings a reader compares with the paper, and the test metrics (fractions)."""
    rows = []
    for run in runs:
        if run is None:
            continue
        c, m = run.config, run.metrics
        t = c.get("train", {})
        prov = run.provenance.get("datasets", {})
        n = {k: v.get("n") for k, v in prov.items()}
        row = {"key": run.key[:12], **describe(c), "seed": c["seed"], "profile": c.get("profile"),
               "synthetic": run.synthetic,
               "dataset": f"{c['dataset']} (substitute for COVID19-Diag)",
               "split": f"official split files (train {n.get('train')}"
                        + (" after subsampling" if c.get("subsample") else "")
                        + f", val {n.get('val')}, test {n.get('test')})",
               "weights": _weights_text(c), "image_size": c["image_size"],
               "epochs": t.get("epochs"), "optimizer": t.get("optimizer"), "lr": t.get("lr"),
               "batch_size": t.get("batch_size"), "augmentation": c.get("augment") or "none",
               "train_counts": (prov.get("train") or {}).get("class_counts")}
        for name in ("accuracy", "precision", "sensitivity", "specificity", "f1", "g_mean", "auc",
                     "tp", "fp", "tn", "fn", "n"):
            row[name] = m.get(name, math.nan)
        tr = m.get("training", {})
        row["best_epoch"], row["seconds"] = tr.get("best_epoch"), tr.get("seconds")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["repeats"] = frame.groupby(["model", "loss", "keep_covid"])["seed"].transform("nunique")
    return frame


def caption(frame: pd.DataFrame | None, profile: str) -> str:
    """The line every results table carries: data substitution, profile, repeats, size, weights."""
    parts = [f"**Data:** {SUBSTITUTION}.", f"**Profile:** `{profile}`"]
    if frame is not None and len(frame):
        seeds = sorted(int(s) for s in frame["seed"].unique())
        parts[-1] += (f" — {len(seeds)} seed(s) {seeds}, {int(frame['image_size'].iloc[0])} px, "
                      f"{int(frame['epochs'].iloc[0])} epoch(s), {frame['weights'].iloc[0]}.")
        if frame["synthetic"].any():
            parts.append("**SYNTHETIC phantom data: the numbers below mean nothing about COVID-CT.**")
    if profile == "smoke":
        parts.append("*Smoke profile: a few optimiser steps to prove the pipeline runs — the numbers "
                     "are not results.*")
    return "  \n".join(parts)


def results_table(frame: pd.DataFrame, by: str | Sequence[str],
                  columns: Sequence[str] = ("ACC", "F1-score", "G-mean", "AUC", "SEN", "SPE"),
                  digits: int = 3, order: Sequence | None = None) -> pd.DataFrame:
    """Mean ± std over the runs (seeds) of each group, in the paper's column names; COVID-19 is
    the positive class of F1, G-mean, SEN, SPE (Table 6's COVID-vs-rest reading). ``order``
    lists the first grouping column's values in the order to show them (e.g. the paper's rows)."""
    from covidnb.metrics import format_mean_std, mean_std

    by = [by] if isinstance(by, str) else list(by)
    if frame.empty:
        return pd.DataFrame(columns=by + list(columns) + ["runs"])
    stats = mean_std(frame, by, [METRICS[c] for c in columns])
    out = stats[by].copy()
    for col in columns:
        m = METRICS[col]
        out[col] = [format_mean_std(a, s, digits) for a, s in
                    zip(stats[f"{m}_mean"], stats[f"{m}_std"])]
    out["runs"] = stats["n"]
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        out = out.sort_values(by[0], key=lambda s: s.map(lambda v: rank.get(v, len(rank))), kind="stable")
    return out.set_index(by)


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


def profile_vs_paper(profile: str) -> pd.DataFrame:
    """Each setting of ``profile`` beside the ``paper`` profile, where the paper states it and the
    note on the choice; ``differs`` marks the departures."""
    import yaml

    from covidnb.profiles import profile_table

    table = profile_table(CHAPTER)
    ref = yaml.safe_load((chapter_dir(CHAPTER) / "profiles.yaml").read_text()).get("paper_reference", {})
    out = pd.DataFrame({profile: table[profile].astype(str), "paper profile": table["paper"].astype(str),
                        "where the paper says it": [ref.get(k, "—") for k in table.index],
                        "note": table["note"]}, index=table.index)
    out.insert(2, "differs", out[profile] != out["paper profile"])
    return out


# -- figures ------------------------------------------------------------------------------------
def saal_trajectories(runs: Sequence, figsize=(13, 3.4)):
    """σ(α), σ(β_i) and the class weights w_n per epoch (the ``loss.*`` columns of each SAAL
    run's history): one line per run and quantity."""
    import matplotlib.pyplot as plt

    saal = [r for r in runs if r is not None and r.config["loss"] == "saal"]
    if not saal:
        raise ValueError("saal_trajectories: no SAAL run among the runs")
    fig, axes = plt.subplots(1, 3, figsize=figsize)
    for run in saal:
        h = run.history
        if "loss.alpha" not in h:
            continue
        d = describe(run.config)
        tag = f"{d['network']} s{run.config['seed']}"
        axes[0].plot(h["epoch"], h["loss.alpha"], marker="o", ms=3, label=tag)
        for col in sorted(c for c in h.columns if c.startswith("loss.beta_")):
            axes[1].plot(h["epoch"], h[col], marker="o", ms=3,
                         label=f"{tag} {col.removeprefix('loss.beta_')}")
        for col in sorted(c for c in h.columns if c.startswith("loss.w_")):
            k = int(col.removeprefix("loss.w_"))
            names = run.metrics.get("classes") or []
            axes[2].plot(h["epoch"], h[col], marker="o", ms=3,
                         label=f"{tag} w({names[k] if k < len(names) else k})")
    axes[0].set(title="σ(α): effective-number factor", xlabel="epoch")
    axes[1].set(title="σ(β_i): reverse-CE weight per output", xlabel="epoch")
    axes[2].set(title="class weights w_n = (1−α)/(1−α^k_n)", xlabel="epoch", yscale="log")
    for ax in axes:
        ax.legend(fontsize=6, ncol=1 if ax is not axes[1] else 2)
    fig.tight_layout()
    return fig


def _predicted(pred: pd.DataFrame, positive: str, threshold: float = 0.5) -> np.ndarray:
    return (pred[f"p_{positive}"].to_numpy(float) >= threshold).astype(int)


def confusion_by_ratio(runs: Sequence, positive: str = "CT_COVID"):
    """Fig. 5's shape: one confusion matrix per (method, kept COVID-19 fraction), counts summed
    over seeds, threshold 0.5; rows baseline / DSN-SAAL, columns the ratios."""
    import matplotlib.pyplot as plt

    from covidnb.plots import confusion_matrix_plot

    groups: dict[tuple[str, float], list[pd.DataFrame]] = {}
    classes = None
    for r in runs:
        d = describe(r.config)
        if d["table6_method"] is None:
            continue
        classes = classes or r.metrics.get("classes")
        groups.setdefault((d["table6_method"], d["keep_covid"]), []).append(r.predictions)
    if not groups:
        raise ValueError("confusion_by_ratio: no baseline or DSN-SAAL run")
    methods = [m for m in ("Base.", "D.S.") if any(k[0] == m for k in groups)]
    ratios = sorted({k[1] for k in groups}, reverse=True)
    fig, axes = plt.subplots(len(methods), len(ratios), figsize=(2.9 * len(ratios), 2.9 * len(methods)),
                             squeeze=False)
    for i, m in enumerate(methods):
        for j, r in enumerate(ratios):
            ax = axes[i][j]
            if (m, r) not in groups:
                ax.axis("off")
                continue
            pred = pd.concat(groups[(m, r)], ignore_index=True)
            name = "Baseline" if m == "Base." else "DSN-SAAL"
            confusion_matrix_plot(pred["label"], _predicted(pred, positive), ["non-COVID", "COVID"],
                                  ax=ax, title=f"{name}\n{r:.0%} of COVID-19 ({len(groups[(m, r)])} run(s))")
    fig.tight_layout()
    return fig


def roc_by_model(runs: Sequence, seed: int | None = None, positive: str = "CT_COVID", ax=None):
    """Fig. 4's shape: ROC curves on the test split, one per (network, loss) at full data, one seed."""
    from covidnb.plots import roc_curves

    full = [r for r in runs if describe(r.config)["keep_covid"] == 1.0]
    seeds = sorted({r.config["seed"] for r in full})
    if not seeds:
        raise ValueError("roc_by_model: no run on the full training set")
    seed = seeds[0] if seed is None else seed
    curves = {}
    for r in full:
        if r.config["seed"] == seed:
            d = describe(r.config)
            curves[f"{d['network']} + {d['Loss']}"] = r.predictions
    return roc_curves(curves, positive=positive, ax=ax,
                      title=f"ROC, COVID-CT test split (seed {seed})")


def preprocess_figure(steps: Mapping[str, np.ndarray], keys: Sequence[str] | None = None,
                      title: str | None = None, size: float = 2.2):
    """The §3.1 steps side by side (images in [0, 255], masks as black/white)."""
    import matplotlib.pyplot as plt

    keys = list(keys or steps)
    fig, axes = plt.subplots(1, len(keys), figsize=(size * len(keys), size + 0.4), squeeze=False)
    for ax, k in zip(axes[0], keys):
        img = steps[k]
        if img.dtype == bool:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img, cmap="gray", vmin=float(np.min(img)) if k == "input" else 0,
                      vmax=float(np.max(img)) if k == "input" else 255)
        ax.set_title(k.replace("_", " "), fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
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
    return draw_cam_rows(results, image_weight)


def stored_cam_pair(runs: Mapping[str, Any], image_weight: float = 0.5):
    """:func:`cam_pair` drawn from the CAMs stored with the runs (``cams.npz``, written by the
    reference runner while the checkpoint existed): no checkpoint, no model, no data needed."""
    from covidnb.cam import run_cams

    results = {}
    for name, run in runs.items():
        stored = run_cams(run)
        if stored is None:
            raise FileNotFoundError(f"{run.path}: run {run.key[:12]} ({name}) has no stored CAMs")
        results[name] = stored[0]
    ids = {name: [r.sample_id for r in rs] for name, rs in results.items()}
    if len({tuple(v) for v in ids.values()}) > 1:
        raise ValueError(f"stored_cam_pair: the runs' CAMs are of different slices: {ids}")
    return draw_cam_rows(results, image_weight)


def cam_pairs_with_cams(runs: Sequence) -> pd.DataFrame:
    """The (kept COVID-19 fraction, seed) pairs whose baseline and DSN-SAAL runs both have
    stored CAMs, with the two runs: the galleries :func:`stored_cam_pair` can draw."""
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


def draw_cam_rows(results: Mapping[str, Sequence], image_weight: float = 0.5):
    """One row per slice: the slice, then each model's CAM over it (``results``: name → the
    :class:`~covidnb.cam.CamResult` list of each model, all of the same slices)."""
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    names = list(results)
    n = len(results[names[0]])
    fig, axes = plt.subplots(n, 1 + len(names), figsize=(2.6 * (1 + len(names)), 2.7 * n),
                             squeeze=False)
    for i in range(n):
        first = results[names[0]][i]
        axes[i][0].imshow(first.image)
        axes[i][0].set_title(f"{os.path.basename(first.sample_id)[:24]}\nlabel: {first.label}", fontsize=7)
        for j, name in enumerate(names, start=1):
            r = results[name][i]
            axes[i][j].imshow(show_cam_on_image(r.image, r.cam, use_rgb=True, image_weight=image_weight))
            axes[i][j].set_title(f"{name}\npred {r.prediction} ({r.probability:.2f}); CAM of {r.target}",
                                 fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.results = dict(results)
    fig.tight_layout()
    return fig


# -- reported vs re-run -------------------------------------------------------------------------
def _mark_profile(result: pd.DataFrame, profile: str) -> pd.DataFrame:
    if profile == "smoke" and len(result):
        result = result.copy()
        has = result["n_runs"] > 0
        result.loc[has, "comparable"] = False
        result.loc[has, "difference"] = math.nan
        result.loc[has, "note"] = NOT_COMPARABLE
    return result


def compare_all(frame: pd.DataFrame, profile: str) -> dict[str, pd.DataFrame]:
    """Every table the chapter re-runs beside the paper's, through :func:`covidnb.report.compare`
    (which refuses synthetic runs): Tables 3, 4, 5, 6 (baseline and DSN-SAAL) and 8. Smoke runs
    are shown with the note "smoke profile — not comparable" and no difference."""
    from covidnb import report

    out: dict[str, pd.DataFrame] = {}
    if frame.empty:
        return out
    three = {c: METRICS[c] for c in ("ACC", "F1-score", "G-mean")}

    def rt(table_id: str) -> pd.DataFrame:
        return report.reported_table(CHAPTER, table_id)

    paper = dict(report.load_chapter(CHAPTER).spec.paper_settings)

    def run(name, reported, rows, on, metrics, settings=paper):
        rows = rows.dropna(subset=[on[1]])
        res = report.compare(reported, rows, on={on[0]: on[1]}, metrics=metrics,
                             paper_settings=settings)
        out[name] = _mark_profile(res, profile)

    run("Table 3", rt("3"), frame, ("Model", "table3"), three)
    t4 = rt("4")
    t4.insert(0, "row", t4["Model"] + " | " + t4["Method"])
    run("Table 4", t4, frame, ("row", "table4"), three)
    run("Table 5", rt("5"), frame, ("Method", "table5"), three)
    six = ("ACC", "F1-score", "G-mean", "SEN", "SPE")
    for m, label in (("Base.", "Table 6 (baseline)"), ("D.S.", "Table 6 (DSN-SAAL)")):
        rows = frame[frame["table6_method"] == m]
        run(label, rt("6"), rows, ("Imbalanced", "table6"), {f"{c} {m}": METRICS[c] for c in six})
    # Table 8 is COVID19-CT itself: its settings differ from the COVID19-Diag tables' ones
    table8 = {**paper, "dataset": "covid-ct (COVID19-CT, official split)",
              "split": "official split files (train 425, val 118, test 203)", "repeats": 1}
    run("Table 8", rt("8"), frame, ("Method", "table3"),
        {c: METRICS[c] for c in ("ACC", "F1-score", "AUC")}, table8)
    return out


def _claim_pairs(frame: pd.DataFrame, results: Mapping[str, pd.DataFrame]):
    """(table, claim, result of A, key of A, rows of A, result of B, key of B, rows of B, metric
    suffixes): each comparison the paper's tables make, A against its reference B."""
    from covidnb.chapters.dsn_saal import TABLE4_NAMES, TABLE5_NAMES

    def rows(col, value):
        return frame[frame[col] == value] if col in frame else frame.iloc[0:0]

    t6b, t6d = results.get("Table 6 (baseline)"), results.get("Table 6 (DSN-SAAL)")
    for label in TABLE6_NAMES.values():
        yield ("Table 6", f"DSN-SAAL − baseline, {label}",
               t6d, label, rows("table6", label).query("table6_method == 'D.S.'"), " D.S.",
               t6b, label, rows("table6", label).query("table6_method == 'Base.'"), " Base.")
    t5, ce = results.get("Table 5"), TABLE5_NAMES["ce"]
    for loss, label in TABLE5_NAMES.items():
        if loss != "ce":
            yield ("Table 5", f"{label} − CE (VGG-16-BN)", t5, label, rows("table5", label), "",
                   t5, ce, rows("table5", ce), "")
    t4 = results.get("Table 4")
    for name in TABLE4_NAMES.values():
        a, b = f"{name} | DSN", f"{name} | Baseline"
        yield ("Table 4", f"DSN − baseline, {name} (CE)", t4, a, rows("table4", a), "",
               t4, b, rows("table4", b), "")
    t8 = results.get("Table 8")
    for other in ("VGG-16 [29]", "ResNet-50 [34]", "DenseNet-169 [35]"):
        yield ("Table 8", f"DSN-SAAL − {other.split(' [')[0]} (paper: quoted row)",
               t8, DSN_SAAL, rows("table3", DSN_SAAL), "",
               t8, other, rows("table3", other), "")


def claims(frame: pd.DataFrame, results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's comparisons checked on the re-run: for each method against its reference
    (DSN-SAAL against the baseline at each ratio of Table 6; each loss against CE in Table 5;
    DSN against the plain backbone in Table 4; DSN-SAAL against Table 8's baselines) and each
    metric, the paper's difference of means, the re-run's difference paired by seed (mean ± std
    over the seeds both have) and whether the two have the same sign. ``results`` is
    :func:`compare_all`'s output for the same ``frame``. Table 8's baseline rows were quoted by
    Hu et al. from other papers, so its paper difference mixes protocols."""
    out = []
    for table, claim, ra, ka, fa, sa, rb, kb, fb, sb in _claim_pairs(frame, results):
        if ra is None or rb is None or fa.empty or fb.empty:
            continue
        key_a, key_b = ra.columns[0], rb.columns[0]
        for _, pa in ra[ra[key_a] == ka].iterrows():
            metric = pa["metric"].removesuffix(sa)
            pb = rb[(rb[key_b] == kb) & (rb["metric"] == metric + sb)]
            if pb.empty or metric not in METRICS:
                continue
            col = METRICS[metric]
            paired = (fa.groupby("seed")[col].mean() - fb.groupby("seed")[col].mean()).dropna()
            if paired.empty:
                continue
            paper = float(pa["printed"] - pb["printed"].iloc[0])
            mean = float(paired.mean())
            out.append({"table": table, "claim": claim, "metric": metric, "paper Δ": paper,
                        "re-run Δ": mean,
                        "re-run Δ std": float(paired.std(ddof=1)) if len(paired) > 1 else math.nan,
                        "seeds": len(paired),
                        "same sign": (bool(np.sign(paper) == np.sign(mean))
                                      if paper != 0 and mean != 0 else None)})
    return pd.DataFrame(out, columns=["table", "claim", "metric", "paper Δ", "re-run Δ",
                                      "re-run Δ std", "seeds", "same sign"])


def claims_wide(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`claims` as one row per comparison and one column per metric, each cell
    ``paper Δ | re-run Δ ± std (n) ✓/✗`` (✓: the re-run's difference has the paper's sign)."""
    def cell(r):
        sd = "" if math.isnan(r["re-run Δ std"]) else f" ± {r['re-run Δ std']:.{digits}f}"
        mark = {True: "✓", False: "✗"}.get(r["same sign"], "·")
        return (f"{r['paper Δ']:+.{digits}f} | {r['re-run Δ']:+.{digits}f}{sd} "
                f"(n={r['seeds']}) {mark}")
    if table.empty:
        return pd.DataFrame()
    t = table.assign(cell=table.apply(cell, axis=1))
    wide = t.pivot_table(index=["table", "claim"], columns="metric", values="cell", aggfunc="first",
                         sort=False)
    order = [m for m in METRICS if m in wide.columns]
    return wide[order].fillna("")


def comparison_wide(result: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A long :func:`covidnb.report.compare` result as one row per reported row: for each metric
    the paper's value, the re-run mean ± std (n) and the difference."""
    key = result.columns[0]
    cells: dict[str, dict] = {}
    for _, r in result.iterrows():
        paper = "" if math.isnan(r["printed"]) else f"{r['printed']:.{digits}f}" + (
            "" if math.isnan(r["printed_sd"]) else f" ± {r['printed_sd']:.{digits}f}")
        rerun = "—" if r["n_runs"] == 0 else f"{r['rerun_mean']:.{digits}f}" + (
            "" if math.isnan(r["rerun_std"]) else f" ± {r['rerun_std']:.{digits}f}") + f" (n={r['n_runs']})"
        diff = "" if math.isnan(r["difference"]) else f"{r['difference']:+.{digits}f}"
        row = cells.setdefault(r[key], {})
        row[(r["metric"], "paper")] = paper
        row[(r["metric"], "re-run")] = rerun
        row[(r["metric"], "Δ")] = diff
        row[("", "note")] = r["note"] or row.get(("", "note"), "")
    wide = pd.DataFrame.from_dict(cells, orient="index")
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    wide.index.name = key
    return wide

