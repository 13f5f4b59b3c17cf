"""Recipe pilots of issue 12 for the dresunet ``cpu`` profile, judged on the validation split only.

Trains one seed of each named model under a recipe variant into a scratch run store and prints,
per model, the validation AUC per epoch, the first and last training loss, and the spread and the
one-class share (at 0.5) of the kept model's validation scores. Test metrics are recorded by
``run_experiment`` like in any run, but this script never prints or uses them.

Variants (all: lr 3e-3, one cosine decay over 20 epochs, the last epoch kept):

* ``M``  no mixup;
* ``N``  no mixup, each input image standardised (``input_norm="per_image"``) — the recipe chosen;
* ``NM`` mixup α = 1 and standardisation.

    PYTHONPATH=. COVIDNB_DATA=../shared/data python benchmarks/recipe_pilot.py N simplecnn,vgg_small,resunet --store /tmp/pilot
"""

import argparse
import json

from covidnb.chapters.dresunet import experiment_config
from covidnb.experiment import VAL_PREDICTIONS, run_experiment
from covidnb.runs import RunStore

COMMON = {"lr": 3e-3, "scheduler_kwargs": {"T_max": 20, "restarts": False}, "select": "last"}
VARIANTS = {
    "M": (dict(COMMON, mixup_alpha=0.0), None),
    "N": (dict(COMMON, mixup_alpha=0.0), "per_image"),
    "NM": (dict(COMMON, mixup_alpha=1.0), "per_image"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("models", help="comma-separated dresunet model names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", required=True, help="a scratch run store (never results/)")
    args = ap.parse_args()
    import pandas as pd

    overrides, norm = VARIANTS[args.variant]
    store = RunStore(args.store)
    for model in args.models.split(","):
        cfg = experiment_config("cpu", model, args.seed, **overrides)
        cfg["model_kwargs"].pop("input_norm", None)
        if norm:
            cfg["model_kwargs"]["input_norm"] = norm
        run = run_experiment(cfg, store=store)
        hist = run.history
        val = pd.read_csv(run.path / VAL_PREDICTIONS)
        score = val["p_CT_COVID"].to_numpy(float)
        print(json.dumps({
            "variant": args.variant, "model": model, "seed": args.seed,
            "val_auc_per_epoch": [round(float(x), 3) for x in hist["val_auc"]],
            "train_loss_first_last": [round(float(hist["train_loss"].iloc[i]), 3) for i in (0, -1)],
            "val_score_std": round(float(score.std()), 3),
            "val_one_class_share_at_0.5": round(float(max((score >= 0.5).mean(), (score < 0.5).mean())), 3),
        }), flush=True)


if __name__ == "__main__":
    main()
