"""Chapter ``dual_sampling`` (Ouyang et al. 2020, IEEE TMI 39(8)): profile → experiment
configuration, and the chapter's declaration (:data:`SPEC`).

The paper trains three networks per cross-validation fold — RN34 with uniform sampling (US),
Attention RN34 with US, Attention RN34 with size-balanced sampling (SS) — and combines the last
two into the dual-sampling (DS) model (Eq. 5), which is not trained: its predictions come from
the other two runs (:mod:`covidnb.chapters.dual_sampling_tables`). The data are the chapter's
labelled 3-D phantoms (:mod:`covidnb.data.phantoms_3d`); every setting comes from
``nbs/dual_sampling/profiles.yaml``.
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters import base_config
from covidnb.chapters.contract import Chapter
from covidnb.profiles import load_profile

CHAPTER = "dual_sampling"
CLASSES = ("CAP", "COVID-19")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler",
              "scheduler_kwargs", "max_steps_per_epoch", "select")

# variant → (registered model, sampling); the paper's row labels (Table II)
VARIANTS: dict[str, tuple[str, str]] = {
    "rn34_us": ("rn34_3d", "uniform"),
    "att_rn34_us": ("attention_rn34_3d", "uniform"),
    "att_rn34_ss": ("attention_rn34_3d", "size_balanced"),
}
TABLE_NAMES = {
    "rn34_us": "RN34 + US",
    "att_rn34_us": "Attention RN34 + US",
    "att_rn34_ss": "Attention RN34 + SS",
    "att_rn34_ds": "Attention RN34 + DS",
}
# Table II / III rows → covidnb.metrics names (the paper's F1 matches the macro F1, see 04)
TABLE_METRICS = {"AUC": "auc", "Accuracy": "accuracy", "Sensitivity": "sensitivity",
                 "Specificity": "specificity", "F1-score": "f1"}
SUBSTITUTION = ("labelled 3-D phantoms (covidnb.data.phantoms_3d) in place of the paper's private "
                "multi-centre CT: no phantom number is comparable with the paper's")


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def experiment_config(profile: str | dict, variant: str, fold: int, seed: int = 0,
                      **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one variant (``rn34_us``, ``att_rn34_us``,
    ``att_rn34_ss``) on one cross-validation fold. ``overrides`` replace profile settings."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant {variant!r}; known: {list(VARIANTS)} (DS is the "
                       "ensemble of att_rn34_us and att_rn34_ss, not a trained run)")
    p = settings(profile)
    p.update(overrides)
    model, sampling = VARIANTS[variant]
    if not 0 <= int(fold) < int(p["n_folds"]):
        raise ValueError(f"fold {fold} is not one of 0…{int(p['n_folds']) - 1}")
    model_kwargs = {"num_classes": 1, "width": float(p["width"])}
    if model == "attention_rn34_3d":
        model_kwargs.update(alpha=float(p["alpha"]), beta=float(p["beta"]))
    return base_config(
        CHAPTER, p, model, seed,
        TRAIN_KEYS,
        dataset_kwargs={
            "phantom": p["phantom"], "volume_size": [int(v) for v in p["volume_size"]],
            "n_folds": int(p["n_folds"]), "fold": int(fold), "tv_n": int(p["tv_n"]),
            "synthetic_n": int(p["test_n"]), "sampling": sampling,
        },
        data_seed=int(p["data_seed"]),
        model_kwargs=model_kwargs,
        loss=p["loss"],
        loss_kwargs={"lam": float(p["lam"]), "positive": CLASSES.index("COVID-19")},
    )


def grid(profile: str | dict, variants: list[str] | None = None, folds: list[int] | None = None,
         seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Every (seed, fold, variant) configuration, folds outermost after seeds, so a partial run
    has all three variants of a fold (and hence DS) before the next fold."""
    p = settings(profile)
    variants = list(variants or p["models"])
    folds = list(p["folds"] if folds is None else folds)
    seeds = list(p["seeds"] if seeds is None else seeds)
    return [experiment_config(p, v, f, s, **overrides) for s in seeds for f in folds for v in variants]


def variant_of(config: dict) -> str:
    model = config["model"]
    sampling = (config.get("dataset_kwargs") or {}).get("sampling", "uniform")
    for name, (m, smp) in VARIANTS.items():
        if m == model and smp == sampling:
            return name
    return model


def describe(config: dict) -> dict[str, Any]:
    """A run's labels in Table II: the variant and its row name, the fold, the sampling."""
    kw = config.get("dataset_kwargs") or {}
    variant = variant_of(config)
    return {"model": config["model"], "variant": variant,
            "Model": TABLE_NAMES.get(variant, variant), "fold": kw.get("fold"),
            "sampling": kw.get("sampling"), "width": (config.get("model_kwargs") or {}).get("width")}


SPEC = Chapter(
    slug=CHAPTER,
    title="Ouyang et al. 2020, IEEE TMI: 3-D CT, online attention, dual sampling",
    classes=CLASSES,
    positive="COVID-19",  # sensitivity is COVID-19's (§IV-C)
    model_names={"rn34_3d": "RN34", "attention_rn34_3d": "Attention RN34"},
    loss_names={"bce_attention": "BCE + λ L_ex"},
    metrics=TABLE_METRICS,
    units={k: "fraction" for k in TABLE_METRICS},
    digits={"fraction": 3},
    substitution=SUBSTITUTION,
    dataset_label="{dataset} (synthetic phantoms)",
    experiment_config=experiment_config,
    grids={"all": grid},
    # 06 draws attention maps and Grad-CAMs from fold 0's three networks (about 1 MB each at cpu)
    reference_weights=lambda cfg: cfg["dataset_kwargs"]["fold"] == 0,
    describe=describe,
    row_orders={"Model": tuple(TABLE_NAMES.values())},
)
