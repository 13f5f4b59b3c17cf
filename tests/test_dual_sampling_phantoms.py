"""The dual-sampling chapter's 3-D phantoms: folds of one TV pool, Table III's ratio mix,
size-balanced draws, the mask channel, and the open_dataset route (labelled synthetic)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from covidnb.data import open_dataset
from covidnb.data.phantoms_3d import BELOW_0001_SHARE, DualSamplingPhantoms

SIZE = (12, 32, 32)
NAME = "ouyang2020-covid-cap-ct"


def _open(split, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(NAME, split, phantom="dual_sampling", volume_size=SIZE, **kw)


def test_folds_partition_one_pool():
    pool_ids = set()
    val_counts = []
    for k in range(5):
        tr = _open("train", n_folds=5, fold=k, tv_n=40)
        va = _open("val", n_folds=5, fold=k, tv_n=40)
        assert tr.synthetic and va.synthetic and isinstance(tr, DualSamplingPhantoms)
        assert not set(tr.sample_ids) & set(va.sample_ids)
        assert len(tr) + len(va) == 40
        pool_ids |= set(va.sample_ids)
        val_counts.append(va.class_counts())
    assert len(pool_ids) == 40  # every pool volume is in exactly one validation fold
    assert all(c == {"CAP": 4, "COVID-19": 4} for c in val_counts)  # stratified
    # a volume is the same in the fold where it validates and where it trains
    va0, tr1 = _open("val", n_folds=5, fold=0, tv_n=40), _open("train", n_folds=5, fold=1, tv_n=40)
    sid = va0.sample_ids[0]
    j = list(tr1.sample_ids).index(sid)
    torch.testing.assert_close(va0[0]["image"], tr1[j]["image"])
    te = _open("test", n_folds=5, fold=0, tv_n=40, synthetic_n=10)
    assert len(te) == 10 and te.split == "test"
    with pytest.raises(ValueError, match="fold 5"):
        _open("train", n_folds=5, fold=5, tv_n=40)


def test_ratio_mix_follows_table3_and_the_text_weights():
    ds = DualSamplingPhantoms("train", n=300, volume_size=SIZE, classes=["CAP", "COVID-19"], seed=3)
    r = ds.infection_ratios()
    covid, cap = ds.targets == 1, ds.targets == 0
    # Table III TV: COVID-19 > 0.030 in 57.1 %, CAP < 0.005 in 76.7 % (sampling error ±~6 %)
    assert abs((r[covid] > 0.030).mean() - 0.571) < 0.1
    assert abs((r[cap] < 0.005).mean() - 0.767) < 0.1
    # the text's W_large^cap ≈ 1.5: 60 % of CAP at ≤ 0.001
    assert abs((r[cap] <= 0.001).mean() - 0.767 * BELOW_0001_SHARE) < 0.12
    g = ds.size_groups()
    assert 0.7 < g.group_weights[0] < 2.5 and 0.7 < g.group_weights[3] < 2.5  # text: ≈ 1.5


def test_size_balanced_draws_follow_the_group_probabilities():
    ds = DualSamplingPhantoms("train", n=60, volume_size=SIZE, classes=["CAP", "COVID-19"],
                              sampling="size_balanced")
    g = ds.size_groups()
    torch.manual_seed(0)
    draws = np.array([ds.draw() for _ in range(6000)])
    freq = np.bincount(g.group[draws], minlength=4) / len(draws)
    np.testing.assert_allclose(freq, g.group_probabilities, atol=0.02)
    # within a group the pick is uniform
    members = np.flatnonzero(g.group == 0)
    counts = np.bincount(draws[g.group[draws] == 0], minlength=len(g.group))[members]
    assert counts.min() > 0.5 * counts.mean()
    # items of the training split are draws: a fixed seed gives the same sequence
    torch.manual_seed(1)
    a = [ds[0]["sample_id"] for _ in range(5)]
    torch.manual_seed(1)
    assert a == [ds[0]["sample_id"] for _ in range(5)] and len(set(a)) > 1
    # validation and test splits are never resampled
    val = DualSamplingPhantoms("val", n=6, volume_size=SIZE, classes=["CAP", "COVID-19"],
                               sampling="size_balanced")
    assert val.sampling is None and val[2]["sample_id"] == "synthetic/2"


def test_mask_channel_and_lung_masking():
    ds = _open("test", synthetic_n=6, channels=2)
    s = next(ds[i] for i in range(len(ds)) if ds[i]["infection_mask"].sum() > 0)
    assert s["image"].shape == (2, *SIZE)
    torch.testing.assert_close(s["image"][1], s["infection_mask"][0].float())
    assert (s["infection_mask"] <= s["lung_mask"]).all()
    assert s["image"][0][s["lung_mask"][0] == 0].abs().max() == 0  # masked after scaling


def test_phantom_options_need_the_phantom():
    with pytest.raises(ValueError, match="unknown volume phantom"):
        _open_raw(phantom="other")
    with pytest.raises(TypeError, match="phantom='dual_sampling'"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        open_dataset(NAME, "train", n_folds=5)
    with pytest.raises(ValueError, match="channels"):
        DualSamplingPhantoms("train", n=4, volume_size=SIZE, classes=["CAP", "COVID-19"], channels=3)


def _open_raw(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(NAME, "train", volume_size=SIZE, **kw)
