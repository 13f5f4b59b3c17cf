"""subsample() by patient and check_leakage() across splits."""

from __future__ import annotations

from collections import Counter

import pytest

from covidnb.data import check_leakage, open_dataset, subsample
from covidnb.data.synthetic import SyntheticCTSlices


@pytest.fixture(scope="module")
def covid_ct_train():
    return open_dataset("covid-ct", "train", image_size=16, fallback="error")


def test_keep_quarter_of_covid_by_patient(shared_data, covid_ct_train):
    ds = covid_ct_train
    sub = subsample(ds, {"CT_COVID": 0.25}, seed=0)
    assert type(sub) is type(ds) and sub.classes == ds.classes and sub.name == ds.name
    counts = sub.class_counts()
    assert counts["CT_NonCOVID"] == 234  # untouched class
    target = round(0.25 * 191)
    per_patient = Counter(p for p, y in zip(ds.patient_ids, ds.targets) if y == 1)
    assert target <= counts["CT_COVID"] < target + max(per_patient.values())
    kept = Counter(p for p, y in zip(sub.patient_ids, sub.targets) if y == 1)
    assert all(kept[p] == per_patient[p] for p in kept)  # whole patients only
    assert sub.info()["n"] == len(sub) and sub.checksum() != ds.checksum()
    assert subsample(ds, {"CT_COVID": 0.25}, seed=0).sample_ids == sub.sample_ids
    assert subsample(ds, {"CT_COVID": 0.25}, seed=1).sample_ids != sub.sample_ids


def test_tiny_fraction_keeps_at_least_one(covid_ct_train):
    sub = subsample(covid_ct_train, {"CT_COVID": 0.001}, seed=3)
    assert sub.class_counts()["CT_COVID"] >= 1
    by_image = subsample(covid_ct_train, {"CT_COVID": 0.01}, seed=3, by_patient=False)
    assert by_image.class_counts()["CT_COVID"] == round(0.01 * 191)


def test_emptied_class_raises_naming_class_and_fraction(covid_ct_train):
    n_before = len(covid_ct_train)
    with pytest.raises(ValueError, match=r"keeping 0 of class 'CT_COVID'"):
        subsample(covid_ct_train, {"CT_COVID": 0.0})
    assert len(covid_ct_train) == n_before  # the input dataset is unchanged
    with pytest.raises(KeyError, match="CT_Other"):
        subsample(covid_ct_train, {"CT_Other": 0.5})
    empty = covid_ct_train.subset([i for i, y in enumerate(covid_ct_train.targets) if y == 0])
    with pytest.raises(ValueError, match=r"'CT_COVID' \(0 samples\)"):
        subsample(empty, {"CT_COVID": 0.5})


def test_covid_ct_official_split_has_no_patient_overlap(shared_data):
    splits = {
        s: open_dataset("covid-ct", s, image_size=16, fallback="error")
        for s in ("train", "val", "test")
    }
    report = check_leakage(splits)
    assert report.empty and list(report.columns) == [
        "patient_id",
        "splits",
        "n_images",
        "n_train",
        "n_val",
        "n_test",
    ]
    assert report.attrs["unknown"] == {"train": 0, "val": 0, "test": 0}


def test_leakage_found_when_a_patient_spans_splits():
    a = SyntheticCTSlices("train", n=4, image_size=8)
    b = SyntheticCTSlices("test", n=3, image_size=8)
    b.patient_ids = ["synthetic-1", "synthetic-1", ""]
    report = check_leakage({"train": a, "test": b})
    assert report.to_dict("records") == [
        {
            "patient_id": "synthetic-1",
            "splits": "train,test",
            "n_images": 3,
            "n_train": 1,
            "n_test": 2,
        }
    ]
    assert report.attrs["unknown"] == {"train": 0, "test": 1}
