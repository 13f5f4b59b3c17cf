"""Per-image input standardisation, attached to any model as a forward pre-hook.

Why: on COVID-CT the three official splits disagree on trivial image statistics. A classifier
that reads only the mean brightness separates COVID from non-COVID with AUC 0.733 on the training
split but 0.536 on validation (``covidnb.data.shift.cue_auc``; ``02-can-it-learn``). Subtracting
each image's mean and dividing by its standard deviation removes global brightness and contrast
from what the network sees, at training and at evaluation alike, so the model cannot learn a cue
that does not transfer across splits. None of the papers does this: it is a stated deviation of the
``cpu`` recipes.

A hook (rather than a wrapper module) keeps the model's own layers, names and state dict, so
Grad-CAM target layers and checkpoints are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_NORMS = ("per_image",)
EPS = 1e-6


def standardise_per_image(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` over every axis but the batch axis, image by image."""
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def _pre_hook(module: nn.Module, args: tuple) -> tuple:
    return (standardise_per_image(args[0]),) + tuple(args[1:])


def attach_input_norm(model: nn.Module, kind: str | None) -> nn.Module:
    """``model`` with its input standardised by ``kind`` (``None``: unchanged); returns ``model``."""
    if kind is None:
        return model
    if kind not in INPUT_NORMS:
        raise ValueError(f"input_norm {kind!r} is unknown; known: {', '.join(INPUT_NORMS)} or None")
    model.register_forward_pre_hook(_pre_hook)
    model.input_norm = kind
    return model
