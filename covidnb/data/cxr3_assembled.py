"""A COVIDx-style three-class chest X-ray set (normal / pneumonia / COVID-19) assembled from the
source collections found under the data roots, split by patient with a seed.

Zhang & Zhang (§4.1) train on "1000 CXRs of each class" and test on 100 per class drawn from
COVIDx v3 and CoronaHack, without saying how. COVIDx and CoronaHack are themselves built from a
few collections (Cohen et al., Figure 1, RSNA, Kermany), and in them the class is largely fixed
by the collection: almost every COVID-19 image comes from Cohen or Figure 1, almost every
normal from RSNA or Kermany. So each sample here keeps its ``source`` collection, and the
chapter's shortcut audit can ask how much of a score is the collection.

What is pooled, in this order (an image already taken from an earlier source is not taken
again — CoronaHack's COVID-19 rows are Cohen images, its other rows Kermany's):

======== ============================ ================================================
source   manifest                     classes (COVIDx mapping)
======== ============================ ================================================
cohen    cohen-covid-chestxray        finding → all three (``covidnb.data.cxr``)
figure1  figure1-covid-chestxray      finding → all three; ``COVID-00003a/b`` one patient
rsna     rsna-pneumonia               Normal → normal, Lung Opacity → pneumonia
kermany  kermany-chest-xray           NORMAL / PNEUMONIA folders
coronahack coronahack                 Label / Label_2_Virus_category
======== ============================ ================================================

Splits ``train`` / ``val`` / ``test`` are drawn by patient (:func:`patient_split`, stratified by
class and source, ``split_seed``); ``quota`` (e.g. ``{"train": 1000, "test": 100}``, the paper's
numbers) then caps each class of a split, whole patients at a time. ``covidx_split`` records
whether COVIDx v3 lists the image in its train or test file (blank: not in COVIDx v3).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from covidnb.data.base import ImageFileDataset
from covidnb.data.patient_split import draw_per_class, patient_split
from covidnb.data.records import Record, relative_id

log = logging.getLogger("covidnb.data")

DEFAULT_SOURCES = {
    "cohen": {"dataset": "cohen-covid-chestxray", "splits": ["all"]},
    "figure1": {"dataset": "figure1-covid-chestxray", "splits": ["all"],
                "patient_regex": r"^(COVID-\d+)[a-z]?$"},
    "rsna": {"dataset": "rsna-pneumonia", "splits": ["train"]},
    "kermany": {"dataset": "kermany-chest-xray", "splits": ["train", "val", "test"]},
    "coronahack": {"dataset": "coronahack", "splits": ["train", "test"]},
}
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.15, "test": 0.25}
TARGETS = ("class", "source")
VIEWS = ("full", "no_lungs", "border_only")
BORDER = 0.125  # the kept frame of "border_only", as a fraction of the side


def view_mask(view: str, size: int) -> torch.Tensor:
    """``size × size`` 0/1 mask of what an image keeps under ``view`` (the shortcut audit):
    ``full`` everything; ``no_lungs`` all but two fixed ellipses where the lung fields of a
    frontal chest film usually lie (centres at 30 % and 70 % of the width, 48 % of the height;
    semi-axes 17 % × 30 %) — a geometric stand-in, not a segmentation; ``border_only`` only a
    frame of :data:`BORDER` of the side (where collection-specific labels, markers and
    borders sit)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    if view == "full":
        return torch.ones(size, size)
    if view == "no_lungs":
        lungs = torch.zeros(size, size, dtype=torch.bool)
        for cx in (0.30, 0.70):
            lungs |= ((xx - cx) / 0.17) ** 2 + ((yy - 0.48) / 0.30) ** 2 <= 1
        return (~lungs).float()
    inner = (xx > BORDER) & (xx < 1 - BORDER) & (yy > BORDER) & (yy < 1 - BORDER)
    return (~inner).float()


def _source_records(key: str, spec: dict[str, Any], classes: list[str],
                    search_root) -> tuple[list[Record], set[str]]:
    """The labelled records of one source collection whose files exist (empty when the
    collection is not under the data roots), relabelled into ``classes`` by class name, and the
    file names of every row it lists, labelled or left out by its class mapping."""
    from covidnb.data.locate import try_find
    from covidnb.data.manifest import load_manifest
    from covidnb.data.registry import dataset_class

    man = load_manifest(spec["dataset"])
    root = try_find(man.name, search_root)
    if root is None:
        return [], set()
    cls = dataset_class(man.kind)
    layout = {k: v for k, v in cls.layout_settings.items()}
    if "search_root" in layout:
        layout["search_root"] = search_root
    regex = re.compile(spec["patient_regex"]) if spec.get("patient_regex") else None
    out, listed = [], set()
    for split in spec.get("splits", ["all"]):
        if split not in cls.split_names(man.options) + ["all"]:
            continue
        for r in cls.index(root, man.options, man.classes, split, **layout):
            listed.add(Path(r.path).name.lower())
            if r.label is None or not r.exists:
                continue
            name = man.classes[r.label]
            if name not in classes:
                continue
            pid = str(r.patient_id or "")
            if regex and (m := regex.match(pid)):
                pid = m.group(1)
            out.append(Record(
                path=Path(r.path), label=classes.index(name),
                sample_id=f"{key}/{relative_id(Path(r.path), root)}",
                patient_id=f"{key}:{pid}" if pid else "", source=key,
                origin=r.origin, extra={"source_split": split}))
    return out, listed


def covidx3_membership(search_root) -> dict[str, str]:
    """File name → ``train`` / ``test`` for every line of the COVIDx v3 label files found
    (empty when they are not under the data roots)."""
    from covidnb.data.locate import try_find

    root = try_find("covidx-cxr", search_root)
    out: dict[str, str] = {}
    for split in ("train", "test"):
        path = root / f"{split}_COVIDx3.txt" if root else None
        if path is None or not path.exists():
            continue
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                out[parts[1]] = split
    return out


def assemble_pool(classes: list[str], sources: dict[str, dict] | None = None,
                  search_root=None) -> list[Record]:
    """Every labelled image of the source collections found, each once. The first source that
    lists a file decides: a later source neither repeats it nor relabels one the first left out
    (CoronaHack calls Cohen's ARDS images pneumonia; COVIDx and Cohen's mapping leave them out)."""
    seen: dict[str, str] = {}
    pool: list[Record] = []
    dropped: dict[str, int] = {}
    for key, spec in (sources or DEFAULT_SOURCES).items():
        records, listed = _source_records(key, spec, classes, search_root)
        for r in records:
            name = Path(r.path).name.lower()
            if name in seen:
                why = f"{key} (listed by {seen[name]})"
                dropped[why] = dropped.get(why, 0) + 1
                continue
            pool.append(r)
        for name in listed:
            seen.setdefault(name, key)
    if dropped:
        log.info("assembled CXR3: images already taken from an earlier source: %s", dropped)
    return pool


def pool_frame(records: list[Record], classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "sample_id": [r.sample_id for r in records],
        "patient_id": [r.patient_id for r in records],
        "source": [r.source for r in records],
        "label": [classes[r.label] for r in records],
    })


class AssembledCXR3(ImageFileDataset):
    """The pooled three-class set; ``split`` is ``train``, ``val``, ``test`` or ``all``.

    Layout keywords (``open_dataset(..., split_seed=1, quota={"train": 1000, "test": 100})``):
    ``split_seed`` the patient split's seed; ``fractions`` the share of patients per split;
    ``quota`` images per class and split (``None``: all); ``sources`` replaces the table above.
    Extra per-sample attributes: ``splits`` (the split of each sample), ``covidx_split``.
    """

    kind, default_name, title = "cxr3_assembled", "cxr3-assembled", "assembled COVIDx-style CXR"
    splits = ("train", "val", "test")
    layout_settings: ClassVar[dict[str, Any]] = {
        "search_root": None, "split_seed": 0, "fractions": None, "quota": None, "sources": None,
        "target": "class", "view": "full"}

    def __init__(self, *args: Any, **kw: Any):
        """As every dataset, plus the shortcut audit's two layout keywords: ``target="source"``
        makes the label the source collection (classes: the sources in the pool, in the
        table's order) on the same patient split; ``view`` masks every image (:func:`view_mask`)."""
        target, view = kw.get("target", "class"), kw.get("view", "full")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        view_mask(view, 2)  # checks the name now, not at the first image
        super().__init__(*args, **kw)
        self.diagnoses = [self.classes[t] for t in self.targets]
        self._per_sample = self._per_sample + ("diagnoses",)
        if target == "source":
            order = list(self.sources_in_pool or dict.fromkeys(self.sources))
            self.classes = order
            self.targets = np.asarray([order.index(s) for s in self.sources], dtype=np.int64)
        self._mask = view_mask(view, self.image_size) if view != "full" else None

    def _load(self, i: int) -> dict[str, Any]:
        out = super()._load(i)
        if self._mask is not None:
            out["image"] = out["image"] * self._mask
        return out

    @classmethod
    def assign(cls, root, options, classes, search_root=None, split_seed=0, fractions=None,
               quota=None, sources=None) -> tuple[list[Record], pd.DataFrame]:
        """The pool and its frame with a ``split`` column (``""``: left out by the quota)."""
        pool = assemble_pool(list(classes), sources or options.get("sources"), search_root)
        frame = pool_frame(pool, list(classes))
        if frame.empty:
            return pool, frame.assign(split=pd.Series(dtype=str))
        frame["split"] = patient_split(frame, fractions or options.get("fractions")
                                       or DEFAULT_FRACTIONS, seed=split_seed).values
        for split, q in (quota or {}).items():
            part = frame[frame["split"] == split]
            keep = draw_per_class(part, None if q is None else int(q), seed=split_seed)
            frame.loc[part.index.difference(keep), "split"] = ""
        return pool, frame

    @classmethod
    def index_split(cls, root: Path, options, classes, split, search_root=None, split_seed=0,
                    fractions=None, quota=None, sources=None, target="class",
                    view="full") -> list[Record]:
        pool, frame = cls.assign(root, options, classes, search_root, split_seed, fractions,
                                 quota, sources)
        member = covidx3_membership(search_root)
        in_pool = tuple(dict.fromkeys(r.source for r in pool))
        out = []
        for r, s in zip(pool, frame["split"] if len(frame) else []):
            if s == split:
                r.extra.update(split=s, covidx_split=member.get(Path(r.path).name, ""),
                               pool_sources=in_pool)
                out.append(r)
        return out

    def columns(self, records: list[Record]) -> dict[str, Any]:
        self.sources_in_pool = records[0].extra["pool_sources"] if records else ()
        return {**super().columns(records),
                "covidx_split": [r.extra.get("covidx_split", "") for r in records]}
