import pytest
import torch

from covidnb.train import TrainConfig, resolve_device, use_amp
from covidnb.train.loop import progress_enabled
from covidnb.train.seed import epoch_seed, rng_state, seed_everything, set_rng_state


def test_config_roundtrip_and_errors():
    cfg = TrainConfig(epochs=3, scheduler="step", scheduler_kwargs={"step_size": 2})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown field.*'lrr'"):
        TrainConfig.from_dict({"lrr": 1})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="step_size"):
        TrainConfig(scheduler="step")


def test_device_amp_progress(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    assert use_amp("auto", torch.device("cpu")) is False
    assert use_amp("auto", torch.device("cuda")) is True
    with pytest.warns(UserWarning, match="CUDA only"):
        assert use_amp(True, torch.device("cpu")) is False
    monkeypatch.setenv("COVIDNB_PROGRESS", "0")
    assert progress_enabled(True) is False
    monkeypatch.setenv("COVIDNB_PROGRESS", "1")
    assert progress_enabled(None) is True and progress_enabled(False) is False


def test_rng_snapshot_and_epoch_seed():
    seed_everything(1)
    state = rng_state()
    a = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(a, torch.rand(3))
    assert epoch_seed(0, 1) == epoch_seed(0, 1) != epoch_seed(0, 2) != epoch_seed(1, 1)


def test_scheduler_kwargs_checked():
    with pytest.raises(ValueError, match="T_Max"):
        TrainConfig(scheduler="cosine", scheduler_kwargs={"T_Max": 10})
    with pytest.raises(ValueError, match="interval"):
        TrainConfig(scheduler="cosine", scheduler_kwargs={"interval": "batch"})
    TrainConfig(scheduler="cosine", scheduler_kwargs={"T_max": 10, "restarts": True, "interval": "step"})
