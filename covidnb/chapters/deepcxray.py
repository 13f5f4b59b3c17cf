"""Chapter ``deepcxray`` (Xu et al., IEEE Access 2018): profile → experiment configuration, and
the chapter's declaration (:data:`SPEC`).

Experiments: the loss comparison of Tables 1–2 and Fig. 4 (MSE, CEL, W-CEL, CW-CEL, fine-grained
CW-CEL, each with and without the auxiliary "normal" output) and the backbones of Table 6
(CW-CEL with the auxiliary output). Every setting comes from ``nbs/deepcxray/profiles.yaml``.

Data: at ``paper`` the CheXNet label lists with the images of the full release
(``chexnet-split-labels``, redrawn by ``resplit`` when the profile asks for the paper's random
split). Where the images are not there — this machine holds 24 — ``phantom: true`` trains on the
labelled phantom whose label vectors are real rows of the lists
(:class:`~covidnb.data.chestxray14_phantom.ChestXray14Phantom`); every such run is recorded with
``synthetic: true``. The phantom reference runs live in their own store,
``results/deepcxray/phantom/`` (:data:`PHANTOM_STORE`), never beside a real re-run.
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters import RESULTS_ROOT, base_config
from covidnb.chapters.contract import Chapter
from covidnb.data.nih import NIH_LABELS
from covidnb.profiles import load_profile

CHAPTER = "deepcxray"
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "scheduler_kwargs",
              "max_steps_per_epoch", "select", "weight_decay")
PHANTOM_STORE = RESULTS_ROOT / CHAPTER / "phantom"

# registry loss name → the paper's column label (Tables 1–2)
LOSS_NAMES = {"deepcxray_mse": "MSE", "deepcxray_bce": "CEL", "wcel": "W-CEL", "cwcel": "CW-CEL",
              "cwcel_fg": "CW-CEL (FG)"}
# backbone → Table 6's row label
BACKBONE_NAMES = {"inception_v3": "InceptionV3", "resnet50": "ResNet-50", "resnet101": "ResNet-101",
                  "resnet152": "ResNet-152", "vgg16": "VGG-16", "vgg19": "VGG-19",
                  "tiny": "tiny CNN (smoke only)"}


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def experiment_config(profile: str | dict, loss: str, aux: bool, seed: int, backbone: str | None = None,
                      **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one loss, with or without the auxiliary output,
    on one backbone (default: the profile's), for one seed."""
    p = settings(profile)
    p.update(overrides)
    backbone = backbone or p["backbone"]
    dataset_kwargs: dict[str, Any] = {}
    if p.get("phantom"):
        dataset_kwargs = {"phantom": True, "phantom_n": dict(p["phantom_n"])}
    elif p.get("resplit"):
        dataset_kwargs = {"resplit": p["resplit"], "split_seed": int(p.get("split_seed", 0))}
    model_kwargs = {"backbone": backbone, "num_classes": len(NIH_LABELS), "aux": bool(aux),
                    "pretrained": bool(p["pretrained"])}
    if backbone == "tiny":
        model_kwargs["width"] = int(p["width"])
    loss_kwargs: dict[str, Any] = {"aux": p["aux_mode"]}
    if loss == "wcel":
        loss_kwargs["counting"] = p["wcel_counting"]
    return base_config(CHAPTER, p, "deepcxray", seed, TRAIN_KEYS, dataset_kwargs=dataset_kwargs,
                       model_kwargs=model_kwargs, loss=loss, loss_kwargs=loss_kwargs,
                       train_split="train", val_split="val", test_split="test")


def loss_grid(profile: str | dict, losses: list[str] | None = None, seeds: list[int] | None = None,
              aux: list[bool] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Tables 1–2: every (seed, loss, auxiliary yes/no) on the profile's backbone, seeds outermost."""
    p = settings(profile)
    losses = losses or list(p["losses"])
    seeds = seeds if seeds is not None else list(p["seeds"])
    aux = aux if aux is not None else [bool(a) for a in p["aux"]]
    return [experiment_config(p, loss, a, s, **overrides) for s in seeds for loss in losses for a in aux]


def backbone_grid(profile: str | dict, backbones: list[str] | None = None, seeds: list[int] | None = None,
                  **overrides: Any) -> list[dict[str, Any]]:
    """Table 6: CW-CEL with the auxiliary output on each backbone of the profile."""
    p = settings(profile)
    backbones = backbones or list(p["backbones"])
    seeds = seeds if seeds is not None else list(p["seeds"])
    return [experiment_config(p, "cwcel", True, s, backbone=b, **overrides) for s in seeds for b in backbones]


def nt_grid(profile: str | dict, seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Table 1's NT columns: W-CEL and CW-CEL without the auxiliary output, trained from scratch
    for 23,000 steps (§IV-C). Empty when the profile trains from scratch anyway (its loss grid
    already holds these rows)."""
    p = settings(profile)
    p.update(overrides)
    if not p["pretrained"]:
        return []
    seeds = seeds if seeds is not None else list(p["seeds"])
    nt = {"pretrained": False, "epochs": p["nt_epochs"], "max_steps_per_epoch": p["nt_max_steps_per_epoch"]}
    return [experiment_config(p, loss, False, s, **nt) for s in seeds for loss in ("wcel", "cwcel")]


def split_grid(profile: str | dict, n_splits: int = 6, **overrides: Any) -> list[dict[str, Any]]:
    """Table 3: CW-CEL(AT) on ``n_splits`` random 70/10/20 draws (``split_seed`` 0…5, §IV-A's six
    trials). Empty for a phantom profile or one that keeps the fixed CheXNet lists (``resplit``
    null): there is no split to redraw."""
    p = settings(profile)
    p.update(overrides)
    if p.get("phantom") or not p.get("resplit"):
        return []
    return [experiment_config(p, "cwcel", True, int(p["seeds"][0]), split_seed=k) for k in range(n_splits)]


def wcel_demo(profile: str | dict, seed: int = 0) -> list[dict[str, Any]]:
    """W-CEL without the auxiliary output under both counting readings (notebook 02): the
    per-finding one fails on its first batch without a positive for some finding."""
    return [experiment_config(profile, "wcel", False, seed, wcel_counting=c) for c in ("finding", "batch")]


def phantom_plan(profile: str | dict) -> list[dict[str, Any]]:
    """What the committed phantom store (:data:`PHANTOM_STORE`) holds: the loss grid, then the
    per-finding W-CEL run whose failure notebook 02 shows."""
    return loss_grid(profile) + wcel_demo(profile)[:1]


def reference_plan(profile: str | dict) -> list[dict[str, Any]]:
    """The reference re-run into ``results/deepcxray/``: Tables 1–2 on real images (the loss
    grid, then Table 1's NT columns). Empty for a phantom profile: phantom runs go to their own
    store (:func:`train_phantom_reference`), never into the store of real re-runs."""
    if settings(profile).get("phantom"):
        return []
    return loss_grid(profile) + nt_grid(profile)


def train_phantom_reference(profile: str = "cpu", root=None, log=print) -> list:
    """Train :func:`phantom_plan` into the phantom store (``results/deepcxray/phantom/``), from a
    clean checkout (a committed record must name code that exists); checkpoints are not kept.
    ``python -m covidnb.chapters.deepcxray [profile]`` runs it."""
    import time

    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore
    from covidnb.runs.provenance import require_clean_checkout

    require_clean_checkout(f"writing {CHAPTER} phantom runs into {PHANTOM_STORE}")
    store = RunStore(root or PHANTOM_STORE)
    runs = []
    for i, cfg in enumerate(phantom_plan(profile), 1):
        t0 = time.time()
        run = run_experiment(cfg, store=store, raise_on_failure=False, keep_checkpoints=False)
        log(f"{i}: {describe(cfg)['Method']} seed {cfg['seed']}: {run.status.get('status')} "
            f"in {time.time() - t0:.0f} s")
        runs.append(run)
    return runs


def all_grid(profile: str | dict) -> list[dict[str, Any]]:
    """Every configuration of the chapter once (the loss grid, Table 1's NT columns, the other
    backbones, then Table 3's six splits)."""
    from covidnb.runs.store import canonical_json

    seen, out = set(), []
    for cfg in loss_grid(profile) + nt_grid(profile) + backbone_grid(profile) + split_grid(profile):
        key = canonical_json(cfg)
        if key not in seen:
            seen.add(key)
            out.append(cfg)
    return out


def method_label(loss: str, aux: bool) -> str:
    """The paper's column label: ``CW-CEL(AT)``, ``CW-CEL(AT, FG)``, ``W-CEL`` …"""
    if loss == "cwcel_fg":
        return "CW-CEL(AT, FG)" if aux else "CW-CEL(FG)"
    return f"{LOSS_NAMES.get(loss, loss)}{'(AT)' if aux else ''}"


def describe(config: dict) -> dict[str, Any]:
    """What a configuration stands for in Tables 1, 2 and 6."""
    mk = config.get("model_kwargs") or {}
    aux = bool(mk.get("aux"))
    backbone = mk.get("backbone", "inception_v3")
    method = method_label(config["loss"], aux)
    counting = (config.get("loss_kwargs") or {}).get("counting")
    if config["loss"] == "wcel" and counting == "finding":
        method += " (per finding)"  # not a column of the paper: Eq. 2-3 read per finding
    return {"model": config["model"], "Backbone": BACKBONE_NAMES.get(backbone, backbone),
            "Loss": LOSS_NAMES.get(config["loss"], config["loss"]), "AT": aux, "Method": method,
            "pretrained": bool(mk.get("pretrained")),
            # Table 1 names the runs trained without ImageNet weights "(NT)"
            "Table 1 column": method if mk.get("pretrained") else f"{method}(NT)",
            "counting": counting,
            "split_seed": (config.get("dataset_kwargs") or {}).get("split_seed"),
            "phantom": bool((config.get("dataset_kwargs") or {}).get("phantom"))}


SPEC = Chapter(
    slug=CHAPTER,
    title="Xu et al. 2018, IEEE Access: 14-label chest X-ray",
    classes=tuple(NIH_LABELS),
    # The contract asks for a positive class; a multi-label chapter reports per-finding AUCs and
    # never a thresholded metric of one class, so this names the first finding only.
    positive=NIH_LABELS[0],
    model_names={"deepcxray": "InceptionV3 + sigmoid head"},
    no_plan_note=("the ChestX-ray14 images are not staged, so the chapter's labelled phantom runs "
                  "are kept apart in `results/deepcxray/phantom/` "
                  "(`python -m covidnb.chapters.deepcxray cpu` rebuilds them)"),
    loss_names={k: v for k, v in LOSS_NAMES.items()},
    metrics={"AUC": "auc"},
    units={"AUC": "fraction"},
    digits={"fraction": 4},  # Tables 1–6 print four decimals
    substitution=("CheXNet label lists (patient-level 70/10/20) or, at the paper profile, their "
                  "image-level redraw; without the images: a labelled phantom whose label vectors "
                  "are real rows of those lists (synthetic, not comparable with the paper)"),
    experiment_config=experiment_config,
    grids={"all": all_grid, "losses": loss_grid, "nt": nt_grid, "backbones": backbone_grid,
           "splits": split_grid},
    reference_grid=reference_plan,
    describe=describe,
    comparisons=(),  # phantom runs are never placed beside the paper's numbers (notebook 06)
    row_orders={"Method": ("MSE", "MSE(AT)", "CEL", "CEL(AT)", "W-CEL", "W-CEL(AT)", "CW-CEL",
                           "CW-CEL(AT)", "CW-CEL(FG)", "CW-CEL(AT, FG)"),
                "Backbone": tuple(BACKBONE_NAMES.values())},
)


if __name__ == "__main__":
    import sys

    train_phantom_reference(*(sys.argv[1:2] or ["cpu"]))
