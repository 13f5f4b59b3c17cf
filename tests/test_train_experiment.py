import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from toydata import ToyDataset

import covidnb.data
import covidnb.losses
import covidnb.train
from covidnb.experiment import normalise_config, run_experiment
from covidnb.runs import RunStore
from covidnb.train import NonFiniteLossError

torch.set_num_threads(1)


@pytest.fixture
def toy_data(monkeypatch):
    opened = []

    def fake_open(
        name,
        split,
        *,
        root=None,
        image_size=224,
        channels=1,
        transform=None,
        fallback="synthetic",
        seed=0,
        **kw,
    ):
        classes = {"toy2": ("neg", "pos"), "toy3": ("a", "b", "c"), "toyml": ("x", "y", "z")}[name]
        n = {"train": 32, "val": 12, "test": 18}[split]
        opened.append((name, split))
        return ToyDataset(
            n,
            classes=classes,
            size=image_size,
            channels=channels,
            seed=seed + {"train": 0, "val": 1, "test": 2}[split],
            split=split,
            multilabel=name == "toyml",
        )

    monkeypatch.setattr(covidnb.data, "open_dataset", fake_open)
    return opened


@pytest.fixture
def fit_calls(monkeypatch):
    calls = []
    real = covidnb.train.fit

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(covidnb.train, "fit", counting)
    return calls


def _config(**kw):
    cfg = {
        "chapter": "toy",
        "profile": "smoke",
        "dataset": "toy2",
        "image_size": 16,
        "model": "tinycnn",
        "loss": "ce",
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "progress": False},
        "seed": 0,
    }
    cfg.update(kw)
    return cfg


def test_binary_end_to_end_and_reuse(tmp_path, toy_data, fit_calls):
    store = RunStore(tmp_path)
    run = run_experiment(_config(), store=store)
    assert run.done and len(fit_calls) == 1
    pred = run.predictions
    assert len(pred) == 18 and list(pred.columns[:4]) == [
        "sample_id",
        "patient_id",
        "source",
        "label",
    ]
    m = run.metrics
    assert m["task"] == "binary" and m["positive"] == "pos" and m["synthetic"] is True
    assert m["auc"] == pytest.approx(roc_auc_score(pred["label"], pred["p_pos"]))
    assert m["accuracy"] == pytest.approx(np.mean((pred["p_pos"] >= 0.5) == pred["label"]))
    assert run.config["synthetic"] is True and "root" not in run.config
    assert run.config["train"]["seed"] == 0 and run.config["train"]["optimizer"] == "adam"
    assert run.provenance["datasets"]["test"]["n"] == 18 and run.provenance["device"].startswith(
        "cpu"
    )
    assert list(run.history["epoch"]) == [1, 2]
    assert (run.checkpoint_dir / "last.pt").exists()
    # the operating point chosen on validation: recomputable from the stored val predictions
    import pandas as pd

    from covidnb.metrics.operating import youden_threshold

    val = pd.read_csv(run.path / "val_predictions.csv")
    assert len(val) == 12
    op = m["val_threshold"]
    assert op["threshold"] == pytest.approx(youden_threshold(val["label"], val["p_pos"]))
    assert op["tp"] + op["fn"] == int(pred["label"].sum())
    assert op["tp"] + op["fp"] == int((pred["p_pos"] >= op["threshold"]).sum())
    # the same configuration, spelled differently, is read back
    again = run_experiment(
        _config(train={"epochs": 2, "batch_size": 8, "lr": 0.01, "optimizer": "adam"}), store=store
    )
    assert again.path == run.path and len(fit_calls) == 1
    run_experiment(_config(seed=1), store=store)
    assert len(fit_calls) == 2
    run_experiment(_config(), store=store, force=True)
    assert len(fit_calls) == 3
    t = store.table(["auc"])
    assert len(t) == 2 and set(t["seed"]) == {0, 1}


def test_multiclass_run_records_its_validation_offsets(tmp_path, toy_data):
    import pandas as pd

    from covidnb.metrics.operating import class_offsets

    run = run_experiment(_config(dataset="toy3"), store=RunStore(tmp_path), keep_checkpoints=False)
    m = run.metrics
    val = pd.read_csv(run.path / "val_predictions.csv")
    assert len(val) == 12 and "val_threshold" not in m
    op = m["val_offsets"]
    # recomputable from the stored validation predictions, and it counts every test image
    b = class_offsets(val["label"], val[["p_a", "p_b", "p_c"]].to_numpy(float))
    assert list(op["offsets"].values()) == pytest.approx(list(b))
    assert np.sum(op["confusion_matrix"]) == m["n"] == 18


def test_multiclass_without_val_and_multilabel(tmp_path, toy_data, monkeypatch):
    store = RunStore(tmp_path)
    run = run_experiment(
        _config(dataset="toy3", val_split=None), store=store, keep_checkpoints=False
    )
    m = run.metrics
    assert m["task"] == "multiclass" and set(m["per_class"]) == {"a", "b", "c"}
    assert ("toy3", "val") not in toy_data
    assert not run.checkpoint_dir.exists()
    real_build = covidnb.losses.build_loss
    monkeypatch.setattr(
        covidnb.losses,
        "build_loss",
        lambda name, **kw: (
            nn.BCEWithLogitsLoss() if name == "multilabel_bce" else real_build(name, **kw)
        ),
    )
    ml = run_experiment(_config(dataset="toyml", loss="multilabel_bce"), store=store)
    m = ml.metrics
    assert m["task"] == "multilabel" and set(m["per_label"]) == {"x", "y", "z"}
    p = ml.predictions
    assert m["per_label"]["y"]["auc"] == pytest.approx(roc_auc_score(p["label_y"], p["p_y"]))


def test_class_counts_auto(tmp_path, toy_data, monkeypatch):
    seen = {}
    real_build = covidnb.losses.build_loss

    def spy(name, **kw):
        seen.update(kw)
        return real_build("ce")

    monkeypatch.setattr(covidnb.losses, "build_loss", spy)
    run = run_experiment(
        _config(loss="whatever", loss_kwargs={"class_counts": "auto"}), store=RunStore(tmp_path)
    )
    assert seen["class_counts"] == [16, 16]
    assert run.config["loss_kwargs"] == {"class_counts": "auto"}


def test_nonfinite_is_recorded(tmp_path, toy_data, monkeypatch):
    class NaNLoss(nn.Module):
        def forward(self, out, y):
            return nn.functional.cross_entropy(out, y) * float("nan")

    real_build = covidnb.losses.build_loss
    monkeypatch.setattr(
        covidnb.losses,
        "build_loss",
        lambda name, **kw: NaNLoss() if name == "nan" else real_build(name, **kw),
    )
    store = RunStore(tmp_path)
    with pytest.raises(NonFiniteLossError):
        run_experiment(_config(loss="nan"), store=store)
    failed = run_experiment(_config(loss="nan"), store=store, raise_on_failure=False)
    st = failed.status
    assert st["status"] == "failed" and st["detail"]["epoch"] == 1 and st["detail"]["step"] == 1
    assert st["attempt"] == 2 and "NonFiniteLossError" in st["reason"]


def test_config_errors():
    with pytest.raises(ValueError, match="unknown config key.*'modle'"):
        normalise_config({"chapter": "x", "dataset": "d", "modle": "m"})
    with pytest.raises(ValueError, match="needs.*model"):
        normalise_config({"chapter": "x", "dataset": "d"})
    with pytest.raises(ValueError, match="train.seed"):
        normalise_config(
            {"chapter": "x", "dataset": "d", "model": "m", "seed": 1, "train": {"seed": 2}}
        )
    with pytest.raises(ValueError, match="unknown field"):
        normalise_config({"chapter": "x", "dataset": "d", "model": "m", "train": {"epoch": 2}})


def test_a_model_s_learned_path_weights_are_recorded(tmp_path, toy_data):
    # PEPX-ResNet's A, B, C (all initialised to 1) are kept in the record after training, so a
    # page can show them without a checkpoint
    run = run_experiment(_config(dataset="toy3", model="pepx_resnet", model_kwargs={"width": 4}),
                         store=RunStore(tmp_path), keep_checkpoints=False)
    w = run.metrics["block_weights"]
    assert len(w) == 4 and all(set(b) == {"A", "B", "C"} for b in w)
    assert any(abs(v - 1.0) > 1e-6 for b in w for v in b.values())  # training moved them
    plain = run_experiment(_config(dataset="toy3"), store=RunStore(tmp_path), keep_checkpoints=False)
    assert "block_weights" not in plain.metrics
