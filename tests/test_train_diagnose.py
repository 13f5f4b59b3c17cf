"""The learn-at-all checks (issue 12): overfitting a small real subset, and the LR range test."""

import numpy as np
import pytest
import torch
from toydata import ToyDataset

from covidnb.losses import build_loss
from covidnb.models import build_model
from covidnb.train.diagnose import lr_range_test, overfit_subset


def test_simplecnn_overfits_sixteen_real_covid_ct_slices(shared_data):
    from covidnb.data import open_dataset

    ds = open_dataset("covid-ct", "train", image_size=64, channels=1, fallback="error")
    assert not ds.synthetic
    torch.manual_seed(0)
    model = build_model("simplecnn", in_channels=1, num_classes=1, width=8)
    h = overfit_subset(model, build_loss("bce"), ds, n=16, steps=150, lr=3e-3)
    assert h["loss"].iloc[0] > 0.6  # starts at chance (log 2 ≈ 0.69)…
    assert h["loss"].iloc[-1] < 0.15 and h["accuracy"].iloc[-1] == 1.0  # …and memorises them
    # the same check with a learning rate of 0 must not pass: it is a real test of learning
    torch.manual_seed(0)
    frozen = build_model("simplecnn", in_channels=1, num_classes=1, width=8)
    h0 = overfit_subset(frozen, build_loss("bce"), ds, n=16, steps=20, lr=0.0)
    assert h0["loss"].iloc[-1] > 0.6


def test_lr_range_test_on_real_slices_reads_a_curve_and_restores_the_weights(shared_data):
    from covidnb.data import open_dataset

    ds = open_dataset("covid-ct", "train", image_size=64, channels=1, fallback="error")
    torch.manual_seed(0)
    model = build_model("simplecnn", in_channels=1, num_classes=1, width=8)
    before = [p.detach().clone() for p in model.parameters()]
    r = lr_range_test(model, build_loss("bce"), ds, start_lr=1e-5, end_lr=1.0, num_iter=80)
    lrs, loss = r.curve["lr"].to_numpy(), r.curve["loss"].to_numpy()
    assert np.all(np.diff(lrs) > 0) and lrs[0] >= 1e-5 and lrs[-1] <= 1.0
    assert loss.min() < loss[0] - 0.02  # the loss does fall somewhere in the sweep
    assert 1e-4 < r.suggested <= r.steepest <= r.minimum
    assert r.suggested == pytest.approx(min(r.steepest, r.minimum / 10))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_range_test_that_diverges_at_once_says_so():
    ds = ToyDataset(32, seed=0)
    model = build_model("tinycnn", in_channels=1, num_classes=2)
    with pytest.raises(RuntimeError, match="diverged"):
        lr_range_test(model, torch.nn.CrossEntropyLoss(), ds, start_lr=1e6, end_lr=1e9,
                      num_iter=30, batch_size=8)
