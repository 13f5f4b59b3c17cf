"""Chapter ``pepx_resnet`` (Zhang & Zhang, "Deep Learning for COVID-19 Recognition"): profile →
experiment configurations, and the chapter's declaration (:data:`SPEC`).

Two experiments, every setting from ``nbs/pepx_resnet/profiles.yaml``:

* :func:`grid` — Tables 1–4 and Figs. 9–10: {ResNet-18, PEPX-ResNet} × {softmax CE, focal}, one
  run per seed, each seed with its own patient split of the assembled set (``split_seed``);
* :func:`audit_grid` — the shortcut audit (``05-shortcuts``, this book's addition): ResNet-18
  with CE trained to predict the class from the whole image, with the lung fields blanked and from
  the border alone, and to predict the source collection from the whole image.

How a run reads in the paper's tables (per-class precision, sensitivity, F1) is
:mod:`covidnb.chapters.pepx_resnet_view`.
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters import base_config
from covidnb.chapters.contract import Chapter, Comparison
from covidnb.profiles import load_profile

CHAPTER = "pepx_resnet"
CLASSES = ("normal", "pneumonia", "COVID-19")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "scheduler",
              "max_steps_per_epoch", "select", "sampler")

# Tables 1–4's row labels (the paper's "This work" is PEPX-ResNet); the COVID-Net row is quoted.
MODEL_NAMES = {"resnet18_tv": "Resnet18", "pepx_resnet": "This work",
               "covidnet_style": "COVID-Net-style (extension)"}
LOSS_NAMES = {"ce": "softmax CE", "focal": "focal (α = 1, γ = 1)"}
# the paper's class names (Tables 2–4 columns) for the dataset's
PAPER_CLASSES = {"normal": "Normal", "pneumonia": "Non-COVID", "COVID-19": "COVID-19"}
SUBSTITUTION = ("the staged Cohen subset and the Figure 1 collection pooled into three classes "
                "(111 images of 74 patients; normal 22, pneumonia 24, COVID-19 65) in place of "
                "COVIDx v3 + CoronaHack with 1000 / 100 images per class; split by patient, a new "
                "split per seed; trained from scratch at 96 px with GroupNorm and class-balanced "
                "sampling (cpu)")


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def model_kwargs(p: dict, model: str) -> dict[str, Any]:
    # ``norm`` only when the profile sets it, so configurations without it keep their keys
    norm = {"norm": p["norm"]} if p.get("norm") and model in ("pepx_resnet", "resnet18_tv") else {}
    if model == "pepx_resnet":
        return {"width": int(p["pepx_width"]), "pepx_input": p["pepx_input"], **norm}
    if model == "covidnet_style":
        return {"width": int(p["pepx_width"])}
    return norm


def experiment_config(profile: str | dict, model: str, loss: str, seed: int, *,
                      target: str = "class", view: str = "full", only_source: str | None = None,
                      **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one (model, loss, seed): the patient split is
    drawn with ``split_seed = seed``, so repeats differ in their split as well as their weights.
    ``target`` / ``view`` / ``only_source`` are the shortcut audit's
    (``covidnb.data.cxr3_assembled``: the label, the image mask, one source collection only)."""
    p = settings(profile)
    p.update(overrides)
    table = p.get("loss_kwargs") or {}
    if loss not in table:
        raise KeyError(f"profile {p['profile']!r} of {CHAPTER} has no loss_kwargs for {loss!r}")
    dataset_kwargs: dict[str, Any] = {"split_seed": int(seed), "fractions": dict(p["split_fractions"]),
                                      "quota": dict(p["quota"]) if p.get("quota") else None}
    if target != "class":
        dataset_kwargs["target"] = target
    if view != "full":
        dataset_kwargs["view"] = view
    if only_source is not None:
        from covidnb.data.cxr3_assembled import DEFAULT_SOURCES

        dataset_kwargs["sources"] = {only_source: DEFAULT_SOURCES[only_source]}
    return base_config(CHAPTER, p, model, seed, TRAIN_KEYS, model_kwargs=model_kwargs(p, model),
                       loss=loss, loss_kwargs=dict(table[loss] or {}), dataset_kwargs=dataset_kwargs)


def _seeds(p: dict, seeds) -> list[int]:
    return list(p["seeds"]) if seeds is None else [int(s) for s in seeds]


def grid(profile: str | dict, models: list[str] | None = None, losses: list[str] | None = None,
         seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """The 2 × 2 of Tables 1–4 (models × losses), seeds outermost."""
    p = settings(profile)
    models = list(p["models"] if models is None else models)
    losses = list(p["losses"] if losses is None else losses)
    return [experiment_config(p, m, l, s, **overrides)
            for s in _seeds(p, seeds) for m in models for l in losses]


WHOLE_IMAGE = "class · whole image"  # the audit task every other class task is compared with
AUDIT_TASKS = {  # label → (target, view, only this source collection)
    WHOLE_IMAGE: ("class", "full", None),
    "class · lung fields blanked": ("class", "no_lungs", None),
    "class · border only": ("class", "border_only", None),
    "source · whole image": ("source", "full", None),
    "class · whole image · Cohen only": ("class", "full", "cohen"),
}


def audit_grid(profile: str | dict, seeds: list[int] | None = None,
               **overrides: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(task label, configuration)`` of the shortcut audit: the audit model with CE on each
    view of the class task and on the source task, on the same patient splits as :func:`grid`."""
    p = settings(profile)
    seeds = p.get("audit_seeds", p["seeds"]) if seeds is None else seeds
    views = set(p["audit_views"])
    return [(label, experiment_config(p, p["audit_model"], "ce", s, target=t, view=v,
                                      only_source=o, **overrides))
            for s in _seeds(p, seeds) for label, (t, v, o) in AUDIT_TASKS.items() if v in views]


def audit_configs(profile: str | dict, **kw: Any) -> list[dict[str, Any]]:
    return [cfg for _, cfg in audit_grid(profile, **kw)]


def reference_grid(profile: str | dict, **overrides: Any) -> list[dict[str, Any]]:
    """The 2 × 2 for every seed first (Tables 1–4), then the shortcut audit; each once (the
    audit's whole-image class runs are the ResNet-18 / CE runs of the 2 × 2)."""
    from covidnb.runs.store import canonical_json

    seen, out = set(), []
    for cfg in grid(profile, **overrides) + audit_configs(profile, **overrides):
        key = canonical_json(cfg)
        if key not in seen:
            seen.add(key)
            out.append(cfg)
    return out


def describe(config: dict) -> dict[str, Any]:
    """The paper's labels of a run: model and its row label, loss, the audit's target and view."""
    kw = config.get("dataset_kwargs") or {}
    only = ",".join(kw["sources"]) if kw.get("sources") else "all"
    return {"model": config["model"], "Model": MODEL_NAMES.get(config["model"], config["model"]),
            "loss": config.get("loss", "ce"), "Loss": LOSS_NAMES.get(config.get("loss", "ce")),
            "target": kw.get("target", "class"), "view": kw.get("view", "full"),
            "sources": only, "split_seed": kw.get("split_seed")}


def reference_cams(config: dict) -> dict[str, Any] | None:
    """The Grad-CAM gallery of 04-evaluation: the 2 × 2 runs on the class task keep CAMs of two
    test images per class."""
    kw = config.get("dataset_kwargs") or {}
    if kw.get("target", "class") != "class" or kw.get("view", "full") != "full" or kw.get("sources"):
        return None
    return {"per_class": 2, "labels": [2, 1, 0], "seed": 0}


TABLE1 = {"Accuracy": "accuracy"}
SPEC = Chapter(
    slug=CHAPTER,
    title="Zhang & Zhang: PEPX-ResNet on COVIDx-style chest X-rays",
    classes=CLASSES,
    positive="COVID-19",
    model_names=MODEL_NAMES,
    loss_names=LOSS_NAMES,
    metrics=TABLE1,
    digits={"fraction": 4},
    substitution=SUBSTITUTION,
    experiment_config=experiment_config,
    grids={"all": grid, "audit": audit_grid},
    reference_grid=reference_grid,
    reference_cams=reference_cams,
    describe=describe,
    # Table 1 per loss (the paper does not say which loss its rows used); Tables 2–4 are per
    # class, read by pepx_resnet_view.table_comparisons from its per-class frame
    comparisons=tuple(
        Comparison(f"Table 1 ({LOSS_NAMES[loss]})", "1", on=("Model", "Model"), metrics=TABLE1,
                   where={"loss": loss, "target": "class", "view": "full", "sources": "all"})
        for loss in ("focal", "ce")),
    row_orders={"Model": tuple(MODEL_NAMES.values()), "Loss": tuple(LOSS_NAMES.values())},
)
