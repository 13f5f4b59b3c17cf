"""NIH ChestX-ray14 on the 24 staged images and the full official box list."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidnb.data import NIH_LABELS, open_dataset, read_bbox_list, read_data_entry


def test_splits_and_labels_match_provenance(shared_data):
    tv = open_dataset("nih-chestxray14", "train_val", image_size=16, fallback="error")
    te = open_dataset("nih-chestxray14", "test", image_size=16, fallback="error")
    assert (len(tv), len(te)) == (16, 8)
    assert set(te.patient_ids) == {"00000003"}
    both = np.concatenate([tv.targets, te.targets])
    counts = dict(zip(NIH_LABELS, both.sum(axis=0).astype(int)))
    # PROVENANCE: No Finding 9, Hernia 8, Cardiomegaly 4, Infiltration 3, Effusion 2,
    # Emphysema 1, Mass 1, Nodule 1
    assert {k: v for k, v in counts.items() if v} == {
        "Hernia": 8,
        "Cardiomegaly": 4,
        "Infiltration": 3,
        "Effusion": 2,
        "Emphysema": 1,
        "Mass": 1,
        "Nodule": 1,
    }
    assert int(tv.normal.sum() + te.normal.sum()) == 9
    assert np.array_equal(np.concatenate([tv.normal, te.normal]) == 1, both.sum(axis=1) == 0)


def test_train_alias_and_sample_contract(shared_data):
    ds = open_dataset("nih-chestxray14", "train", image_size=16, fallback="error")
    assert ds.split == "train_val" and ds.multilabel
    i = ds.sample_ids.index("images/00000004_000.png")  # the RGBA file
    s = ds[i]
    assert s["image"].shape == (1, 16, 16)
    assert s["label"].dtype == torch.float32 and s["label"].shape == (14,)
    assert float(s["normal"]) in (0.0, 1.0)
    assert ds.targets.shape == (16, 14)
    assert ds.classes == NIH_LABELS
    with pytest.raises(ValueError, match="available: train_val"):
        open_dataset("nih-chestxray14", "validation", fallback="error")


def test_data_entry_header_quirks(shared_data):
    df = read_data_entry(shared_data / "nih-chestxray14" / "Data_Entry_2017.csv")
    assert len(df) == 24
    row = df.iloc[1]
    assert row["Finding Labels"] == "Cardiomegaly|Emphysema" and row["Patient ID"] == "00000001"
    assert row["OriginalImage Width"] == "2894" and row["OriginalImagePixelSpacing y"] == "0.143"


def test_official_box_list_and_lookup(shared_data, tmp_path):
    boxes = read_bbox_list(
        shared_data / "nih-chestxray14" / "original-lists" / "BBox_List_2017.csv"
    )
    assert len(boxes) == 984
    counts = boxes["Finding Label"].value_counts().to_dict()
    # PROVENANCE: Atelectasis 180, Effusion 153, Cardiomegaly 146, Infiltrate 123, ...
    assert counts["Atelectasis"] == 180 and counts["Infiltration"] == 123 and counts["Nodule"] == 79
    ds = open_dataset("nih-chestxray14", "test", image_size=16, fallback="error")
    assert ds.bboxes(ds.sample_ids[0]) == []  # PROVENANCE: no staged image has a box
    ds.bbox_table = boxes
    first = boxes.iloc[0]
    got = ds.bboxes("images/" + first["Image Index"])
    assert (
        got
        and got[0]["label"] == first["Finding Label"]
        and got[0]["x"] == pytest.approx(first["x"])
    )
