"""The training loop shared by every chapter (CONTRACTS.md, "Training")."""

from covidnb.train.config import TrainConfig
from covidnb.train.device import device_name, resolve_device, use_amp
from covidnb.train.loop import (
    DivergingLossError,
    FitResult,
    NonFiniteLossError,
    fit,
    predict,
    probabilities,
)
from covidnb.train.seed import seed_everything

__all__ = [
    "DivergingLossError",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "device_name",
    "fit",
    "predict",
    "probabilities",
    "resolve_device",
    "seed_everything",
    "use_amp",
]
