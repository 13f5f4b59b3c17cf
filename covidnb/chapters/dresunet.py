"""Chapter ``dresunet`` (Xu 2021, BSc thesis): profile → experiment configuration, results table.

The thesis trains each model once (Table 5.1); the ``cpu`` profile repeats three seeds. Every
setting comes from ``nbs/dresunet/profiles.yaml``; nothing here chooses a hyper-parameter.
"""

from __future__ import annotations

from typing import Any

from covidnb.profiles import load_profile

CHAPTER = "dresunet"
CLASSES = ("CT_NonCOVID", "CT_COVID")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "scheduler_kwargs",
              "mixup_alpha", "cutmix_alpha", "max_steps_per_epoch")


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def experiment_config(profile: str | dict, model: str, seed: int, **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one model and seed under a profile.

    ``overrides`` replace profile settings (e.g. ``mixup_alpha=0.0`` for the ablation).
    """
    p = settings(profile)
    p.update(overrides)
    frac = float(p.get("subsample") or 1.0)
    return {
        "chapter": CHAPTER,
        "profile": p["profile"],
        "dataset": p["dataset"],
        "image_size": int(p["image_size"]),
        "channels": int(p["channels"]),
        "subsample": None if frac >= 1.0 else {c: frac for c in CLASSES},
        "model": model,
        "model_kwargs": {"num_classes": int(p["num_classes"]), "width": int(p["width"])},
        "loss": p["loss"],
        "augment": p.get("augment"),
        "seed": int(seed),
        "train": {k: p[k] for k in TRAIN_KEYS if k in p},
    }


def grid(profile: str | dict, models: list[str] | None = None, seeds: list[int] | None = None,
         **overrides: Any) -> list[dict[str, Any]]:
    """Every (seed, model) configuration of a profile, seeds outermost so that a partial
    re-run covers every model once before repeating any."""
    p = settings(profile)
    models = models or list(p["models"])
    seeds = seeds if seeds is not None else list(p["seeds"])
    return [experiment_config(p, m, s, **overrides) for s in seeds for m in models]
