"""Chest X-ray loaders on the staged real subsets (Cohen, Figure 1, COVIDx labels, CoronaHack)."""

from __future__ import annotations

import shutil

import pytest

from covidnb.data import (
    COVIDxDataset,
    MissingImageError,
    map_finding,
    open_dataset,
    read_coronahack_metadata,
)
from covidnb.data.manifest import load_manifest


def test_map_finding_flat_and_hierarchical():
    assert map_finding("COVID-19") == "COVID-19"
    assert map_finding("COVID-19, ARDS") == "COVID-19"
    assert map_finding("Pneumonia/Viral/COVID-19") == "COVID-19"
    assert map_finding("Pneumonia/Bacterial/Streptococcus") == "pneumonia"
    assert map_finding("SARS") == "pneumonia"
    assert map_finding("No Finding") == "normal" and map_finding("No finding") == "normal"
    assert map_finding("ARDS") is None and map_finding("todo") is None and map_finding("") is None


def test_cohen_subset_counts_match_provenance(shared_data):
    ds = open_dataset("cohen-covid-chestxray", "all", image_size=16, fallback="error")
    # PROVENANCE: COVID-19 30, No Finding 19, SARS 11 + Streptococcus 9 + Pneumocystis 2,
    # ARDS 4 (left out)
    assert ds.class_counts() == {"normal": 19, "pneumonia": 22, "COVID-19": 30}
    assert dict(ds.excluded) == {"ARDS": 4}
    assert len(set(ds.patient_ids)) == 42 - 4  # 42 patients, the 4 ARDS ones left out
    s = ds[0]
    assert s["image"].shape == (1, 16, 16) and s["source"] == "cohen-covid-chestxray"


def test_figure1_latin1_metadata_loads(shared_data):
    raw = (shared_data / "figure1-covid-chestxray-dataset" / "metadata.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    ds = open_dataset("figure1-covid-chestxray", "all", image_size=16, fallback="error")
    # PROVENANCE: COVID-19 35, blank 15, No finding 3, Pneumonia 2
    assert ds.class_counts() == {"normal": 3, "pneumonia": 2, "COVID-19": 35}
    assert ds.excluded["(blank)"] == 15
    assert all(sid.startswith("images/COVID-") for sid in ds.sample_ids)


@pytest.mark.parametrize(
    "version, split, n, covid", [(3, "train", 54, 39), (3, "test", 19, 15), (5, "train", 67, 52)]
)
def test_covidx_lines_resolve_into_source_folders(shared_data, version, split, n, covid):
    ds = open_dataset("covidx-cxr", split, version=version, image_size=16, fallback="error")
    assert (
        len(ds) == n and ds.class_counts()["COVID-19"] == covid and ds.class_counts()["normal"] == 0
    )
    assert set(ds.sources) == {"cohen", "figure1"}
    assert all(sid.startswith(f"{split}/") for sid in ds.sample_ids)
    assert all(p.is_file() for p in ds.paths)
    assert all(pid.split(":")[0] in ("cohen", "figure1") for pid in ds.patient_ids)


def test_covidx_line_without_source_is_found(shared_data):
    ds = open_dataset("covidx-cxr", "test", image_size=16, fallback="error")
    i = ds.sample_ids.index("test/SARS-10.1148rg.242035193-g04mr34g05x-Fig5-day9.jpeg")
    assert ds.sources[i] == "cohen" and ds.patient_ids[i] == "cohen:8"


def test_covidx_absent_images_dropped_by_default_strict_raises(shared_data, tmp_path, caplog):
    root = tmp_path / "covidx-cxr"
    root.mkdir()
    lines = (shared_data / "covidx-labels" / "train_COVIDx3.txt").read_text().splitlines()[:3]
    lines.append("999 not-staged-anywhere.png normal rsna")
    (root / "train_COVIDx3.txt").write_text("\n".join(lines) + "\n")
    man = load_manifest("covidx-cxr")
    with caplog.at_level("INFO", logger="covidnb.data"):
        ds = COVIDxDataset(root, "train", options=man.options, classes=man.classes, image_size=16)
    assert len(ds) == 3 and "1 listed images are not present" in caplog.text
    with pytest.raises(MissingImageError) as err:
        COVIDxDataset(
            root, "train", options=man.options, classes=man.classes, image_size=16, strict=True
        )
    assert "train_COVIDx3.txt:4" in str(err.value) and "not-staged-anywhere.png" in str(err.value)


def test_covidx_full_layout_folder_is_preferred(shared_data, tmp_path):
    root = tmp_path / "covidx-cxr"
    (root / "test").mkdir(parents=True)
    line = (shared_data / "covidx-labels" / "test_COVIDx3.txt").read_text().splitlines()[0]
    fname = line.split()[1]
    shutil.copy(
        shared_data / "figure1-covid-chestxray-dataset" / "images" / "COVID-00001.jpg",
        root / "test" / fname,
    )
    (root / "test_COVIDx3.txt").write_text(line + "\n")
    ds = open_dataset("covidx-cxr", "test", root=tmp_path, image_size=16, fallback="error")
    assert ds.paths == [root / "test" / fname]


def test_coronahack_full_metadata_matches_provenance(shared_data):
    df = read_coronahack_metadata(
        shared_data / "coronahack-labels" / "original" / "Chest_xray_Corona_Metadata.csv"
    )
    # PROVENANCE: 5,910 rows (TRAIN 5,286, TEST 624); Normal 1,576; Virus/COVID-19 58
    assert len(df) == 5910 and (df["Dataset_type"] == "TRAIN").sum() == 5286
    counts = df["class"].value_counts().to_dict()
    assert counts["normal"] == 1576 and counts["COVID-19"] == 58
    assert counts["pneumonia"] == 5910 - 1576 - 58


def test_coronahack_subset_reads_images_from_cohen(shared_data):
    ds = open_dataset("coronahack", "train", image_size=16, fallback="error")
    # PROVENANCE: 20 TRAIN rows: COVID-19 8, Streptococcus 5, SARS 4, ARDS 2, Normal 1
    assert ds.class_counts() == {"normal": 1, "pneumonia": 11, "COVID-19": 8}
    assert all("covid-chestxray-dataset" in str(p) for p in ds.paths)
    assert len(open_dataset("coronahack", "test", image_size=16, fallback="error")) == 0
