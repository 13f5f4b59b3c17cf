"""The grouped probe of the shortcut audit (covidnb.metrics.probe)."""

import numpy as np
import pytest

from covidnb.metrics.probe import grouped_probe, out_of_fold_scores


def _patients(n_groups=30, per=3, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per)
    group_label = np.arange(n_groups) % 2
    return rng, groups, group_label[groups]


def test_a_visible_label_is_found_and_beats_its_permutations():
    rng, groups, y = _patients()
    x = rng.normal(size=(len(y), 20))
    x[:, 0] += 3.0 * y  # the label is written in one feature
    res = grouped_probe(x, y, groups, permutations=19)
    assert res["auc"] > 0.9
    assert res["p_value"] == pytest.approx(1 / 20)  # no shuffling reaches it
    assert res["null_mean"] < 0.7 and (res["images"], res["groups"]) == (90, 30)


def test_a_patient_fingerprint_does_not_leak_across_folds():
    # every patient's images share a random fingerprint and the label is the patient's, but no
    # feature carries the label itself: grouped folds never test on a patient seen in training,
    # so the probe is at chance, where folds that split patients would score near 1
    rng, groups, y = _patients(n_groups=40, per=4)
    y = rng.permutation(np.repeat(np.arange(40) % 2, 1))[groups]
    fingerprint = rng.normal(size=(40, 30))[groups] + 0.05 * rng.normal(size=(len(groups), 30))
    oof = out_of_fold_scores(fingerprint, y, groups)
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict, KFold
    from sklearn.linear_model import LogisticRegression

    assert abs(roc_auc_score(y, oof) - 0.5) < 0.2
    leaky = cross_val_predict(LogisticRegression(max_iter=5000), fingerprint, y,
                              cv=KFold(5, shuffle=True, random_state=0), method="predict_proba")[:, 1]
    assert roc_auc_score(y, leaky) > 0.9  # the leak the grouped folds close


def test_p_value_counts_the_observed_labelling():
    rng, groups, y = _patients()
    x = rng.normal(size=(len(y), 5))  # nothing to find
    res = grouped_probe(x, y, groups, permutations=9)
    k = round(res["p_value"] * 10) - 1
    assert 0 <= k <= 9 and res["p_value"] == pytest.approx((1 + k) / 10)
    assert res["p_value"] > 0.1


def test_bad_input_is_refused():
    _, groups, y = _patients(n_groups=4, per=2)
    x = np.zeros((len(y), 3))
    mixed = y.copy()
    mixed[0] = 1 - mixed[0]
    with pytest.raises(ValueError, match="one label per group"):
        grouped_probe(x, mixed, groups, permutations=0)
    with pytest.raises(ValueError, match="binary labels"):
        grouped_probe(x, y + 1, groups, permutations=0)
