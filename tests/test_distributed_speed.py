"""The GPU speed settings of TrainConfig (covidnb.train.speed): on for CUDA only, off on a CPU
(the same training, bit for bit), and absent from the run key while at their defaults."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from toydata import ToyDataset

from covidnb.train import TrainConfig, fit
from covidnb.train.speed import (
    Speed,
    batch_to,
    memory_cached,
    prepare_model,
    resolve_speed,
)

FAST = {"amp_dtype": "bfloat16", "channels_last": True, "cudnn_benchmark": True,
        "memory_cache": True}


def test_defaults_stay_out_of_the_run_key():
    from covidnb.runs.keys import config_key

    base = TrainConfig(epochs=3).to_dict()
    assert not set(FAST) & set(base)
    assert TrainConfig.from_dict(base) == TrainConfig(epochs=3)
    fast = TrainConfig(epochs=3, **FAST).to_dict()
    assert {k: fast[k] for k in FAST} == FAST
    assert config_key({"train": base}) != config_key({"train": fast})
    with pytest.raises(ValueError, match="amp_dtype"):
        TrainConfig(amp_dtype="float8")
    with pytest.raises(ValueError, match="channels_last must be true or false"):
        TrainConfig(channels_last="yes")


def test_cpu_uses_none_of_them_and_cuda_all(monkeypatch):
    cfg = TrainConfig(**FAST)
    assert resolve_speed(cfg, torch.device("cpu")) == Speed()
    assert resolve_speed(cfg, torch.device("cpu")).pin_memory is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    gpu = resolve_speed(cfg, torch.device("cuda"))
    assert gpu == Speed(amp_dtype=torch.bfloat16, channels_last=True, cudnn_benchmark=True,
                        memory_cache=True, pin_memory=True)
    assert not gpu.scale_loss  # no GradScaler in bf16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.warns(UserWarning, match="using float16"):
        old = resolve_speed(cfg, torch.device("cuda"))
    assert old.amp_dtype == torch.float16 and old.scale_loss
    assert resolve_speed(TrainConfig(), torch.device("cuda")).channels_last is False
    with pytest.warns(UserWarning, match="num_workers=0"):
        assert not resolve_speed(TrainConfig(memory_cache=True, num_workers=2),
                                 torch.device("cuda")).memory_cache


def _train(**extra):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, device="cpu", progress=False, **extra)
    res = fit(model, nn.CrossEntropyLoss(), ToyDataset(24, size=8), ToyDataset(8, size=8, seed=1),
              cfg)
    return res.history, [p.detach().clone() for p in model.parameters()], model


def test_fit_on_cpu_is_unchanged_by_them():
    before = torch.backends.cudnn.benchmark
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no autocast/scaler warning on CPU either
        h_fast, w_fast, model = _train(**FAST)
    h, w, _ = _train()
    np.testing.assert_array_equal(h_fast["train_loss"], h["train_loss"])
    np.testing.assert_array_equal(h_fast["val_loss"], h["val_loss"])
    assert all(torch.equal(a, b) for a, b in zip(w_fast, w))
    assert model[0].weight.is_contiguous()  # not put in channels-last on a CPU
    assert torch.backends.cudnn.benchmark == before


def test_channels_last_helpers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3))
    on = Speed(channels_last=True)
    prepare_model(model, on)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 5, 6)
    assert batch_to(x, on).is_contiguous(memory_format=torch.channels_last)
    assert batch_to(x, Speed()) is x
    vol = nn.Sequential(nn.Conv3d(1, 2, 3))
    prepare_model(vol, on)
    assert vol[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


class _Decoded:
    """A contract-like dataset: ``_load`` decodes, ``__getitem__`` augments after it."""

    name = "decoded"

    def __init__(self):
        self.loads = 0
        self.transform = lambda img: img + torch.rand(())

    def _load(self, i):
        self.loads += 1
        return {"image": torch.full((1, 2, 2), float(i))}

    def __len__(self):
        return 3

    def __getitem__(self, i):
        s = self._load(i)
        s["image"] = self.transform(s["image"])
        return s


def test_memory_cache_decodes_once_and_still_augments():
    ds = _Decoded()
    cached = memory_cached(ds)
    first = [cached[i]["image"] for i in range(3)]
    second = [cached[i]["image"] for i in range(3)]
    assert cached._load.__name__ == "_load" and ds.loads == 3  # decoded once each
    assert not any(torch.equal(a, b) for a, b in zip(first, second))  # augmented anew
    plain = ToyDataset(4, size=8)
    plain.transform = None
    whole = memory_cached(plain)
    assert whole[1]["sample_id"] == plain[1]["sample_id"] and len(whole) == 4
    assert whole.classes == plain.classes
    weird = ToyDataset(4, size=8)
    weird.transform = lambda x: x
    with pytest.warns(UserWarning, match="not cached"):
        assert memory_cached(weird) is weird
