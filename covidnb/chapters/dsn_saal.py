"""Chapter ``dsn_saal`` (Hu et al. 2021, Neurocomputing 458): profile → experiment configurations.

Three experiments, each a grid of :func:`experiment_config` calls; every setting comes from
``nbs/dsn_saal/profiles.yaml`` and nothing here chooses a hyper-parameter:

* :func:`loss_ablation_grid` — Table 5 (CE, focal, class-balanced, symmetric CE and SAAL on the
  plain VGG-16-BN) plus the DSN rows of Tables 3–4, so that {no DSN, DSN} × {CE, SAAL} is complete;
* :func:`imbalance_grid` — Table 6: the COVID-19 training images cut to 100/25/10/5/1 %, whole
  patients at a time (``run_experiment``'s ``subsample``), baseline (VGG-16-BN, CE) vs DSN-SAAL;
* :func:`backbone_grid` — Tables 3, 4 and 8: CE-trained backbones, the auxiliary chain on four of
  them (CE) and DSN-SAAL.

Configurations shared by two experiments (VGG-16-BN with CE, DSN-SAAL, DSN with CE) are
identical dicts, so they key to one run in the store. :func:`grid` is the union, the reference
re-run's input (``python -m covidnb.chapters.reference dsn_saal``). How a run reads in the
paper's tables is :mod:`covidnb.chapters.dsn_saal_tables`; :data:`SPEC` declares the chapter
(:class:`~covidnb.chapters.contract.Chapter`).
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters import base_config
from covidnb.chapters.contract import Chapter
from covidnb.chapters.dsn_saal_tables import (  # noqa: F401  (the paper's names, re-exported)
    BASELINE,
    CLAIMS,
    COMPARISONS,
    DSN_PREFIX,
    DSN_SAAL,
    LOSS_NAMES,
    METRICS,
    NETWORK_NAMES,
    PROPOSED,
    ROW_ORDERS,
    SUBSTITUTION,
    TABLE3_NAMES,
    TABLE4_NAMES,
    TABLE5_NAMES,
    TABLE6_NAMES,
    describe,
    is_dsn,
    keep_covid_of,
)
from covidnb.profiles import load_profile

CHAPTER = "dsn_saal"
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler",
              "scheduler_kwargs", "max_steps_per_epoch", "select")
SAAL_OUTPUTS = 6  # main + five side outputs (§3.4: one β per output)


def settings(profile: str | dict) -> dict[str, Any]:
    return load_profile(CHAPTER, profile) if isinstance(profile, str) else dict(profile)


def loss_kwargs(p: dict, model: str, loss: str) -> dict[str, Any]:
    """The profile's keywords for ``loss``; SAAL gets one β per output of ``model`` (six for DSN)."""
    table = p.get("loss_kwargs") or {}
    if loss not in table:
        raise KeyError(f"profile {p.get('profile')!r} of {CHAPTER} has no loss_kwargs for {loss!r}; "
                       f"known: {sorted(table)}")
    kw = dict(table[loss] or {})
    if loss == "saal":
        kw["num_outputs"] = SAAL_OUTPUTS if is_dsn(model) else 1
    return kw


def _subsample(p: dict, keep_covid: float) -> dict[str, float] | None:
    """Training fractions per class: the profile's ``subsample`` (smoke) times ``keep_covid`` for
    the positive class. ``None`` when everything is kept."""
    if not 0 < keep_covid <= 1:
        raise ValueError(f"keep_covid must lie in (0, 1], got {keep_covid}")
    frac = float(p.get("subsample") or 1.0)
    keep = {c: frac for c in p["classes"]}
    # rounded so that 0.1 × 0.25 keys like 0.025 (binary floats would differ in the last digit)
    keep[p["positive"]] = round(frac * float(keep_covid), 6)
    return None if all(v >= 1.0 for v in keep.values()) else keep


def experiment_config(profile: str | dict, model: str, loss: str, seed: int,
                      keep_covid: float = 1.0, **overrides: Any) -> dict[str, Any]:
    """The ``run_experiment`` configuration of one (model, loss, seed) under a profile.

    ``keep_covid``: fraction of the positive class' training images kept (Table 6; by patient).
    ``overrides`` replace profile settings (``image_size=…``, ``dataset=…``, ``epochs=…``).
    """
    p = settings(profile)
    p.update(overrides)
    model_kwargs: dict[str, Any] = {"pretrained": bool(p["pretrained"])}
    if is_dsn(model):
        side = dict(p.get("dsn") or {})
        if model != "dsn_vgg16_bn":
            side.pop("taps", None)  # only VGG has several convs per stage to tap
        model_kwargs.update(side)
    return base_config(
        CHAPTER, p, model, seed, TRAIN_KEYS,
        subsample=_subsample(p, keep_covid),
        model_kwargs=model_kwargs,
        loss=loss,
        loss_kwargs=loss_kwargs(p, model, loss),
        data_seed=int(p.get("data_seed", 0)),
    )


def _seeds(p: dict, seeds) -> list[int]:
    return list(p["seeds"]) if seeds is None else [int(s) for s in seeds]


def loss_ablation_grid(profile: str | dict, losses: list[str] | None = None,
                       dsn_losses: list[str] | None = None, seeds: list[int] | None = None,
                       **overrides: Any) -> list[dict[str, Any]]:
    """Table 5 (``losses`` on the plain VGG-16-BN) and the DSN rows (``dsn_losses`` on
    DSN-VGG-16-BN), seeds outermost so a partial re-run covers every row once first."""
    p = settings(profile)
    losses = list(p["losses"] if losses is None else losses)
    dsn_losses = list(p["dsn_losses"] if dsn_losses is None else dsn_losses)
    rows = [("vgg16_bn", l) for l in losses] + [("dsn_vgg16_bn", l) for l in dsn_losses]
    return [experiment_config(p, m, l, s, **overrides) for s in _seeds(p, seeds) for m, l in rows]


def imbalance_grid(profile: str | dict, ratios: list[float] | None = None,
                   seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Table 6: baseline (VGG-16-BN, CE) and DSN-SAAL at each kept fraction of COVID-19 images."""
    p = settings(profile)
    ratios = [float(r) for r in (p["ratios"] if ratios is None else ratios)]
    return [experiment_config(p, m, l, s, keep_covid=r, **overrides)
            for s in _seeds(p, seeds) for r in ratios for m, l in (BASELINE, PROPOSED)]


def backbone_grid(profile: str | dict, backbones: list[str] | None = None,
                  dsn_backbones: list[str] | None = None, proposed: bool = True,
                  seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Tables 3/4/8: each backbone with CE, the auxiliary chain on ``dsn_backbones`` with CE
    (Table 4), and DSN-SAAL (``proposed``)."""
    p = settings(profile)
    backbones = list(p["backbones"] if backbones is None else backbones)
    dsn_backbones = list(p["dsn_backbones"] if dsn_backbones is None else dsn_backbones)
    rows = [(b, "ce") for b in backbones] + [(DSN_PREFIX + b, "ce") for b in dsn_backbones]
    if proposed:
        rows.append(PROPOSED)
    return [experiment_config(p, m, l, s, **overrides) for s in _seeds(p, seeds) for m, l in rows]


def resolution_grid(profile: str | dict, sizes: list[int] | None = None,
                    seeds: list[int] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """The resolution ablation of ``07-reported-vs-rerun``: the baseline (VGG-16-BN with CE, the
    whole training set) at each input size of the profile's ``resolution_ablation`` and
    otherwise the profile's recipe, every seed. Paired by seed with the profile's own baseline
    runs, the score difference measures how much the input size alone moves the re-run (one of
    the causes of its gap to the paper, which used 224 px). These runs fill no table row
    (:func:`~covidnb.chapters.dsn_saal_tables.ablation_of`)."""
    p = settings(profile)
    sizes = [int(s) for s in (p.get("resolution_ablation") or [] if sizes is None else sizes)]
    return [experiment_config(p, *BASELINE, s, **{**overrides, "image_size": size})
            for s in _seeds(p, seeds) for size in sizes if size != int(p["image_size"])]


EXPERIMENTS = {
    "loss_ablation": loss_ablation_grid,
    "imbalance": imbalance_grid,
    "backbones": backbone_grid,
}


def grid(profile: str | dict, experiments: list[str] | None = None, seeds: list[int] | None = None,
         **overrides: Any) -> list[dict[str, Any]]:
    """Every configuration of the named experiments (default: all three), each once, seeds
    outermost; the reference re-run trains this list."""
    names = list(EXPERIMENTS if experiments is None else experiments)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise KeyError(f"unknown experiment(s) {unknown}; known: {list(EXPERIMENTS)}")
    p = settings(profile)
    return _unique(cfg for s in _seeds(p, seeds) for name in names
                   for cfg in EXPERIMENTS[name](p, seeds=[s], **overrides))


def _unique(configs) -> list[dict[str, Any]]:
    """``configs`` in order, each configuration once (experiments share runs, e.g. the CE
    VGG-16-BN is Table 3's, 5's and 6's baseline)."""
    from covidnb.runs.store import canonical_json

    seen, out = set(), []
    for cfg in configs:
        key = canonical_json(cfg)
        if key not in seen:
            seen.add(key)
            out.append(cfg)
    return out


def reference_grid(profile: str | dict, **overrides: Any) -> list[dict[str, Any]]:
    """The reference re-run's plan, in the order the tables are needed, each configuration once:

    1. Table 8 with the first seed (VGG-16-BN, ResNet-50, DenseNet-169 with CE; DSN-SAAL);
    2. Table 6 at 25 % and 10 % with the first seed (100 % is step 1's baseline and DSN-SAAL);
    3. Table 5 with the first seed (focal, CB, SCE on VGG-16-BN; DSN-VGG-16-BN with CE);
    4. Table 6 at 100 / 25 / 10 % with the other seeds;
    5. the resolution ablation (:func:`resolution_grid`), which re-runs no table row;
    6. everything else of :func:`grid` (Table 6 at 5 % and 1 %, the other backbones, more seeds).

    A run stopped anywhere has the most complete tables it could have so far.
    """
    p = settings(profile)
    seeds = _seeds(p, None)
    first, rest = seeds[:1], seeds[1:]
    table8 = [b for b in ("vgg16_bn", "resnet50", "densenet169") if b in p["backbones"]]
    steps = [
        backbone_grid(p, backbones=table8, dsn_backbones=[], seeds=first, **overrides),
        imbalance_grid(p, ratios=[0.25, 0.1], seeds=first, **overrides),
        loss_ablation_grid(p, seeds=first, **overrides),
        imbalance_grid(p, ratios=[1.0, 0.25, 0.1], seeds=rest, **overrides) if rest else [],
        resolution_grid(p, **overrides),
        grid(p, **overrides),
    ]
    return _unique(c for step in steps for c in step)


CAM_PER_CLASS = 2  # test slices of each class in the Fig. 7 gallery


def reference_cams(config: dict) -> dict[str, Any] | None:
    """Fig. 7 compares Grad-CAM of VGG-16 with CE and of DSN-SAAL: the reference runs of those
    two (every seed and ratio) store their CAMs on the same test slices, COVID-19 first
    (:func:`covidnb.cam.save_run_cams`'s arguments); other runs store none."""
    if (config["model"], config["loss"]) not in (BASELINE, PROPOSED):
        return None
    return {"per_class": CAM_PER_CLASS, "labels": [1, 0], "seed": 0}


SPEC = Chapter(
    slug=CHAPTER,
    title="Hu et al. 2021, Neurocomputing: deep supervision + SAAL",
    classes=("CT_NonCOVID", "CT_COVID"),
    positive="CT_COVID",  # Table 6 reads COVID-19 against the rest
    model_names={**NETWORK_NAMES, **{DSN_PREFIX + k: f"DSN-{v}" for k, v in NETWORK_NAMES.items()}},
    loss_names=TABLE5_NAMES,
    metrics=METRICS,
    digits={"fraction": 3},
    substitution=SUBSTITUTION,
    dataset_label="{dataset} (substitute for COVID19-Diag)",
    # configurations: the three experiments, their union and the reference plan (Tables 8, 6, 5 first)
    experiment_config=experiment_config, grids={"all": grid, **EXPERIMENTS},
    reference_grid=reference_grid, reference_cams=reference_cams,
    # how a run reads in the paper (dsn_saal_tables)
    describe=describe, comparisons=COMPARISONS, claims=CLAIMS, row_orders=ROW_ORDERS,
)
