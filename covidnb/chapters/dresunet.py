"""Chapter ``dresunet`` (Xu 2021, BSc thesis): profile → experiment configuration, and the
chapter's declaration (:data:`SPEC`, :class:`~covidnb.chapters.contract.Chapter`).

The thesis trains each model once (Table 5.1); the ``cpu`` profile repeats three seeds. Every
setting comes from ``nbs/dresunet/profiles.yaml``; nothing here chooses a hyper-parameter.
This is the smallest chapter: ``book/add_a_chapter.md`` walks through it.
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters import base_config
from covidnb.chapters.contract import Chapter, Comparison
from covidnb.profiles import load_profile

CHAPTER = "dresunet"
CLASSES = ("CT_NonCOVID", "CT_COVID")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "scheduler_kwargs",
              "mixup_alpha", "cutmix_alpha", "max_steps_per_epoch", "select")


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def experiment_config(profile: str | dict, model: str, seed: int, **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one model and seed under a profile.

    ``overrides`` replace profile settings (e.g. ``mixup_alpha=0.0`` for the ablation).
    """
    p = settings(profile)
    p.update(overrides)
    frac = float(p.get("subsample") or 1.0)
    return base_config(
        CHAPTER, p, model, seed, TRAIN_KEYS,
        subsample=None if frac >= 1.0 else {c: frac for c in CLASSES},
        model_kwargs=_model_kwargs(p),
        loss=p["loss"],
    )


def _model_kwargs(p: dict) -> dict[str, Any]:
    kw: dict[str, Any] = {"num_classes": int(p["num_classes"]), "width": int(p["width"])}
    if p.get("input_norm"):  # only when set, so the keys of runs without it are unchanged
        kw["input_norm"] = p["input_norm"]
    return kw


def grid(profile: str | dict, models: list[str] | None = None, seeds: list[int] | None = None,
         **overrides: Any) -> list[dict[str, Any]]:
    """Every (seed, model) configuration of a profile, seeds outermost so that a partial
    re-run covers every model once before repeating any."""
    p = settings(profile)
    models = models or list(p["models"])
    seeds = seeds if seeds is not None else list(p["seeds"])
    return [experiment_config(p, m, s, **overrides) for s in seeds for m in models]


# Table 5.1's row names for the registry names, in the thesis' order (simplest model first).
TABLE_NAMES = {
    "simplecnn": "SimpleCNN",
    "vgg_small": "VGG",
    "unet": "UNet",
    "resunet": "ResUNet",
    "resunet_ecsa": "ResUNet_ECSA",
    "resunet_fprm": "ResUNet_FPRM",
    "dresunet": "DResUNet",
}
# Table 5.1's columns → metric names of covidnb.metrics (the thesis' "Recall" is sensitivity).
TABLE_METRICS = {
    "Accuracy %": "accuracy",
    "Precision %": "precision",
    "AUC %": "auc",
    "Recall %": "sensitivity",
    "F1-score": "f1",
}
TABLE_UNITS = {c: ("fraction" if c == "F1-score" else "%") for c in TABLE_METRICS}

# The mixing ablation (thesis §3.2; CutMix only as background in §2.4.2): label → overrides of
# the profile. Each entry sets mixing explicitly, so a variant means the same whatever the
# profile's own mixup (cpu runs without; the paper profile with α = 1.0, the thesis' code).
ABLATIONS: dict[str, dict[str, float]] = {
    "mixup α=1.0 (thesis code)": {"mixup_alpha": 1.0, "cutmix_alpha": 0.0},
    "no mixup": {"mixup_alpha": 0.0, "cutmix_alpha": 0.0},
    "mixup α=0.4 (thesis docstring)": {"mixup_alpha": 0.4, "cutmix_alpha": 0.0},
    "CutMix α=1.0 (extension)": {"mixup_alpha": 0.0, "cutmix_alpha": 1.0},
}
ABLATION_MODELS = ("dresunet", "simplecnn")


def ablation_grid(profile: str | dict, models: list[str] | None = None,
                  seeds: list[int] | None = None, variants: list[str] | None = None,
                  **overrides: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(variant label, configuration)`` pairs of the mixing ablation, seeds outermost.

    The variant whose mixing equals the profile's (``no mixup`` at ``cpu``) keys to the same runs
    as :func:`grid` (shared with the training notebook and the reference re-run).
    """
    p = settings(profile)
    models = list(models or ABLATION_MODELS)
    seeds = seeds if seeds is not None else list(p["seeds"])
    variants = list(variants or ABLATIONS)
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown:
        raise KeyError(f"unknown ablation variant(s) {unknown}; known: {list(ABLATIONS)}")
    return [(v, experiment_config(p, m, s, **{**overrides, **ABLATIONS[v]}))
            for s in seeds for m in models for v in variants]


def describe(config: dict) -> dict[str, Any]:
    """What a configuration stands for in Table 5.1: the model and its row label, and the width."""
    model = config["model"]
    return {"model": model, "Model": TABLE_NAMES.get(model, model),
            "width": (config.get("model_kwargs") or {}).get("width")}


SPEC = Chapter(
    slug=CHAPTER,
    title="Xu 2021 (BSc thesis): seven models on COVID-CT",
    classes=CLASSES,
    positive="CT_COVID",  # label 1: Table 5.1's precision and recall are COVID's
    model_names=TABLE_NAMES,
    metrics=TABLE_METRICS,
    units=TABLE_UNITS,
    digits={"%": 2, "fraction": 4},  # as Table 5.1 prints them
    substitution="COVID-CT official split files (the thesis does not name the split behind Table 5.1)",
    experiment_config=experiment_config,
    grids={"all": grid, "ablation": ablation_grid},
    describe=describe,
    comparisons=(Comparison("Table 5.1", "5.1", on=("Model", "Model"), metrics=TABLE_METRICS,
                            unit=TABLE_UNITS),),
    row_orders={"Model": tuple(TABLE_NAMES.values())},
)
