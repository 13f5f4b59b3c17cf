import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from toydata import ToyDataset

from covidnb.models import build_model
from covidnb.train import (
    NonFiniteLossError,
    TrainConfig,
    fit,
    predict,
    probabilities,
    seed_everything,
)

torch.set_num_threads(1)


def _cfg(**kw):
    base = {"epochs": 2, "batch_size": 8, "lr": 0.01, "seed": 3, "progress": False}
    base.update(kw)
    return TrainConfig(**base)


class TupleCE(nn.Module):
    """CE on the main output plus 0.5·CE on the auxiliary one (a deep-supervision stand-in)."""

    def forward(self, out, y):
        main, aux = out
        return nn.functional.cross_entropy(main, y) + 0.5 * nn.functional.cross_entropy(aux, y)


def test_fit_learns_and_is_repeatable():
    tr, va = ToyDataset(48, seed=0), ToyDataset(16, seed=1, split="val")
    runs = []
    for _ in range(2):
        seed_everything(0)  # fit seeds training; the initial weights are the caller's
        model = build_model("tinycnn", in_channels=1, num_classes=2)
        res = fit(model, nn.CrossEntropyLoss(), tr, va, _cfg(epochs=4, select="val_auc"))
        runs.append((res, [p.detach().clone() for p in model.parameters()]))
    (r1, w1), (r2, w2) = runs
    pd.testing.assert_frame_equal(
        r1.history.drop(columns="seconds"), r2.history.drop(columns="seconds")
    )
    assert all(torch.equal(a, b) for a, b in zip(w1, w2))
    h = r1.history
    assert list(h["epoch"]) == [1, 2, 3, 4]
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert r1.best_epoch == int(h.loc[h["val_auc"].idxmax(), "epoch"])


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    tr, va = ToyDataset(40, seed=0), ToyDataset(12, seed=1, split="val")
    cfg = _cfg(epochs=3, scheduler="cosine", optimizer="sgd")

    seed_everything(0)
    full = build_model("tinycnn", num_classes=2, dropout=0.3)
    r_full = fit(full, nn.CrossEntropyLoss(), tr, va, cfg, checkpoint_dir=tmp_path / "full")

    class Killed(Exception):
        pass

    def kill_after_1(record):
        if record["epoch"] == 1:
            raise Killed

    seed_everything(0)
    part = build_model("tinycnn", num_classes=2, dropout=0.3)
    with pytest.raises(Killed):
        fit(
            part,
            nn.CrossEntropyLoss(),
            tr,
            va,
            cfg,
            checkpoint_dir=tmp_path / "part",
            run_log=kill_after_1,
        )
    torch.manual_seed(
        12345
    )  # a fresh process would have other RNG states: resume must restore them
    resumed = build_model("tinycnn", num_classes=2, dropout=0.3)
    r_res = fit(resumed, nn.CrossEntropyLoss(), tr, va, cfg, checkpoint_dir=tmp_path / "part")
    assert r_res.resumed_from == 1
    cols = [c for c in r_full.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(r_full.history[cols], r_res.history[cols])
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # a finished checkpoint is not trained again
    again = build_model("tinycnn", num_classes=2, dropout=0.3)
    r_again = fit(again, nn.CrossEntropyLoss(), tr, va, cfg, checkpoint_dir=tmp_path / "part")
    assert r_again.resumed_from == 3 and len(r_again.history) == 3


def test_resume_refuses_other_config(tmp_path):
    tr = ToyDataset(16)
    fit(
        build_model("tinycnn"),
        nn.CrossEntropyLoss(),
        tr,
        None,
        _cfg(epochs=1),
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="lr"):
        fit(
            build_model("tinycnn"),
            nn.CrossEntropyLoss(),
            tr,
            None,
            _cfg(epochs=2, lr=0.5),
            checkpoint_dir=tmp_path,
        )


def test_nonfinite_loss_stops_and_records(tmp_path):
    class NaNAtStep3(nn.Module):
        calls = 0

        def forward(self, out, y):
            self.calls += 1
            loss = nn.functional.cross_entropy(out, y)
            return loss * float("nan") if self.calls == 3 else loss

    with pytest.raises(NonFiniteLossError) as exc:
        fit(
            build_model("tinycnn"),
            NaNAtStep3(),
            ToyDataset(16),
            None,
            _cfg(batch_size=4),
            checkpoint_dir=tmp_path,
        )
    assert (exc.value.epoch, exc.value.step) == (1, 3) and math.isnan(exc.value.value)
    import json

    assert json.loads((tmp_path / "nonfinite.json").read_text())["step"] == 3


def test_tuple_model_loss_params_and_log_values():
    class LearnableWeighted(nn.Module):
        """A loss with its own parameter; fit must optimise it and log it each epoch."""

        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.tensor(0.0))

        def forward(self, out, y):
            main, aux = out
            w = torch.sigmoid(self.alpha)
            return nn.functional.cross_entropy(main, y) + w * nn.functional.cross_entropy(aux, y)

        def log_values(self):
            return {"alpha": self.alpha.detach(), "pair": torch.tensor([1.0, 2.0])}

    loss = LearnableWeighted()
    model = build_model("tinycnn", num_classes=3, aux=True)
    tr = ToyDataset(24, classes=("a", "b", "c"))
    res = fit(model, loss, tr, ToyDataset(12, classes=("a", "b", "c"), seed=2), _cfg(epochs=2))
    assert float(loss.alpha.detach()) != 0.0  # optimised with the model
    assert {"loss.alpha", "loss.pair_0", "loss.pair_1"} <= set(res.history.columns)
    assert res.history["loss.alpha"].iloc[-1] == pytest.approx(float(loss.alpha.detach()))
    df = predict(model, tr, _cfg())
    assert list(df.columns) == ["sample_id", "patient_id", "source", "label", "p_a", "p_b", "p_c"]
    np.testing.assert_allclose(df[["p_a", "p_b", "p_c"]].sum(axis=1), 1.0, rtol=1e-5)
    assert (df["label"].to_numpy() == tr.targets).all()


def test_max_steps_mixup_step_scheduler(monkeypatch):
    calls = []
    from covidnb.train import loop

    real_loader = loop._loader

    def counting_loader(*a, **kw):
        dl = real_loader(*a, **kw)
        calls.append(dl)
        return dl

    monkeypatch.setattr(loop, "_loader", counting_loader)
    seen = []

    class CountingCE(nn.CrossEntropyLoss):
        def forward(self, out, y):
            seen.append(y.shape[0])
            return super().forward(out, y)

    cfg = _cfg(
        epochs=3,
        max_steps_per_epoch=2,
        batch_size=4,
        mixup_alpha=0.4,
        scheduler="step",
        scheduler_kwargs={"step_size": 1, "gamma": 0.5},
    )
    res = fit(build_model("tinycnn"), CountingCE(), ToyDataset(40), None, cfg)
    assert len(seen) == 3 * 2 * 2  # 2 steps an epoch, mixup calls the loss twice
    np.testing.assert_allclose(res.history["lr"], [0.01, 0.005, 0.0025])


def test_probabilities_and_predict_binary_and_multilabel():
    z = torch.tensor([[0.0], [2.0]])
    p = probabilities(z, multilabel=False)
    np.testing.assert_allclose(p[:, 1], torch.sigmoid(z[:, 0]))
    np.testing.assert_allclose(p.sum(1), 1.0)
    ds = ToyDataset(10, classes=("x", "y", "z"), multilabel=True)
    model = build_model("tinycnn", num_classes=3)
    res = fit(model, nn.BCEWithLogitsLoss(), ds, ds, _cfg(epochs=1, select="val_auc"))
    assert np.isfinite(res.history["val_auc"]).all()
    df = predict(model, ds, _cfg())
    assert [c for c in df.columns if c.startswith(("label", "p_"))] == [
        "label_x",
        "label_y",
        "label_z",
        "p_x",
        "p_y",
        "p_z",
    ]
    with torch.no_grad():
        expect = torch.sigmoid(model(ds.images)).numpy()
    np.testing.assert_allclose(df[["p_x", "p_y", "p_z"]].to_numpy(), expect, rtol=1e-5, atol=1e-6)
    single = build_model("tinycnn", num_classes=1)
    df1 = predict(single, ToyDataset(6), _cfg())
    with torch.no_grad():
        s = torch.sigmoid(single(ToyDataset(6).images))[:, 0].numpy()
    np.testing.assert_allclose(df1["p_pos"], s, rtol=1e-5)
    with pytest.raises(ValueError, match="3 probabilities"):
        predict(build_model("tinycnn", num_classes=3), ToyDataset(6), _cfg())


def test_select_last_keeps_the_final_epoch_whatever_validation_says():
    tr, va = ToyDataset(48, seed=0), ToyDataset(16, seed=1, split="val")
    seed_everything(0)
    model = build_model("tinycnn", in_channels=1, num_classes=2)
    res = fit(model, nn.CrossEntropyLoss(), tr, va, _cfg(epochs=3, select="last"))
    assert res.best_epoch == 3 and "val_auc" in res.history  # validation still measured
    with pytest.raises(ValueError, match="select"):
        TrainConfig(epochs=1, batch_size=2, lr=0.1, select="val_f1")


@pytest.mark.parametrize("select,val,copies", [("last", True, 0), ("val_auc", False, 0),
                                               ("val_auc", True, 1)])
def test_weights_are_copied_only_when_a_score_can_keep_an_earlier_epoch(monkeypatch, select, val,
                                                                         copies):
    import covidnb.train.loop as loop

    calls = []
    real = loop.copy.deepcopy
    names = set(build_model("tinycnn", in_channels=1, num_classes=2).state_dict())

    def spy(x, *a):  # count only copies of the model's weights
        if isinstance(x, dict) and set(x) == names:
            calls.append(1)
        return real(x, *a)

    monkeypatch.setattr(loop.copy, "deepcopy", spy)
    tr, va = ToyDataset(16, seed=0), ToyDataset(8, seed=1, split="val")
    seed_everything(0)
    model = build_model("tinycnn", in_channels=1, num_classes=2)
    res = fit(model, nn.CrossEntropyLoss(), tr, va if val else None, _cfg(epochs=3, select=select))
    # without a score, or with "last", the kept epoch is the last and nothing is copied
    assert (len(calls) >= 1) == bool(copies)
    if not copies:
        assert res.best_epoch == 3


@pytest.mark.parametrize("select,writes", [("last", [3]), ("val_loss", None)])
def test_best_pt_is_written_once_when_the_last_epoch_is_kept(tmp_path, monkeypatch, select, writes):
    import covidnb.train.loop as loop

    epochs = []
    real = loop.save_best
    monkeypatch.setattr(loop, "save_best", lambda ckpt, epoch, *a: (epochs.append(epoch), real(ckpt, epoch, *a)))
    tr, va = ToyDataset(48, seed=0), ToyDataset(16, seed=1, split="val")
    seed_everything(0)
    model = build_model("tinycnn", in_channels=1, num_classes=2)
    res = fit(model, nn.CrossEntropyLoss(), tr, va, _cfg(epochs=3, select=select), checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / "best.pt", weights_only=False)
    assert saved["epoch"] == res.best_epoch
    if writes is not None:  # "last": once, after the final epoch, with the final weights
        assert epochs == writes and res.best_epoch == 3
        for k, v in model.state_dict().items():
            assert torch.equal(saved["model"][k], v)
    else:  # a score: at every improvement, the first epoch always
        assert epochs[0] == 1 and epochs == sorted(set(epochs))
