"""Synthetic phantoms with the same interface as the real datasets, for when data are absent.

Every phantom is deterministic given ``(seed, split, index)``, has ``synthetic=True``, sample
ids ``synthetic/<i>`` and source ``"synthetic"``, and keeps the class names it is given (the
real dataset's), choosing each class's pattern from its name:

- 2-D CT slice (:class:`SyntheticCTSlices`): body ellipse, two lungs, vessels; COVID-like
  classes get peripheral ground-glass blobs, pneumonia-like classes a denser consolidation,
  normal / non-COVID classes sometimes a small nodule (so the task is not trivial).
- 3-class chest X-ray (:class:`SyntheticCXR`): thorax, lungs, heart, ribs; pneumonia =
  unilateral consolidation, COVID-19 = bilateral peripheral lower-zone haze.
- 14-label chest X-ray (:class:`SyntheticCXR14`): each label a pattern at its own site
  (cardiomegaly = larger heart, effusion = basal haze, nodule = small dot, …), labels drawn
  independently; the ``normal`` flag is set when none is.
- 3-D volume (:class:`SyntheticVolumes`): body, lungs, lesions with lung and infection masks;
  infection ratios drawn from the per-class group mix of Ouyang et al. (IEEE TMI 39(8) 2020,
  Table III) for CAP / COVID-19, or MosMed-style CT-0…CT-4 bins.

Print :data:`SYNTHETIC_BANNER` (or :func:`synthetic_warning`) next to any result on phantoms.
"""

from __future__ import annotations

from typing import Any

from covidnb.data.phantom_draw import pattern_of
from covidnb.data.synthetic_base import PHANTOM_VERSION, SyntheticDataset
from covidnb.data.synthetic_ct import TABLE3_MIX, SyntheticCTSlices, SyntheticVolumes
from covidnb.data.synthetic_cxr import SyntheticCXR, SyntheticCXR14

__all__ = ["PHANTOM_VERSION", "SYNTHETIC_BANNER", "TABLE3_MIX", "SyntheticCTSlices"]
__all__ += ["SyntheticCXR", "SyntheticCXR14", "SyntheticDataset", "SyntheticVolumes"]
__all__ += ["pattern_of", "synthetic_for", "synthetic_warning"]

SYNTHETIC_BANNER = (
    "*** SYNTHETIC DATA *** These results come from generated phantoms, not from patients. "
    "They show that the pipeline runs; they say nothing about the paper's claims."
)


def synthetic_warning(ds: Any) -> str:
    """The banner when ``ds`` is synthetic (naming it), else an empty string."""
    if getattr(ds, "synthetic", False):
        return (
            f"{SYNTHETIC_BANNER}\n(dataset: {getattr(ds, 'name', '?')}/{getattr(ds, 'split', '?')})"
        )
    return ""


def synthetic_for(modality: str, *, multilabel: bool = False, **kw) -> SyntheticDataset:
    """The phantom class for a manifest's modality (``ct-slice``, ``cxr``, ``ct-volume``)."""
    if modality == "ct-slice":
        return SyntheticCTSlices(**kw)
    if modality == "cxr":
        return SyntheticCXR14(**kw) if multilabel else SyntheticCXR(**kw)
    if modality == "ct-volume":
        return SyntheticVolumes(**kw)
    raise ValueError(f"no phantom for modality {modality!r}")
