"""Threshold chosen on validation (Youden's J), worked by hand."""

import math

import pytest

from covidnb.metrics.operating import at_validation_threshold, one_class_share, youden_threshold


def test_youden_threshold_by_hand():
    # negatives 0.1, 0.2, 0.35; positives 0.3, 0.4, 0.45 (a model calibrated below 0.5)
    # t = 0.30 → TPR 1, FPR 1/3, J = 2/3;  t = 0.4 → TPR 2/3, FPR 0, J = 2/3; t = 0.45 → J = 1/3
    # tie at J = 2/3 between 0.30 and 0.40: the one closer to 0.5 wins
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.35, 0.3, 0.4, 0.45]
    assert youden_threshold(y, s) == pytest.approx(0.4)


def test_unique_best_threshold():
    y = [0, 0, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4]  # perfectly separated: J = 1 only at t = 0.3
    assert youden_threshold(y, s) == pytest.approx(0.3)


def test_one_class_validation_gives_nan():
    assert math.isnan(youden_threshold([1, 1, 1], [0.2, 0.3, 0.9]))
    out = at_validation_threshold([1, 1], [0.2, 0.3], [0, 1], [0.1, 0.9])
    assert math.isnan(out["threshold"])


def test_test_metrics_at_the_validation_threshold():
    # validation picks 0.4; on test, scores 0.38 / 0.42 / 0.41 / 0.2 with labels 0 1 1 0
    out = at_validation_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.35, 0.3, 0.4, 0.45],
                                  [0, 1, 1, 0], [0.38, 0.42, 0.41, 0.2])
    assert out["threshold"] == pytest.approx(0.4)
    assert (out["tp"], out["fp"], out["tn"], out["fn"]) == (2, 0, 2, 0)
    assert out["val_j"] == pytest.approx(2 / 3)
    # at the paper's 0.5 the same test scores call nothing positive
    assert one_class_share([0.38, 0.42, 0.41, 0.2], 0.5) == 1.0
    assert one_class_share([0.38, 0.42, 0.41, 0.2], 0.4) == 0.5
