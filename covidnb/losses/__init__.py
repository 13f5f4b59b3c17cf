"""Every loss of the five papers, built by name: ``build_loss("saal", class_counts=[...])``.

Modules register themselves with ``@LOSSES.register("name")``; importing this package imports
them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from covidnb.registry import Registry

LOSSES = Registry("loss")


def build_loss(name: str, **kwargs):
    return LOSSES.build(name, **kwargs)


for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
