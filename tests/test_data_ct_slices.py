"""CTSliceDataset on the real COVID-CT split and on small trees in the other layouts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from covidnb.data import CTSliceDataset, MissingImageError, open_dataset

OFFICIAL = {"train": (191, 234), "val": (60, 58), "test": (98, 105)}


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_official_split_counts(shared_data, split):
    ds = open_dataset("covid-ct", split, image_size=32, fallback="error")
    covid, noncovid = OFFICIAL[split]
    assert ds.class_counts() == {"CT_NonCOVID": noncovid, "CT_COVID": covid}
    assert ds.classes.index("CT_COVID") == 1
    assert not ds.synthetic and ds.root == shared_data / "covid-ct"
    # every image has a patient id from the two meta CSVs
    assert all(ds.patient_ids)


def test_patient_ids_come_from_the_meta_csvs(shared_data):
    ds = open_dataset("covid-ct", "train", image_size=32, fallback="error")
    meta = pd.read_csv(shared_data / "covid-ct" / "COVID-CT-MetaInfo.csv")
    expected = dict(zip(meta["File name"], meta["Patient ID"]))
    for sid, pid, y in zip(ds.sample_ids, ds.patient_ids, ds.targets):
        if y == 1:
            assert pid == expected[sid.rsplit("/", 1)[1]]
    non = pd.read_csv(shared_data / "covid-ct" / "NonCOVID-CT-MetaInfo.csv")
    first_non = next(s for s, y in zip(ds.sample_ids, ds.targets) if y == 0)
    assert (
        ds.patient_ids[ds.sample_ids.index(first_non)]
        == dict(zip(non["image name"], non["patient id"]))[first_non.rsplit("/", 1)[1]]
    )


def test_sample_contract(shared_data):
    ds = open_dataset("covid-ct", "val", image_size=32, channels=3, fallback="error")
    s = ds[len(ds) - 1]
    assert s["image"].shape == (3, 32, 32) and s["image"].dtype == torch.float32
    assert 0.0 <= float(s["image"].min()) and float(s["image"].max()) <= 1.0
    assert s["label"].dtype == torch.int64 and s["label"].ndim == 0
    assert s["sample_id"].startswith("Images-processed/") and s["source"] == "covid-ct"
    info = ds.info()
    assert set(info) == {"name", "split", "root", "n", "class_counts", "checksum", "synthetic"}
    assert info["n"] == 118 and len(info["checksum"]) == 64
    assert isinstance(ds.targets, np.ndarray) and ds.targets.shape == (118,)


def test_transform_is_applied_after_resize(mini_covid_ct):
    seen = []
    ds = CTSliceDataset(
        mini_covid_ct, "train", image_size=16, transform=lambda x: seen.append(x.shape) or x * 0
    )
    assert float(ds[0]["image"].sum()) == 0.0 and seen == [torch.Size([1, 16, 16])]


def test_checksum_depends_on_files_and_ids(mini_covid_ct):
    a = CTSliceDataset(mini_covid_ct, "train", image_size=16)
    b = CTSliceDataset(mini_covid_ct, "train", image_size=16)
    assert a.checksum() == b.checksum()
    assert a.subset([0]).checksum() != a.checksum()
    path = a.paths[0]
    with Image.open(path) as im:
        im.convert("L").save(path, format=im.format or "PNG")  # same name, other bytes
    assert CTSliceDataset(mini_covid_ct, "train", image_size=16).checksum() != a.checksum()


def test_listed_but_missing_image_names_split_file_line_and_path(mini_covid_ct):
    split_file = mini_covid_ct / "Data-split" / "COVID" / "valCT_COVID.txt"
    lines = split_file.read_text().splitlines()
    gone = mini_covid_ct / "Images-processed" / "CT_COVID" / lines[1]
    kept_copy = gone.read_bytes()
    gone.unlink()
    with pytest.raises(MissingImageError) as err:
        CTSliceDataset(mini_covid_ct, "val", image_size=16)
    msg = str(err.value)
    assert f"{split_file}:2" in msg and str(gone) in msg
    # nothing else was touched: the split file and the other images are intact
    assert split_file.read_text().splitlines() == lines
    assert (mini_covid_ct / "Images-processed" / "CT_COVID" / lines[0]).exists()
    lenient = CTSliceDataset(mini_covid_ct, "val", image_size=16, strict=False)
    assert lenient.class_counts() == {"CT_NonCOVID": 2, "CT_COVID": 1}
    gone.write_bytes(kept_copy)


def test_label_file_layout_covidx_ct_style(tmp_path, shared_data):
    root = tmp_path / "covidx-ct"
    (root / "images").mkdir(parents=True)
    src = sorted((shared_data / "covid-ct" / "Images-processed" / "CT_NonCOVID").glob("*.jpg"))[:3]
    names = ["NCP_96_1328_0032.png", "CP_7_3112_0001.png", "Normal_12_90_0005.png"]
    for s, n in zip(src, names):
        shutil.copy(s, root / "images" / n)
    (root / "train_COVIDx-CT.txt").write_text(
        "NCP_96_1328_0032.png 2 10 20 100 200\n"
        "CP_7_3112_0001.png 1 0 0 5 5\n"
        "Normal_12_90_0005.png 0 1 2 3 4\n"
    )
    ds = open_dataset("covidx-ct", "train", root=tmp_path, image_size=16, fallback="error")
    assert [ds.classes[t] for t in ds.targets] == ["COVID-19", "pneumonia", "normal"]
    assert ds.patient_ids == ["NCP_96", "CP_7", "Normal_12"]
    assert ds.bboxes[0] == [10.0, 20.0, 100.0, 200.0]
    (root / "val_COVIDx-CT.txt").write_text("NCP_96_1328_0032.png 7 0 0 1 1\n")
    with pytest.raises(ValueError, match=r"val_COVIDx-CT.txt:1"):
        open_dataset("covidx-ct", "val", root=tmp_path, image_size=16, fallback="error")


def test_class_folder_layout_sars_cov_2_style(tmp_path, shared_data):
    root = tmp_path / "sars-cov-2-ct"
    for cls, src_cls, k in (("COVID", "CT_COVID", 3), ("non-COVID", "CT_NonCOVID", 2)):
        (root / cls).mkdir(parents=True)
        for s in sorted((shared_data / "covid-ct" / "Images-processed" / src_cls).iterdir())[:k]:
            shutil.copy(s, root / cls / s.name)
    ds = open_dataset("sars-cov-2-ct", "all", root=tmp_path, image_size=16, fallback="error")
    assert ds.class_counts() == {"non-COVID": 2, "COVID": 3}
    assert ds[0]["image"].shape == (1, 16, 16)


def test_truncated_image_fails_on_load_naming_the_file(mini_covid_ct, isolated_cache):
    from covidnb.data import CorruptImageError

    ds = CTSliceDataset(mini_covid_ct, "test", image_size=16)
    victim = ds.paths[1]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(CorruptImageError) as err:
        ds[1]
    assert str(victim) in str(err.value)
    assert ds[0]["image"].shape == (1, 16, 16)  # the other samples still load
