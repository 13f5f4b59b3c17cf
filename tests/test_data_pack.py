"""The decoded COVID-CT pack (covidnb.data.pack): bit-identical samples and the same checksum as
the original files, on a small synthetic COVID-CT-layout tree (always) and on the staged real
data (when present); clear errors for a size the pack lacks and for damaged pack files; the GPU
bundle built with it, and a run trained from it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from covidnb.data import CTSliceDataset
from covidnb.data.pack import PACK_FILE, PackError, open_pack, write_pack
from covidnb.paths import REPO_ROOT

CLASSES = (("CT_COVID", "COVID"), ("CT_NonCOVID", "NonCOVID"))
SIZES = [(16, 3), (12, 1)]


def _image(kind: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    grey = (rng.random((40, 52)) * 255).astype(np.uint8)
    im = Image.fromarray(grey, "L")
    if kind == "L":
        return im
    rgb = im.convert("RGB")
    if kind == "RGB-grey":  # stored as RGB, identical channels (most COVID-CT files)
        return rgb
    ImageDraw.Draw(rgb).line((2, 2, 40, 30), fill=(255, 0, 0), width=3)  # a red arrow
    return rgb.convert("RGBA") if kind == "RGBA" else rgb


def build_tree(dest, per_split: int = 2):
    """A COVID-CT-layout tree with grey, RGB-grey, coloured, RGBA and JPEG-named-.png images,
    split files, meta CSVs and a SHA256SUMS over every file."""
    root = dest / "covid-ct"
    kinds = ["L", "RGB-grey", "RGB", "RGBA", "JPEG"]
    k = 0
    for cls, short in CLASSES:
        (root / "Images-processed" / cls).mkdir(parents=True)
        (root / "Data-split" / short).mkdir(parents=True)
        rows = []
        for split in ("train", "val", "test"):
            names = []
            for j in range(per_split):
                name, kind = f"{short}_{split}_{j}.png", kinds[k % len(kinds)]
                im = _image(kind, k)
                path = root / "Images-processed" / cls / name
                if kind == "JPEG":
                    im.convert("RGB").save(path, format="JPEG")  # named .png, JPEG inside
                else:
                    im.save(path, format="PNG")
                names.append(name)
                rows.append((name, f"p{k // 2}"))
                k += 1
            (root / "Data-split" / short / f"{split}{cls}.txt").write_text(
                "".join(n + "\n" for n in names))
        if short == "COVID":
            (root / "COVID-CT-MetaInfo.csv").write_text(
                "File name,Patient ID\n" + "".join(f"{n},{p}\n" for n, p in rows))
        else:
            (root / "NonCOVID-CT-MetaInfo.csv").write_text(
                "image name,patient id\n" + "".join(f"{n},{p}\n" for n, p in rows))
    (root / "PROVENANCE.md").write_text("synthetic test tree\n")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n"
             for p in sorted(root.rglob("*")) if p.is_file()]
    (root / "SHA256SUMS").write_text("".join(lines))
    return root


@pytest.fixture
def tree(tmp_path):
    return build_tree(tmp_path / "orig")


@pytest.fixture
def packed(tree, tmp_path):
    write_pack(tree, tmp_path / "pack" / "covid-ct", SIZES, preset=0, echo=lambda s: None)
    return tmp_path / "pack" / "covid-ct"


def assert_same(orig, pack, split, size, channels):
    a = CTSliceDataset(orig, split, image_size=size, channels=channels, cache=False)
    b = CTSliceDataset(pack, split, image_size=size, channels=channels, cache=False)
    assert a.pack is None and b.pack is not None
    assert len(a) == len(b) > 0
    assert b.sample_ids == a.sample_ids and b.patient_ids == a.patient_ids
    assert np.array_equal(b.targets, a.targets)
    for i in range(len(a)):
        x, y = a[i]["image"], b[i]["image"]
        assert x.shape == (channels, size, size) and torch.equal(x, y), a.sample_ids[i]
    assert b.checksum() == a.checksum()
    assert b.subset([0, len(b) - 1]).checksum() == a.subset([0, len(a) - 1]).checksum()
    return a, b


@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("size,channels", SIZES)
def test_packed_samples_are_bit_identical_with_the_same_checksum(tree, packed, split, size,
                                                                 channels):
    a, b = assert_same(tree, packed, split, size, channels)
    info = b.info()
    assert info["packed"] is True and info["checksum"] == a.info()["checksum"]
    assert info["pack_sha256"] == hashlib.sha256((packed / PACK_FILE).read_bytes()).hexdigest()
    assert "packed" not in a.info() and "pack_sha256" not in a.info()


def test_manifest_names_every_image_by_its_sha256_and_says_how_it_was_decoded(tree, packed):
    meta = json.loads((packed / PACK_FILE).read_text())
    sums = {rel: sha for sha, rel in (line.split("  ", 1) for line in
                                      (tree / "SHA256SUMS").read_text().splitlines())}
    assert len(meta["images"]) == 12
    for e in meta["images"]:
        assert e["sha256"] == sums[e["path"]]
        assert e["sha256"] == hashlib.sha256((tree / e["path"]).read_bytes()).hexdigest()
        assert not (packed / e["path"]).exists()  # no image file travels
    by_key = {s["key"]: s for s in meta["sizes"]}
    assert set(by_key) == {"16x16_c3", "12x12_c1"}
    assert all("load_resized_uint8" in s["decode"] and s["dtype"] == "uint8"
               for s in meta["sizes"])
    # 3 channels: grey images stored with one channel, coloured ones with three
    groups = {g["group"]: g for g in by_key["16x16_c3"]["groups"]}
    assert groups["grey"]["shape"][-1] == 1 and groups["colour"]["shape"][-1] == 3
    assert 0 < len(groups["colour"]["positions"]) < 12
    assert sorted(groups["grey"]["positions"] + groups["colour"]["positions"]) == list(range(12))
    for f in ("SHA256SUMS", "PROVENANCE.md", "COVID-CT-MetaInfo.csv",
              "Data-split/COVID/trainCT_COVID.txt"):
        assert (packed / f).read_bytes() == (tree / f).read_bytes()


def test_a_size_the_pack_lacks_is_a_clear_error(packed):
    with pytest.raises(PackError, match=r"covidnb-pack\.json: holds no 32 px × 3-channel.*"
                                        r"16 px × 3 channel\(s\), 12 px × 1 channel"):
        CTSliceDataset(packed, "train", image_size=32, channels=3, cache=False)
    with pytest.raises(PackError, match="holds no 16 px × 1-channel"):
        CTSliceDataset(packed, "train", image_size=16, channels=1, cache=False)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_array_file_is_a_clear_error_naming_it(packed, damage):
    f = min((packed / "packed").glob("16x16_c3.*"))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2] if damage == "truncate"
                  else data[:40] + bytes([data[40] ^ 1]) + data[41:])
    with pytest.raises(PackError, match=rf"{f.name}: corrupt or truncated"):
        CTSliceDataset(packed, "val", image_size=16, channels=3, cache=False)
    CTSliceDataset(packed, "val", image_size=12, channels=1, cache=False)  # other size intact
    f.unlink()
    with pytest.raises(PackError, match=rf"{f.name}: array file of the pack cannot be read"):
        CTSliceDataset(packed, "val", image_size=16, channels=3, cache=False)


def test_a_damaged_manifest_is_a_clear_error_naming_it(packed):
    (packed / PACK_FILE).write_text('{"format": "covidnb-pack", "vers')
    with pytest.raises(PackError, match=r"covidnb-pack\.json: not a readable pack manifest"):
        CTSliceDataset(packed, "val", image_size=16, channels=3, cache=False)


def test_files_present_win_over_the_pack(tree, packed):
    shutil.copy2(packed / PACK_FILE, tree / PACK_FILE)
    assert open_pack(tree) is None
    ds = CTSliceDataset(tree, "val", image_size=16, channels=3, cache=False)
    assert ds.pack is None and "packed" not in ds.info()


def test_packing_refuses_a_file_that_differs_from_sha256sums(tree, tmp_path):
    victim = next((tree / "Images-processed" / "CT_COVID").glob("*.png"))
    _image("L", 99).save(victim, format="PNG")
    with pytest.raises(PackError, match=rf"{victim.name}: its bytes differ from its sha256"):
        write_pack(tree, tmp_path / "p", SIZES, preset=0, echo=lambda s: None)
    (tree / "SHA256SUMS").unlink()
    with pytest.raises(PackError, match="SHA256SUMS: absent"):
        write_pack(tree, tmp_path / "p2", SIZES, preset=0, echo=lambda s: None)


def test_real_covid_ct_pack_is_bit_identical(shared_data, tmp_path):
    """The staged data: the val split (118 images, grey and coloured) at two small sizes."""
    orig = shared_data / "covid-ct"
    out = tmp_path / "covid-ct"
    write_pack(orig, out, [(32, 3), (24, 1)], split="val", preset=0, echo=lambda s: None)
    meta = json.loads((out / PACK_FILE).read_text())
    assert len(meta["images"]) == 118
    for size, channels in [(32, 3), (24, 1)]:
        assert_same(orig, out, "val", size, channels)


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bundle_packs_and_a_run_trains_from_the_pack(tmp_path, monkeypatch, capsys):
    gpu_bundle, gpu_paper = _load("gpu_bundle"), _load("gpu_paper")
    assert gpu_bundle.plan_sizes("paper") == [(224, 3), (256, 1)]
    tree = build_tree(tmp_path / "orig")
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path / "orig"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "b"
    assert gpu_bundle.main(["--out", str(out), "--profile", "smoke"]) == 0  # 32x3 and 64x1
    text = capsys.readouterr().out
    assert "packed/64x64_c1.grey.npy.xz" in text and "together:" in text
    bundle_ct = out / "data" / "covid-ct"
    assert (bundle_ct / PACK_FILE).is_file() and not list(bundle_ct.rglob("*.png"))
    assert gpu_bundle.main(["--out", str(out), "--sizes", "16x3", "--max-mib", "1"]) == 1
    assert "the COVID-CT pack alone is" in capsys.readouterr().err

    gpu_bundle.main(["--out", str(out), "--profile", "smoke"])
    monkeypatch.setenv("COVIDNB_DATA", str(out / "data"))
    rc = gpu_paper.main(["--out", str(tmp_path / "o"), "--profile", "smoke", "--max-steps", "1",
                         "--epochs", "1", "--items", "13"])
    assert rc == 0
    (row,) = json.loads((tmp_path / "o" / "summary.json").read_text())["runs"]
    assert row["status"] == "done" and not row["synthetic"]
    prov = json.loads(next((tmp_path / "o" / "store").rglob("config.json")).read_text())
    for split, rec in prov["provenance"]["datasets"].items():
        assert rec["packed"] is True, split
        raw = CTSliceDataset(tree, rec["split"], image_size=64, channels=1, cache=False)
        assert rec["checksum"] == raw.checksum() and rec["n"] == len(raw)
