"""Phantoms: deterministic, same contract as real data, learnable but not trivial."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from covidnb.data import (
    SYNTHETIC_BANNER,
    SyntheticCTSlices,
    SyntheticCXR,
    SyntheticCXR14,
    SyntheticVolumes,
    subsample,
    synthetic_warning,
)
from covidnb.data.synthetic import TABLE3_MIX, pattern_of


def test_deterministic_by_seed_and_split():
    a, b = (
        SyntheticCTSlices("train", n=6, image_size=24, seed=1),
        SyntheticCTSlices("train", n=6, image_size=24, seed=1),
    )
    assert torch.equal(a[3]["image"], b[3]["image"]) and np.array_equal(a.targets, b.targets)
    c = SyntheticCTSlices("train", n=6, image_size=24, seed=2)
    d = SyntheticCTSlices("test", n=6, image_size=24, seed=1)
    assert not torch.equal(a[3]["image"], c[3]["image"]) and not torch.equal(
        a[3]["image"], d[3]["image"]
    )
    assert a.checksum() == b.checksum() != c.checksum()


def test_contract_and_banner():
    ds = SyntheticCXR(
        "val", n=9, image_size=20, channels=3, classes=["normal", "pneumonia", "COVID-19"]
    )
    s = ds[4]
    assert s["image"].shape == (3, 20, 20) and s["image"].dtype == torch.float32
    assert 0.0 <= float(s["image"].min()) and float(s["image"].max()) <= 1.0
    assert (
        s["sample_id"] == "synthetic/4"
        and s["source"] == "synthetic"
        and s["label"].dtype == torch.int64
    )
    info = ds.info()
    assert (
        info["synthetic"] is True
        and info["root"] is None
        and info["class_counts"] == {"normal": 3, "pneumonia": 3, "COVID-19": 3}
    )
    assert SYNTHETIC_BANNER in synthetic_warning(ds) and synthetic_warning(object()) == ""


def test_subset_keeps_generation(tmp_path):
    ds = SyntheticCTSlices("train", n=10, image_size=16)
    sub = ds.subset([7, 2])
    assert torch.equal(sub[0]["image"], ds[7]["image"]) and sub.sample_ids == [
        "synthetic/7",
        "synthetic/2",
    ]
    assert sub.checksum() != ds.checksum()
    assert len(subsample(ds, {"CT_COVID": 0.2}, seed=0)) < len(ds)


def test_class_patterns_follow_names():
    assert pattern_of("CT_COVID", 1, 2) == "covid" and pattern_of("CT_NonCOVID", 0, 2) == "normal"
    assert (
        pattern_of("bacterial pneumonia", 1, 3) == "pneumonia" and pattern_of("CAP", 0, 2) == "cap"
    )
    assert pattern_of("CT-3", 3, 5) == "severity3"


def _features(ds):
    return np.stack([ds[i]["image"].numpy().ravel() for i in range(len(ds))])


def test_ct_phantoms_learnable_but_not_trivial():
    tr, te = (
        SyntheticCTSlices("train", n=160, image_size=24),
        SyntheticCTSlices("test", n=80, image_size=24),
    )
    clf = LogisticRegression(max_iter=3000, C=0.1).fit(_features(tr), tr.targets)
    acc = (clf.predict(_features(te)) == te.targets).mean()
    assert 0.6 < acc < 0.99  # better than chance (0.5), not perfectly separable


def test_cxr14_normal_flag_and_multilabel():
    ds = SyntheticCXR14("train", n=30, image_size=16)
    assert ds.multilabel and ds.targets.shape == (30, 14)
    assert np.array_equal(ds.normal == 1, ds.targets.sum(axis=1) == 0)
    s = ds[0]
    assert s["label"].dtype == torch.float32 and float(s["normal"]) == ds.normal[0]


def test_volume_infection_ratio_groups_follow_table3():
    ds = SyntheticVolumes("train", n=40, volume_size=(12, 40, 40), classes=["CAP", "COVID-19"])
    ratios = np.array([ds.infection_ratio(i) for i in range(len(ds))])
    s = ds[0]
    assert s["image"].shape == (1, 12, 40, 40) and s["lung_mask"].dtype == torch.uint8
    assert (
        (s["infection_mask"] == 1) <= (s["lung_mask"] == 1)
    ).all()  # lesions lie inside the lungs
    big = ratios > 0.03
    covid, cap = ds.targets == 1, ds.targets == 0
    # Table III: > 0.030 in 57 % of COVID-19 scans, 6.5 % of CAP scans
    assert big[covid].mean() > big[cap].mean()
    assert TABLE3_MIX["covid"][2] == 0.571 and TABLE3_MIX["cap"][0] == 0.767
