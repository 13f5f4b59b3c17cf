"""Dual-sampling ensemble (Eq. 5) and the size-balanced group weights, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from covidnb.chapters.dual_sampling_ensemble import (
    PRINTED,
    SWAPPED,
    EnsembleRule,
    ensemble,
    ensemble_weight,
    grid_search,
)
from covidnb.sampling import size_groups


def test_printed_rule_and_band_edges():
    ratio = [0.0005, 0.01, 0.05, 0.001, 0.030]
    # < 0.001 or > 0.030 → 0.35; the edges 0.001 and 0.030 themselves are inside the band
    np.testing.assert_allclose(ensemble_weight(ratio, PRINTED), [0.35, 0.96, 0.35, 0.96, 0.96])
    np.testing.assert_allclose(ensemble_weight(ratio, SWAPPED), [0.96, 0.35, 0.96, 0.35, 0.35])


def test_eq5_by_hand():
    # 0.35 · 0.8 + 0.65 · 0.2 = 0.41; 0.96 · 0.8 + 0.04 · 0.2 = 0.776
    out = ensemble([0.8, 0.8], [0.2, 0.2], [0.0005, 0.01])
    np.testing.assert_allclose(out, [0.41, 0.776])
    with pytest.raises(ValueError, match="no infection ratio"):
        ensemble([0.5], [0.5], [float("nan")])
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        EnsembleRule(1.5, 0.5)


def test_grid_search_finds_the_weights_that_fit():
    # inside the band only SS is right, outside only US: the search must pick w_in = 0, w_out = 1
    ratio = np.array([0.01, 0.01, 0.1, 0.1])
    y = np.array([1, 0, 1, 0])
    p_us = np.array([0.0, 0.95, 0.6, 0.1])
    p_ss = np.array([0.9, 0.1, 0.0, 0.95])  # an even mix (w = 0.5) is wrong on every case
    rule, acc = grid_search(p_us, p_ss, ratio, y, grid=[0.0, 0.5, 1.0])
    assert (rule.w_inside, rule.w_outside, acc) == (0.0, 1.0, 1.0)


def test_group_weights_by_hand_from_table3_shares():
    # 1000 COVID-19 cases with Table III's TV shares: < 0.030 = 0.138 + 0.291 = 0.429 → 429 small,
    # 571 large → W_small^covid = 571 / 429; 600 CAP ≤ 0.001 and 400 above → W_large^cap = 1.5
    covid = np.r_[np.ones(1000), np.zeros(1000)]
    ratio = np.r_[np.full(429, 0.01), np.full(571, 0.1), np.full(600, 0.0005), np.full(400, 0.004)]
    g = size_groups(covid, ratio)
    assert g.counts.tolist() == [429, 571, 600, 400]
    np.testing.assert_allclose(g.group_weights, [571 / 429, 1, 1, 1.5])
    np.testing.assert_allclose(g.group_probabilities, np.array([571 / 429, 1, 1, 1.5]) / (571 / 429 + 3.5))
