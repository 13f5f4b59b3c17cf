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


def test_no_threshold_when_validation_ranks_no_better_than_chance():
    # the validation scores rank the classes backwards (AUC 1/9): every J is noise, so the rule
    # keeps no threshold (the paper's 0.5 stays) instead of an extreme one
    y = [0, 0, 0, 1, 1, 1]
    s = [0.6, 0.7, 0.8, 0.1, 0.2, 0.65]
    assert math.isnan(youden_threshold(y, s))
    out = at_validation_threshold(y, s, [0, 1], [0.3, 0.6])
    assert math.isnan(out["threshold"]) and "no evidence" in out["why"]
    # the same scores the right way round do get one: J = 2/3 at 0.8 and at 0.35, the nearer 0.5
    assert youden_threshold(y, [1 - v for v in s]) == pytest.approx(0.35)


# -- several classes: offsets on the log-probabilities (balanced accuracy) ---------------------
# Two images per class; the class-1 images have their highest probability on class 2, so the
# argmax never calls class 1: balanced accuracy (1 + 0 + 1) / 3.
VAL_Y = [0, 0, 1, 1, 2, 2]
VAL_P = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1],
         [0.1, 0.4, 0.5], [0.15, 0.4, 0.45],
         [0.1, 0.2, 0.7], [0.1, 0.3, 0.6]]


def test_class_offsets_by_hand():
    import numpy as np

    from covidnb.metrics.operating import balanced_accuracy, class_offsets, predict_with_offsets

    assert balanced_accuracy(VAL_Y, np.argmax(VAL_P, 1), 3) == pytest.approx(2 / 3)
    b = class_offsets(VAL_Y, VAL_P)
    # class 1 must gain on class 2 by more than log(0.5 / 0.4) = 0.223 for both class-1 images,
    # and by less than log(0.6 / 0.3) = 0.693, or the second class-2 image turns class 1: the
    # smallest grid step that does it is 0.25 (spread 0.25; a step of 0 leaves 2 / 3)
    assert b[0] == 0 and np.ptp(b) == pytest.approx(0.25)
    assert b[1] - b[2] == pytest.approx(0.25)
    assert list(predict_with_offsets(VAL_P, b)) == VAL_Y
    # a validation split the argmax already gets right keeps the argmax (all offsets 0)
    right = [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]
    assert list(class_offsets([0, 1, 2], right)) == [0, 0, 0]


def test_class_offsets_undefined():
    from covidnb.metrics.operating import class_offsets

    assert class_offsets([0, 0, 2, 2], [[0.7, 0.2, 0.1]] * 2 + [[0.1, 0.2, 0.7]] * 2) is None
    # probabilities that rank every class backwards (macro AUC 0) choose nothing
    backwards = [[0.1, 0.45, 0.45], [0.45, 0.1, 0.45], [0.45, 0.45, 0.1]]
    assert class_offsets([0, 1, 2], backwards) is None
    with pytest.raises(ValueError, match="5 classes"):
        class_offsets([0, 1, 2, 3, 4], [[0.2] * 5] * 5)


def test_balanced_accuracy_is_scikit_learn_s():
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score

    from covidnb.metrics.operating import balanced_accuracy

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    assert balanced_accuracy(y, pred, 3) == pytest.approx(balanced_accuracy_score(y, pred))
    # a class with no sample: undefined here (scikit-learn would average the other two)
    assert math.isnan(balanced_accuracy([0, 0, 2], [0, 1, 2], 3))


def test_two_classes_offsets_reach_youden_s_balanced_accuracy():
    # for two classes, max balanced accuracy = (max J + 1) / 2 (Youden). Log-odds on a 0.5 grid
    # inside ±3 leave an offset of the 0.25 grid between any two neighbours, so the offsets can
    # reach every threshold Youden's rule can
    import numpy as np

    from covidnb.metrics.operating import balanced_accuracy, class_offsets, predict_with_offsets

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    logit = np.clip(rng.integers(-4, 3, 60) + y, -2, 2) * 0.5 + 0.5 * rng.integers(0, 2, 60)
    p1 = 1 / (1 + np.exp(-logit))
    probs = np.stack([1 - p1, p1], 1)
    t = youden_threshold(y, p1)
    best_j = np.mean(p1[y == 1] >= t) - np.mean(p1[y == 0] >= t)
    b = class_offsets(y, probs)
    assert balanced_accuracy(y, predict_with_offsets(probs, b), 2) == pytest.approx((best_j + 1) / 2)


def test_test_metrics_at_the_validation_offsets():
    from covidnb.metrics.operating import MULTICLASS_RULE, at_validation_offsets

    test_y = [0, 1, 1, 2]
    test_p = [[0.5, 0.2, 0.3], [0.1, 0.42, 0.48], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
    out = at_validation_offsets(VAL_Y, VAL_P, test_y, test_p, ["a", "b", "c"])
    # offsets (b − c = 0.25): image 2 turns class 1 (0.42·e^0.25 = 0.54 > 0.48), image 3 does not
    # (0.3·e^0.25 = 0.385 < 0.5)
    assert out["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert out["accuracy"] == pytest.approx(0.75) and out["n"] == 4
    assert out["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert out["val_balanced_accuracy"] == pytest.approx(1.0)
    assert out["rule"] == MULTICLASS_RULE and set(out["offsets"]) == {"a", "b", "c"}
    none = at_validation_offsets([0, 0, 1], [[0.6, 0.3, 0.1]] * 3, test_y, test_p, ["a", "b", "c"])
    assert none["offsets"] is None and "why" not in none  # class c absent: nothing to choose on


def test_many_classes_record_no_offsets_instead_of_failing_the_run():
    from covidnb.metrics.operating import at_validation_offsets

    probs = [[0.2] * 5] * 5
    out = at_validation_offsets([0, 1, 2, 3, 4], probs, [0, 1], probs[:2], list("abcde"))
    assert out["offsets"] is None and "5 classes" in out["why"]


def test_balanced_accuracy_and_most_called_share_from_a_confusion_matrix():
    from covidnb.metrics.operating import balanced_accuracy_from_confusion, most_called_share

    cm = [[2, 1, 0], [0, 2, 1], [1, 0, 3]]  # rows: true class; columns: called class
    assert balanced_accuracy_from_confusion(cm) == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3)
    assert most_called_share(cm) == pytest.approx(4 / 10)
    assert math.isnan(balanced_accuracy_from_confusion([[1, 0], [0, 0]]))  # class 2 absent
    assert math.isnan(most_called_share(None)) and math.isnan(balanced_accuracy_from_confusion([]))
