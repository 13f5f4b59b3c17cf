"""``run_experiment(config)``: the one call a notebook makes to train and evaluate a model.

dataset → model → loss → :func:`covidnb.train.fit` → :func:`covidnb.train.predict` on the test
split → metrics → a run record in the store. A configuration already done in the store is read
back, not re-trained (``force=True`` re-trains); an interrupted one resumes from its checkpoints.

Configuration keys (defaults in brackets; unknown keys are an error):

``chapter``        chapter slug; the store folder (required)
``profile``        profile name the settings came from, recorded only [None]
``dataset``        dataset name for ``covidnb.data.open_dataset`` (required)
``dataset_kwargs`` extra keywords for ``open_dataset`` (e.g. ``{"version": 5}``) [{}]
``root``           data root tried first; *not* part of the run key (the datasets' checksums
                   are in the provenance) [None]
``train_split`` / ``val_split`` / ``test_split``  split names ["train" / "val" / "test"];
                   ``val_split=None`` trains without validation (the last epoch is kept)
``image_size``     side in pixels [224]
``channels``       input channels [1]
``subsample``      ``{class: fraction}`` applied to the training split (``covidnb.data.subsample``,
                   by patient, seeded by ``data_seed``) [None]
``model``          model name in ``covidnb.models`` (required)
``model_kwargs``   keywords for the model; ``num_classes`` defaults to the number of classes
                   (pass 1 for a single-logit binary model), ``in_channels`` to ``channels`` [{}]
``loss``           loss name in ``covidnb.losses`` ["ce"]
``loss_kwargs``    keywords for the loss; ``"class_counts": "auto"`` is replaced by the training
                   split's class counts [{}]
``augment``        training augmentation name (``covidnb.data.augment.get_augmentation``) or None;
                   when that module is absent a named augmentation is skipped with a warning [None]
``train``          :class:`covidnb.train.TrainConfig` fields [{}]; its ``seed`` is ``seed``
``seed``           training seed (python/numpy/torch, initial weights, data order) [0]
``data_seed``      seed of the phantoms and of ``subsample``, fixed across training seeds [0]
``fallback``       ``"synthetic"`` (phantom data when the dataset is absent) or ``"error"``

The stored configuration also holds ``synthetic`` (true when any split was a phantom): a run on
phantom data never shares a key with a run on the real data, and its metrics say so too.

Failures: the run is recorded as failed with its reason (for a NaN/Inf loss: epoch, step,
value) and the exception is re-raised, so a notebook cell fails loudly; pass
``raise_on_failure=False`` to get the failed :class:`~covidnb.runs.Run` back instead (a seed sweep
that should go on). A failed run is retried by the next call.

Changed data: before a finished run is reused, the checksums of the splits it recorded
(``provenance.datasets.<split>.checksum``) are compared with the data on disk now. When one
differs, ``on_data_change="error"`` (the default) raises :class:`DataChangedError` naming the
split and both checksums; ``"rerun"`` re-trains the configuration (as ``force=True``) and says so.
"""

from __future__ import annotations

import copy
import shutil
import warnings
from typing import Any

from covidnb.runs import Run, RunStore
from covidnb.runs.store import FORCE_DIR, LockTimeout

ON_DATA_CHANGE = ("error", "rerun")
VAL_PREDICTIONS = "val_predictions.csv"  # the kept model's validation scores (operating point)


class DataChangedError(RuntimeError):
    """A stored run was trained on other data than the data on disk now."""

    def __init__(self, run_path, changes: dict[str, tuple[str | None, str]]):
        self.run_path, self.changes = run_path, changes
        detail = "; ".join(
            f"split {k!r}: recorded checksum {old}, data on disk now {new}"
            for k, (old, new) in changes.items()
        )
        super().__init__(
            f"{run_path}: the stored run was trained on different data ({detail}). Re-run it "
            "with run_experiment(..., on_data_change='rerun') or force=True, or restore the data "
            "it was trained on."
        )


def data_changes(run: Run, splits: dict) -> dict[str, tuple[str | None, str]]:
    """``{split: (recorded checksum, current checksum)}`` for every split of ``splits`` whose
    data differ from what ``run`` recorded (empty when all agree or nothing was recorded)."""
    recorded = (run.provenance or {}).get("datasets") or {}
    out = {}
    for name, ds in splits.items():
        if ds is None or name not in recorded:
            continue
        old = (recorded[name] or {}).get("checksum")
        new = ds.info().get("checksum")
        if old is not None and new is not None and old != new:
            out[name] = (old, new)
    return out

DEFAULTS: dict[str, Any] = {
    "chapter": None,
    "profile": None,
    "dataset": None,
    "dataset_kwargs": {},
    "root": None,
    "train_split": "train",
    "val_split": "val",
    "test_split": "test",
    "image_size": 224,
    "channels": 1,
    "subsample": None,
    "model": None,
    "model_kwargs": {},
    "loss": "ce",
    "loss_kwargs": {},
    "augment": None,
    "train": {},
    "seed": 0,
    "data_seed": 0,
    "fallback": "synthetic",
}
REQUIRED = ("chapter", "dataset", "model")


def normalise_config(config: dict) -> dict:
    """Defaults filled in, ``train`` expanded to every TrainConfig field, checked."""
    from covidnb.train import TrainConfig

    unknown = sorted(set(config) - set(DEFAULTS) - {"synthetic"})
    if unknown:
        raise ValueError(
            f"run_experiment: unknown config key(s) {unknown}; known: {sorted(DEFAULTS)}"
        )
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(copy.deepcopy(config))
    missing = [k for k in REQUIRED if not cfg.get(k)]
    if missing:
        raise ValueError(f"run_experiment: config needs {missing}")
    train = dict(cfg["train"] or {})
    if "seed" in train and train["seed"] != cfg["seed"]:
        raise ValueError(
            f"run_experiment: train.seed={train['seed']} differs from seed={cfg['seed']}; set `seed` only"
        )
    train["seed"] = cfg["seed"]
    cfg["train"] = TrainConfig.from_dict(train).to_dict()
    if cfg["test_split"] is None:
        raise ValueError("run_experiment: test_split is required (metrics are computed on it)")
    return cfg


def _augmentation(name: str | None, image_size: int):
    if name is None:
        return None
    try:
        from covidnb.data import augment
    except ImportError:
        augment = None
    get = getattr(augment, "get_augmentation", None)
    if get is None:
        warnings.warn(
            f"augmentation {name!r} skipped: covidnb.data.augment.get_augmentation is not available",
            stacklevel=3,
        )
        return None
    return get(name, image_size)


def open_splits(cfg: dict) -> dict[str, Any]:
    """``{"train": ds, "val": ds or None, "test": ds}`` as the configuration describes."""
    from covidnb.data import open_dataset

    common = dict(
        root=cfg["root"],
        image_size=cfg["image_size"],
        channels=cfg["channels"],
        fallback=cfg["fallback"],
        seed=cfg["data_seed"],
        **cfg["dataset_kwargs"],
    )
    splits = {
        "train": open_dataset(
            cfg["dataset"],
            cfg["train_split"],
            transform=_augmentation(cfg["augment"], cfg["image_size"]),
            **common,
        ),
        "val": open_dataset(cfg["dataset"], cfg["val_split"], **common)
        if cfg["val_split"]
        else None,
        "test": open_dataset(cfg["dataset"], cfg["test_split"], **common),
    }
    if cfg["subsample"]:
        from covidnb.data import subsample

        splits["train"] = subsample(splits["train"], keep=cfg["subsample"], seed=cfg["data_seed"])
    classes = list(splits["train"].classes)
    for name, ds in splits.items():
        if ds is not None and list(ds.classes) != classes:
            raise ValueError(
                f"{cfg['dataset']}: split {name!r} has classes {list(ds.classes)}, train has {classes}"
            )
    return splits


def _class_counts(ds) -> list[int]:
    import numpy as np

    t = np.asarray(ds.targets)
    return (
        (t.sum(axis=0) if t.ndim == 2 else np.bincount(t, minlength=len(ds.classes)))
        .astype(int)
        .tolist()
    )


def run_experiment(
    config: dict,
    store: RunStore | None = None,
    force: bool = False,
    *,
    raise_on_failure: bool = True,
    keep_checkpoints: bool = True,
    lock_timeout: float | None = None,
    on_data_change: str = "error",
) -> Run:
    """Train and evaluate ``config`` (keys in the module docstring), or return its stored run.

    A stored run whose recorded data checksums differ from the data on disk is refused
    (:class:`DataChangedError`, ``on_data_change="error"``) or re-trained (``"rerun"``).

    ``keep_checkpoints=False`` deletes the run's ``checkpoints/`` once it is done (reference
    results are committed without them). ``lock_timeout`` bounds the wait when another process
    is training the same configuration (``None``: wait, then reuse its result); past it
    :class:`~covidnb.runs.store.LockTimeout` is raised, so a batch can move on to other work.
    """
    import pandas as pd

    from covidnb.losses import build_loss
    from covidnb.metrics import metrics_from_predictions
    from covidnb.models import build_model
    from covidnb.train import (
        TrainConfig,
        device_name,
        fit,
        predict,
        resolve_device,
        seed_everything,
    )

    if on_data_change not in ON_DATA_CHANGE:
        raise ValueError(f"on_data_change must be one of {ON_DATA_CHANGE}, got {on_data_change!r}")
    cfg = normalise_config(config)
    store = store if store is not None else RunStore()
    splits = open_splits(cfg)
    train_ds = splits["train"]
    synthetic = any(
        bool(getattr(ds, "synthetic", False)) for ds in splits.values() if ds is not None
    )
    record_cfg = {k: v for k, v in cfg.items() if k != "root"}
    record_cfg["synthetic"] = synthetic
    classes = list(train_ds.classes)
    multilabel = bool(getattr(train_ds, "multilabel", False))
    tcfg = TrainConfig.from_dict(cfg["train"])

    def body(run: Run) -> None:
        run.update_provenance(
            device=device_name(resolve_device(tcfg.device)),
            data_root=cfg["root"],
            datasets={k: ds.info() for k, ds in splits.items() if ds is not None},
        )
        seed_everything(cfg["seed"])  # initial weights (and a loss's random init) follow the seed
        model_kwargs = {
            "in_channels": cfg["channels"],
            "num_classes": len(classes),
            **cfg["model_kwargs"],
        }
        model = build_model(cfg["model"], **model_kwargs)
        # What the weights really were (ImageNet loaded, or from scratch because they could not
        # be had) is a fact of this run, not a parameter: it goes beside the config.
        run.update_provenance(weights=getattr(model, "weights_info", {"source": "random init"}))
        loss_kwargs = dict(cfg["loss_kwargs"])
        if loss_kwargs.get("class_counts") == "auto":
            loss_kwargs["class_counts"] = _class_counts(train_ds)
            run.update_provenance(
                resolved_loss_kwargs={"class_counts": loss_kwargs["class_counts"]}
            )
        loss_fn = build_loss(cfg["loss"], **loss_kwargs)

        def log_epoch(record: dict) -> None:
            hist = run.history
            rows = hist[hist["epoch"] < record["epoch"]] if len(hist) else hist
            run.save_history(pd.concat([rows, pd.DataFrame([record])], ignore_index=True))

        result = fit(
            model,
            loss_fn,
            train_ds,
            splits["val"],
            tcfg,
            checkpoint_dir=run.checkpoint_dir,
            run_log=log_epoch,
        )
        run.save_history(result.history)
        preds = predict(model, splits["test"], tcfg)
        run.save_predictions(preds)
        metrics = metrics_from_predictions(preds, classes, multilabel)
        learned = getattr(model, "block_weights", None)
        if callable(learned):  # a paper's learned path weights (PEPX-ResNet's A, B, C per block)
            metrics["block_weights"] = learned()
        if metrics.get("task") in OPERATING_KEY and splits["val"] is not None:
            metrics[OPERATING_KEY[metrics["task"]]] = _val_operating_point(
                run, model, splits["val"], preds, classes, tcfg)
        metrics["synthetic"] = synthetic
        metrics["training"] = {
            "best_epoch": result.best_epoch,
            "best_score": result.best_score,
            "select": tcfg.select,
            "epochs_run": len(result.history),
            "resumed_from": result.resumed_from,
            "seconds": round(result.seconds, 3),
        }
        run.save_metrics(metrics)
        if not keep_checkpoints:
            shutil.rmtree(run.checkpoint_dir, ignore_errors=True)

    stored = None if force else store.get(record_cfg)
    if stored is not None and stored.done:
        changes = data_changes(stored, splits)
        if changes:
            err = DataChangedError(stored.path, changes)
            if on_data_change == "error":
                raise err
            warnings.warn(f"{err}; re-training it (on_data_change='rerun')", stacklevel=2)
            force = True
    try:
        return store.run(record_cfg, body, force=force, lock_timeout=lock_timeout)
    except LockTimeout:
        raise  # another process is training it: not this run's failure
    except Exception:
        if raise_on_failure:
            raise
        run = store.get(record_cfg)
        if run is None:  # failed before the record was written (e.g. a lock timeout)
            raise
        forced = Run(run.path / FORCE_DIR)
        if force and (forced.path / "status.json").exists():
            return forced  # the failed forced re-run (the stored record is unchanged)
        return run


# where a record keeps its operating point chosen on validation, per task
OPERATING_KEY = {"binary": "val_threshold", "multiclass": "val_offsets"}


def _val_operating_point(run: Run, model, val_ds, test_preds, classes, tcfg) -> dict:
    """Test metrics at the operating point chosen on the validation split, beside the paper's
    rule: a binary run's threshold (Youden's J, against 0.5), a multi-class run's per-class
    offsets (balanced accuracy, against the argmax); the validation predictions are kept in the
    record so anyone can redo it (:mod:`covidnb.metrics.operating`)."""
    from covidnb.metrics.operating import at_validation_offsets, at_validation_threshold
    from covidnb.runs.atomic import atomic_write_csv
    from covidnb.train import predict

    val_preds = predict(model, val_ds, tcfg)
    atomic_write_csv(run.path / VAL_PREDICTIONS, val_preds)
    if len(classes) > 2:
        cols = [f"p_{c}" for c in classes]
        return at_validation_offsets(val_preds["label"], val_preds[cols].to_numpy(float),
                                     test_preds["label"], test_preds[cols].to_numpy(float), classes)
    col = f"p_{classes[1]}"
    return at_validation_threshold(val_preds["label"], val_preds[col],
                                   test_preds["label"], test_preds[col])


WEIGHTS_FILE = "weights.pt"  # a reference run's kept best weights (model state only)


def save_weights(run: Run) -> Path:
    """Keep the model state of ``run``'s ``best.pt`` as :data:`WEIGHTS_FILE` beside its record
    (no optimiser, RNG or path), for the few reference runs a chapter draws maps from."""
    import torch

    state = torch.load(run.checkpoint_dir / "best.pt", map_location="cpu", weights_only=False)
    out = run.path / WEIGHTS_FILE
    torch.save(state.get("model", state), out)
    return out


def load_model(run: Run, which: str = "best"):
    """Rebuild a run's model from its stored configuration and load its ``best.pt`` or ``last.pt``
    (for ``best``, the committed :data:`WEIGHTS_FILE` when the checkpoint is gone).

    Reference results are committed without checkpoints; for those this raises and says how to
    get one (re-run the configuration with checkpoints kept).
    """
    import torch

    from covidnb.models import build_model

    cfg = run.config
    path = run.checkpoint_dir / f"{which}.pt"
    if not path.exists() and which == "best" and (run.path / WEIGHTS_FILE).exists():
        path = run.path / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: run {run.key[:12]} has no {which} checkpoint (reference runs are stored "
            "without them); re-run its configuration with run_experiment(config, store=…, "
            "keep_checkpoints=True) in a scratch store to get one")
    classes = run.metrics.get("classes") or []
    kwargs = {"in_channels": cfg["channels"], "num_classes": len(classes), **cfg["model_kwargs"]}
    if "pretrained" in kwargs:  # the checkpoint replaces every weight: fetching ImageNet's is waste
        kwargs["pretrained"] = False
    model = build_model(cfg["model"], **kwargs)
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state.get("model", state))
    return model.eval()


def test_split(run: Run):
    """The run's test dataset, opened exactly as the run opened it (no augmentation)."""
    from covidnb.data import open_dataset

    cfg = {**DEFAULTS, **run.config}
    return open_dataset(cfg["dataset"], cfg["test_split"], image_size=cfg["image_size"],
                        channels=cfg["channels"], fallback=cfg["fallback"], seed=cfg["data_seed"],
                        **cfg["dataset_kwargs"])


def find_run(config: dict, store: RunStore | None = None, synthetic: bool = False,
             finished_only: bool = True) -> Run | None:
    """The *finished* run of ``config`` in ``store``, keyed as :func:`run_experiment` keys it
    (normalised, without ``root``, with the ``synthetic`` flag), or ``None``: a lookup that
    never trains. ``finished_only=False`` returns the record whatever its status (failed,
    interrupted)."""
    cfg = normalise_config(config)
    cfg.pop("root", None)
    cfg["synthetic"] = bool(synthetic)
    run = (store if store is not None else RunStore()).get(cfg)
    return run if run is not None and (run.done or not finished_only) else None
