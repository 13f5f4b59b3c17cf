"""How a ``dsn_saal`` run reads in Hu et al.'s (2021) tables: the paper's names for networks,
losses and metrics, which row of Tables 3/8, 4, 5 and 6 a configuration re-runs
(:func:`describe`), the tables compared with the re-run and the comparisons the paper draws
(checked on the re-run paired by seed). Declared once here; the shared view layer
(:mod:`covidnb.chapters.views`) does the rest.
"""

from __future__ import annotations

from typing import Any

from covidnb.chapters.contract import Claim, Comparison
from covidnb.profiles import load_profile

DSN_PREFIX = "dsn_"

# Row labels of the paper's tables for the registry names (reported/*.csv spell them so).
TABLE3_NAMES = {"vgg16_bn": "VGG-16 [29]", "resnet50": "ResNet-50 [34]",
                "densenet169": "DenseNet-169 [35]", "mobilenet_v2": "MobileNet-V2 [36]",
                "resnext50": "ResNeXt-50 [37]"}
TABLE4_NAMES = {"vgg16_bn": "VGG-16", "resnet50": "ResNet-50", "densenet169": "DenseNet-169",
                "resnext50": "ResNeXt-50"}
TABLE5_NAMES = {"ce": "CE", "focal": "Focal Loss [22]", "class_balanced": "CB Loss [21]",
                "symmetric_ce": "SCE [24]", "saal": "SAAL (Proposed)"}
TABLE6_NAMES = {1.0: "Stand. split", 0.25: "25% of COVID-19", 0.1: "10% of COVID-19",
                0.05: "5% of COVID-19", 0.01: "1% of COVID-19"}
DSN_SAAL = "DSN-SAAL (Proposed)"
NETWORK_NAMES = {"vgg16_bn": "VGG-16-BN", "resnet50": "ResNet-50", "densenet169": "DenseNet-169",
                 "mobilenet_v2": "MobileNet-V2", "resnext50": "ResNeXt-50"}
LOSS_NAMES = {"ce": "CE", "focal": "focal", "class_balanced": "CB", "symmetric_ce": "SCE",
              "saal": "SAAL"}
BASELINE = ("vgg16_bn", "ce")
PROPOSED = ("dsn_vgg16_bn", "saal")
# The paper's column names (§4.2) → covidnb.metrics names (binary: CT_COVID is positive).
METRICS = {"ACC": "accuracy", "F1-score": "f1", "G-mean": "g_mean", "AUC": "auc",
           "SEN": "sensitivity", "SPE": "specificity", "PRE": "precision"}
SUBSTITUTION = ("COVID-CT (the paper's COVID19-CT, official split, 2 classes) in place of the "
                "authors' COVID19-Diag (3 classes, by request)")


def is_dsn(model: str) -> bool:
    return model.startswith(DSN_PREFIX)


def keep_covid_of(config: dict, profile: str | dict | None = None) -> float:
    """The ``keep_covid`` a configuration was built with (1.0 when nothing was cut)."""
    sub = config.get("subsample")
    if not sub:
        return 1.0
    p = profile if isinstance(profile, dict) else load_profile("dsn_saal", profile or config["profile"])
    base = float(p.get("subsample") or 1.0)
    return round(float(sub[p["positive"]]) / base, 4)


def describe(config: dict) -> dict[str, Any]:
    """What a configuration stands for in the paper's tables: network, backbone, loss, kept
    COVID-19 fraction and the row label of Tables 3/8, 4, 5 and 6 it re-runs (``None`` if none)."""
    model, loss = config["model"], config["loss"]
    backbone = model[len(DSN_PREFIX):] if is_dsn(model) else model
    dsn = is_dsn(model)
    keep = keep_covid_of(config)
    proposed = (model, loss) == PROPOSED
    full = keep == 1.0  # Tables 3-5 use the whole training set
    ablation = ablation_of(config)
    rows = {
        "table3": (DSN_SAAL if proposed else TABLE3_NAMES.get(model) if loss == "ce" else None)
        if full else None,
        "table4": (f"{TABLE4_NAMES[backbone]} | {'DSN' if dsn else 'Baseline'}"
                   if full and loss == "ce" and backbone in TABLE4_NAMES else None),
        "table5": TABLE5_NAMES.get(loss) if full and model == "vgg16_bn" else None,
        "table6": (TABLE6_NAMES.get(keep) if (model, loss) in (BASELINE, PROPOSED) else None),
        "table6_method": "Base." if (model, loss) == BASELINE else ("D.S." if proposed else None),
    }
    if ablation:  # another input size than its profile's: no row of the paper's tables
        rows = dict.fromkeys(rows)
    return {
        "model": model, "backbone": backbone, "dsn": dsn, "loss": loss, "keep_covid": keep,
        "network": ("DSN-" if dsn else "") + NETWORK_NAMES.get(backbone, backbone),
        "Loss": LOSS_NAMES.get(loss, loss), **rows, "input_px": config.get("image_size"),
        "ablation": ablation,
    }


def ablation_of(config: dict) -> str | None:
    """``"input N px"`` when the run's input size is not its profile's (the resolution ablation
    of ``07-reported-vs-rerun``, :func:`covidnb.chapters.dsn_saal.resolution_grid`), else
    ``None``. Such a run re-runs no row of the paper's tables."""
    from covidnb.profiles import load_profile

    try:
        size = int(load_profile("dsn_saal", config["profile"])["image_size"])
    except (KeyError, TypeError):  # a configuration of no named profile is no ablation of one
        return None
    return None if config.get("image_size") in (None, size) else f"input {config['image_size']} px"


def _cols(*names: str, suffix: str = "") -> dict[str, str]:
    return {f"{n}{suffix}": METRICS[n] for n in names}


_TABLE6 = ("ACC", "F1-score", "G-mean", "SEN", "SPE")
COMPARISONS = (
    Comparison("Table 3", "3", on=("Model", "table3"), metrics=_cols("ACC", "F1-score", "G-mean")),
    Comparison("Table 4", "4", on=("row", "table4"), metrics=_cols("ACC", "F1-score", "G-mean"),
               key_columns=("Model", "Method")),
    Comparison("Table 5", "5", on=("Method", "table5"), metrics=_cols("ACC", "F1-score", "G-mean")),
    Comparison("Table 6 (baseline)", "6", on=("Imbalanced", "table6"),
               metrics=_cols(*_TABLE6, suffix=" Base."), where={"table6_method": "Base."}),
    Comparison("Table 6 (DSN-SAAL)", "6", on=("Imbalanced", "table6"),
               metrics=_cols(*_TABLE6, suffix=" D.S."), where={"table6_method": "D.S."}),
    # Table 8 is COVID19-CT itself: its settings differ from the COVID19-Diag tables' ones.
    Comparison("Table 8", "8", on=("Method", "table3"), metrics=_cols("ACC", "F1-score", "AUC"),
               settings={"dataset": "covid-ct (COVID19-CT, official split)",
                         "split": "official split files (train 425, val 118, test 203)", "repeats": 1}),
)

# Each comparison the paper's tables make, A against its reference B. Table 8's baseline rows
# were quoted by Hu et al. from other papers, so its paper difference mixes protocols.
CLAIMS = (
    *(Claim("Table 6", f"DSN-SAAL − baseline, {label}", "Table 6 (DSN-SAAL)",
            label, {"table6": label, "table6_method": "D.S."},
            label, {"table6": label, "table6_method": "Base."}, " D.S.", " Base.",
            comparison_b="Table 6 (baseline)") for label in TABLE6_NAMES.values()),
    *(Claim("Table 5", f"{label} − CE (VGG-16-BN)", "Table 5", label, {"table5": label},
            TABLE5_NAMES["ce"], {"table5": TABLE5_NAMES["ce"]})
      for loss, label in TABLE5_NAMES.items() if loss != "ce"),
    *(Claim("Table 4", f"DSN − baseline, {name} (CE)", "Table 4", f"{name} | DSN",
            {"table4": f"{name} | DSN"}, f"{name} | Baseline", {"table4": f"{name} | Baseline"})
      for name in TABLE4_NAMES.values()),
    *(Claim("Table 8", f"DSN-SAAL − {other.split(' [')[0]} (paper: quoted row)", "Table 8",
            DSN_SAAL, {"table3": DSN_SAAL}, other, {"table3": other})
      for other in ("VGG-16 [29]", "ResNet-50 [34]", "DenseNet-169 [35]")),
)
ROW_ORDERS = {"table3": (*TABLE3_NAMES.values(), DSN_SAAL),
              "table4": tuple(f"{m} | {k}" for m in TABLE4_NAMES.values() for k in ("Baseline", "DSN")),
              "table6": tuple(TABLE6_NAMES.values())}
