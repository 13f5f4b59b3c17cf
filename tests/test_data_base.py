"""The dataset base: a class that declares only its layout and labels gets the constructor,
splits, the absent-file policy, the cache, ``info()``/checksum, subsets and the synthetic
fallback from :class:`covidnb.data.base.BaseDataset`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from covidnb.data import (
    SYNTHETIC_BANNER,
    DatasetNotFound,
    ImageCache,
    ImageFileDataset,
    MissingImageError,
    Record,
    SyntheticCTSlices,
    SyntheticDataWarning,
    list_manifests,
    load_manifest,
    open_dataset,
)
from covidnb.data.registry import dataset_class, index_dataset
from covidnb.data.tables import label_lines

REPO = Path(__file__).resolve().parents[1]


class ListedImages(ImageFileDataset):
    """A made-up layout: ``<split>.txt`` lists ``filename label [note]``; images in ``img/``."""

    kind, title, default_name = "listed_images", "listed images", "listed"
    layout_settings = {"image_dir": "img"}  # noqa: RUF012 - a test double

    @classmethod
    def index_split(cls, root, options, classes, split, image_dir="img"):
        listing = root / f"{split}.txt"
        return [
            Record.at(
                root / image_dir / parts[0],
                root,
                classes.index(parts[1]),
                f"{listing}:{lineno}",
                extra={"note": parts[2] if len(parts) > 2 else ""},
            )
            for lineno, parts in label_lines(listing, field=1, labels=classes, form="file label")
        ]

    def columns(self, records):
        return {**super().columns(records), "notes": [r.extra["note"] for r in records]}


class ListedNoSplit(ListedImages):
    splits = ("all",)


CLASSES = ["neg", "pos"]
LISTS = {
    "train": ["t0.png neg first", "t1.png pos", "t2.png neg", "t3.png pos last"],
    "test": ["s0.png pos", "s1.png neg"],
}


def _tree(tmp_path: Path, missing: str | None = None) -> Path:
    root = tmp_path / "listed"
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, lines in LISTS.items():
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for line in lines:
            name = line.split()[0]
            if name != missing:
                pixels = rng.integers(0, 256, size=(12, 10), dtype=np.uint8)
                Image.fromarray(pixels).save(root / "img" / name)
    return root


def _open(root, split="train", cls=ListedImages, **kw):
    kw.setdefault("cache", False)
    return cls(root, split, name="listed", classes=CLASSES, options={}, image_size=8, **kw)


def _expected_checksum(root: Path, names: list[str], split_ids: list[str]) -> str:
    pairs = sorted(
        (sid, hashlib.sha256((root / "img" / n).read_bytes()).hexdigest())
        for sid, n in zip(split_ids, names)
    )
    return hashlib.sha256("".join(f"{s}\t{h}\n" for s, h in pairs).encode()).hexdigest()


def test_declared_layout_works_end_to_end(tmp_path):
    root = _tree(tmp_path)
    ds = _open(root)
    assert len(ds) == 4 and ds.split == "train" and ds.root == root and not ds.synthetic
    assert ds.sample_ids == ["img/t0.png", "img/t1.png", "img/t2.png", "img/t3.png"]
    assert ds.targets.tolist() == [0, 1, 0, 1] and ds.sources == ["listed"] * 4
    assert ds.notes == ["first", "", "", "last"]
    s = ds[1]
    assert s["image"].shape == (1, 8, 8) and s["image"].dtype == torch.float32
    assert 0.0 <= float(s["image"].min()) and float(s["image"].max()) <= 1.0
    assert s["label"].dtype == torch.int64 and int(s["label"]) == 1
    assert (s["sample_id"], s["patient_id"], s["source"]) == ("img/t1.png", "", "listed")
    info = ds.info()
    names = [ln.split()[0] for ln in LISTS["train"]]
    assert info == {
        "name": "listed",
        "split": "train",
        "root": str(root),
        "n": 4,
        "class_counts": {"neg": 2, "pos": 2},
        "checksum": _expected_checksum(root, names, ds.sample_ids),
        "synthetic": False,
    }


def test_splits_all_unknown_and_no_official_split(tmp_path):
    root = _tree(tmp_path)
    both = _open(root, "all")
    assert both.split == "all" and len(both) == 6
    assert both.sample_ids[4:] == ["img/s0.png", "img/s1.png"]  # splits joined in their order
    with pytest.raises(ValueError, match=r"unknown split 'val' .*available: train, test, all"):
        _open(root, "val")
    with pytest.raises(ValueError, match="no official split; use split='all'"):
        _open(root, "train", cls=ListedNoSplit)
    aliased = type("Aliased", (ListedImages,), {"split_aliases": {"fit": "train"}})
    assert _open(root, "fit", cls=aliased).split == "train"


def test_layout_settings_and_unknown_keywords(tmp_path):
    root = _tree(tmp_path)
    (root / "img").rename(root / "pictures")
    ds = _open(root, image_dir="pictures")
    assert ds.image_dir == "pictures" and ds.sample_ids[0] == "pictures/t0.png"
    with pytest.raises(TypeError, match="imgdir"):
        _open(root, imgdir="pictures")


def test_absent_listed_file_is_dropped_or_raises(tmp_path):
    root = _tree(tmp_path, missing="t2.png")
    lenient = _open(root)
    assert lenient.sample_ids == ["img/t0.png", "img/t1.png", "img/t3.png"]
    assert lenient.notes == ["first", "", "last"]  # extra columns stay aligned
    with pytest.raises(MissingImageError, match=r"train.txt:3: lists .*t2.png"):
        _open(root, strict=True)
    strict_class = type("Strict", (ListedImages,), {"strict": True})
    with pytest.raises(MissingImageError):
        _open(root, cls=strict_class)


def test_subset_indexes_every_column_and_rechecksums(tmp_path):
    root = _tree(tmp_path)
    ds = _open(root)
    sub = ds.subset([3, 0])
    assert type(sub) is ListedImages and len(sub) == 2
    assert sub.sample_ids == ["img/t3.png", "img/t0.png"] and sub.notes == ["last", "first"]
    assert [p.name for p in sub.paths] == ["t3.png", "t0.png"] and sub.targets.tolist() == [1, 0]
    assert torch.equal(sub[0]["image"], ds[3]["image"])
    assert sub.checksum() == _expected_checksum(root, ["t3.png", "t0.png"], sub.sample_ids)
    assert sub.checksum() != ds.checksum() and len(ds) == 4  # the parent is unchanged


def test_cache_is_filled_then_read(tmp_path):
    root = _tree(tmp_path)
    first = _open(root, cache=tmp_path / "cache")
    assert isinstance(first.cache, ImageCache)
    images = [first[i]["image"] for i in range(len(first))]
    assert (first.cache.misses, first.cache.hits) == (4, 0)
    again = _open(root, cache=tmp_path / "cache")
    assert all(torch.equal(again[i]["image"], images[i]) for i in range(len(again)))
    assert (again.cache.misses, again.cache.hits) == (0, 4)
    assert _open(root, cache=False).cache is None


def _manifest(name="listed"):
    return SimpleNamespace(
        name=name, classes=CLASSES, options={}, modality="ct-slice", multilabel=False
    )


def test_open_finds_the_data_or_falls_back_to_the_phantom(tmp_path, monkeypatch):
    from covidnb.data import locate

    root = _tree(tmp_path)
    monkeypatch.setattr(locate, "find_dataset", lambda name, where=None: root)
    real = ListedImages.open(_manifest(), "test", image_size=8, cache=False)
    assert isinstance(real, ListedImages) and len(real) == 2 and not real.synthetic

    def absent(name, where=None):
        raise DatasetNotFound(name, [tmp_path], "ask the listed-images authors")

    monkeypatch.setattr(locate, "find_dataset", absent)
    with pytest.warns(SyntheticDataWarning) as caught:
        fake = ListedImages.open(_manifest(), "test", image_size=8, synthetic_n=5, seed=3)
    msg = str(caught[0].message)
    assert SYNTHETIC_BANNER in msg and "ask the listed-images authors" in msg
    assert isinstance(fake, SyntheticCTSlices) and fake.synthetic and len(fake) == 5
    assert fake.classes == CLASSES and fake.name == "synthetic-listed" and fake.info()["synthetic"]
    assert fake[0]["image"].shape == (1, 8, 8) and fake.sample_ids[0] == "synthetic/0"
    with pytest.raises(DatasetNotFound):
        ListedImages.open(_manifest(), "test", fallback="error")
    with pytest.raises(ValueError, match="fallback"):
        ListedImages.open(_manifest(), "test", fallback="maybe")


def test_every_manifest_kind_has_a_class_and_an_index():
    for name in list_manifests():
        man = load_manifest(name)
        cls = dataset_class(man.kind)
        assert cls.kind == man.kind and cls.index_split.__qualname__.startswith(cls.__name__)


def test_verify_view_equals_the_loaded_samples(shared_data):
    man = load_manifest("covid-ct")
    ds = open_dataset("covid-ct", "val", fallback="error", cache=False)
    listed = index_dataset(man, ds.root, "val")
    assert [r.sample_id for r in listed if r.label is not None] == ds.sample_ids
    assert [r.patient_id for r in listed] == ds.patient_ids


def test_reference_runs_checksums_are_reproduced(shared_data):
    """The committed reference runs recorded COVID-CT's checksums; the loader must give them."""
    recorded: dict[str, set[str]] = {}
    for path in sorted((REPO / "results").glob("*/*/config.json")):
        record = json.loads(path.read_text())
        if record["config"].get("subsample"):
            continue
        for split, info in record["provenance"]["datasets"].items():
            if info["name"] == "covid-ct" and not info["synthetic"]:
                recorded.setdefault(info["split"], set()).add(info["checksum"])
    if not recorded:
        pytest.skip("no committed COVID-CT reference runs")
    for split, sums in recorded.items():
        assert len(sums) == 1, f"runs disagree on the {split} checksum"
        ds = open_dataset("covid-ct", split, fallback="error", cache=False)
        assert ds.info()["checksum"] == sums.pop()
