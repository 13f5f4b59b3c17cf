"""Fig. 10 of the pepx_resnet chapter from the per-epoch ``val_f1_<k>`` history columns (issue 15,
item 4), and the fall-back when a record has none."""

import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from covidnb.chapters import pepx_resnet_view as view
from covidnb.chapters.pepx_resnet import CLASSES
from covidnb.chapters.registry import get_chapter


def _run(seed, loss, f1_rows=None, classes=CLASSES):
    config = {**get_chapter("pepx_resnet").grid("smoke")[0], "seed": seed, "loss": loss}
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.9, 0.8], "val_auc": [0.5, 0.6, 0.7]})
    if f1_rows is not None:
        for k, col in enumerate(np.asarray(f1_rows, dtype=float).T):
            h[f"val_f1_{k}"] = col
    return SimpleNamespace(config=config, history=h, metrics={"classes": list(classes)})


def test_old_records_have_no_epoch_f1():
    runs = [_run(0, "ce"), _run(1, "ce"), None]
    assert not view.has_epoch_f1(runs)
    with pytest.raises(ValueError, match="no run recorded"):
        view.f1_per_epoch(runs)


def test_other_targets_are_not_read_as_the_three_classes():
    # the audit's source-collection runs carry their own classes: not Fig. 10 material
    src = _run(0, "ce", [[0.1, 0.2, 0.3]] * 3, classes=("cohen", "fig1", "other"))
    assert not view.has_epoch_f1([src])


def test_curves_are_the_mean_over_seeds_skipping_undefined():
    nan = math.nan
    a = _run(0, "focal", [[0.2, 0.4, nan], [0.4, 0.6, nan], [0.6, 0.8, nan]])
    b = _run(1, "focal", [[0.4, nan, nan], [0.6, 0.2, nan], [0.8, 0.4, nan]])
    c = _run(0, "ce")  # an old record beside new ones: left out of the curves
    assert view.has_epoch_f1([c, a])
    fig = view.f1_per_epoch([a, b, c])
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "F1 Normal, validation split", "F1 Non-COVID, validation split", "F1 COVID-19, validation split"]
    (normal,) = axes[0].get_lines()  # one group: focal, two seeds
    np.testing.assert_allclose(normal.get_ydata(), [0.3, 0.5, 0.7])
    assert "2 seeds" in normal.get_label()
    # Non-COVID: epoch 1 has one defined seed (0.4), not a mean with a 0 for the NaN
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), [0.4, 0.4, 0.6])
    # COVID-19 is never defined: a gap, and the panel says why
    assert np.isnan(axes[2].get_lines()[0].get_ydata()).all()
    assert any("never predicted" in t.get_text() for t in axes[2].texts)
    matplotlib.pyplot.close(fig)
