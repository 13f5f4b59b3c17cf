"""The label-matrix analyses of the DeepCXray chapter, on label frames worked by hand."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from covidnb.data import chestxray14_labels as L

LABELS = ["A", "B"]


def _frame(rows, patients=None):
    f = pd.DataFrame(rows, columns=LABELS)
    f.insert(0, "patient_id", patients or [f"{i:08d}" for i in range(len(rows))])
    return f


def test_prevalence_cooccurrence_and_counts_by_hand():
    f = _frame([[1, 1], [1, 0], [0, 0], [0, 0]], ["00000001", "00000001", "00000002", "00000003"])
    f["split"] = ["train", "train", "test", "test"]
    prev = L.prevalence(f, LABELS)
    assert prev[("all", "positives")].tolist() == [2, 1, 2]  # A, B, No Finding
    assert prev[("test", "prevalence")].tolist() == [0.0, 0.0, 1.0]
    co = L.cooccurrence(f, LABELS)
    assert co.to_numpy().tolist() == [[2, 1], [1, 1]]
    assert L.cooccurrence(f, LABELS, conditional=True).loc["A", "B"] == 0.5
    assert L.labels_per_image(f, LABELS).tolist() == [2, 1, 1]
    per = L.images_per_patient(f)
    assert per["patients"] == 3 and per["max"] == 2 and per["share of images from multi-image patients"] == 0.5


def test_hypergeometric_no_positive_by_hand():
    # 10 images, 3 with A, batch of 4: C(7,4)/C(10,4) = 35/210
    assert L.p_none_in_batch(10, 3, batch=4) == pytest.approx(comb(7, 4) / comb(10, 4))
    assert L.p_none_in_batch(10, 8, batch=4) == 0.0  # fewer than 4 images without A
    assert L.p_none_in_batch(10, 0, batch=4) == pytest.approx(1.0)


def test_wcel_infinite_probability_both_readings():
    # 6 images: 4 "No Finding", 2 with A only. Batch of 2.
    f = _frame([[0, 0]] * 4 + [[1, 0]] * 2)
    # batch-wide: both images No Finding: C(4,2)/C(6,2) = 6/15
    assert L.wcel_infinite_probability(f, LABELS, batch=2, reading="batch") == pytest.approx(6 / 15)
    # B is never positive: per finding, every batch has an infinite weight
    assert L.wcel_infinite_probability(f, LABELS, batch=2, reading="finding") == 1.0
    # the auxiliary normal column gives every image a one
    assert L.wcel_infinite_probability(f, LABELS, batch=2, include_normal=True) == 0.0
    with pytest.raises(ValueError, match="reading"):
        L.wcel_infinite_probability(f, LABELS, reading="image")


def test_epoch_shares_agree_with_the_formula():
    rng = np.random.default_rng(0)
    f = _frame((rng.random((4000, 2)) < [0.1, 0.3]).astype(int).tolist())
    table = L.no_positive_table(f, LABELS, batch=8)
    shares = L.epoch_batch_shares(f, LABELS, batch=8, epochs=40, seed=1)
    assert shares["batches"] == 500 * 40
    np.testing.assert_allclose(shares[LABELS].to_numpy(), table["P(no positive)"], atol=0.01)
    n_normal = int((f[LABELS].sum(axis=1) == 0).sum())
    assert shares["whole batch"] == pytest.approx(L.p_none_in_batch(4000, 4000 - n_normal, 8), abs=0.01)


def test_steps_to_failure():
    got = L.steps_to_failure(0.001, {"a": 1000})
    assert got["a"] == pytest.approx(1 - 0.999**1000)
    assert L.steps_to_failure(1.0, {"a": 5})["a"] == 1.0


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lacks finding column\(s\) \['B'\]"):
        L.prevalence(pd.DataFrame({"A": [1]}), LABELS)
