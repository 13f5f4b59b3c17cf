import numpy as np
import pytest

from covidnb.sampling import (
    class_balanced_sampler,
    class_balanced_weights,
    size_balanced_sampler,
    size_balanced_weights,
    size_groups,
)


def test_class_balanced_weights_known_values():
    w = class_balanced_weights([0, 0, 0, 1])
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3, 1.0])


def test_class_balanced_sampler_draws_classes_evenly():
    y = np.array([0] * 90 + [1] * 10)
    idx = np.array(list(class_balanced_sampler(y, num_samples=20000, seed=1)))
    assert abs((y[idx] == 1).mean() - 0.5) < 0.02


def test_size_groups_follow_the_paper_thresholds_and_weights():
    # 2 small COVID (<0.030), 3 large COVID, 4 small CAP (<=0.001), 1 large CAP (>0.001)
    covid = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    ratio = [0.01, 0.029, 0.03, 0.2, 0.5, 0.0, 0.0005, 0.001, 0.0009, 0.05]
    g = size_groups(covid, ratio)
    assert g.group.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 3]
    assert g.counts.tolist() == [2, 3, 4, 1]
    # W = [N_large^covid / N_small^covid, 1, 1, N_small^cap / N_large^cap] = [3/2, 1, 1, 4]
    np.testing.assert_allclose(g.group_weights, [1.5, 1, 1, 4])
    np.testing.assert_allclose(g.group_probabilities, np.array([1.5, 1, 1, 4]) / 7.5)


def test_size_balanced_weights_give_group_probabilities():
    covid = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    ratio = [0.01, 0.029, 0.03, 0.2, 0.5, 0.0, 0.0005, 0.001, 0.0009, 0.05]
    w = size_balanced_weights(covid, ratio)
    g = size_groups(covid, ratio)
    per_group = [w[g.group == k].sum() for k in range(4)]
    np.testing.assert_allclose(per_group, g.group_probabilities)
    idx = np.array(list(size_balanced_sampler(covid, ratio, num_samples=30000, seed=0)))
    freq = np.bincount(g.group[idx], minlength=4) / len(idx)
    np.testing.assert_allclose(freq, g.group_probabilities, atol=0.015)


def test_size_groups_reject_empty_group_and_bad_ratio():
    with pytest.raises(ValueError, match="cap_large"):
        size_groups([1, 1, 0], [0.01, 0.5, 0.0])
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        size_groups([1, 0], [float("nan"), 0.1])
