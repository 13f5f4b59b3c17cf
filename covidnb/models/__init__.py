"""Every architecture of the five papers, built by name: ``build_model("dresunet", in_channels=1, num_classes=1)``.

Modules register themselves with ``@MODELS.register("name")``; importing this package imports
them all. Every factory takes ``in_channels`` and ``num_classes`` keyword arguments.
"""

from __future__ import annotations

import importlib
import pkgutil

from covidnb.registry import Registry

MODELS = Registry("model")


def build_model(name: str, input_norm: str | None = None, **kwargs):
    """The model registered as ``name``; ``input_norm="per_image"`` standardises each input image
    first (:mod:`covidnb.models.input_norm`)."""
    from covidnb.models.input_norm import attach_input_norm

    return attach_input_norm(MODELS.build(name, **kwargs), input_norm)


def count_parameters(model, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)




def main_output(out):
    """The prediction of a model: the logits, or element 0 of a (main, *auxiliary) tuple."""
    return out[0] if isinstance(out, (tuple, list)) else out


for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
