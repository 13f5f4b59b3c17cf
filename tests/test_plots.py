import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from covidnb import plots


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_roc_curves_legend_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s1, s2 = y + rng.random(50), rng.random(50)
    pred = pd.DataFrame({"label": y, "p_neg": 1 - s2, "p_pos": s2})
    ax = plots.roc_curves({"good": (y, s1), "random": pred})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"good (AUC = {roc_auc_score(y, s1):.3f})"
    assert labels[1] == f"random (AUC = {roc_auc_score(y, s2):.3f})"
    assert len(ax.lines) == 3  # two curves and the chance diagonal
    with pytest.raises(ValueError, match="one class"):
        plots.roc_curves({"bad": (np.zeros(5), np.arange(5))})


def test_confusion_matrix_counts_and_normalised():
    y, p = [0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2]
    ax = plots.confusion_matrix_plot(y, p, ["a", "b", "c"])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["1", "1", "0", "0", "2", "1", "0", "0", "1"]
    ax = plots.confusion_matrix_plot(y, p, ["a", "b", "c"], normalize=True)
    assert [t.get_text() for t in ax.texts][3:6] == ["0.00", "0.67", "0.33"]


def test_training_curves_and_bars():
    h = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.6, 0.4],
            "val_loss": [1.1, 0.8, 0.9],
            "val_auc": [0.6, 0.7, 0.72],
            "seconds": [1, 1, 1],
        }
    )
    fig = plots.training_curves(h)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), h["val_auc"])
    frame = pd.DataFrame({"model": ["a", "a", "b", "b"], "auc": [0.8, 0.9, 0.6, 0.7]})
    ax = plots.mean_std_bars(frame, "auc", by="model", reference={"a": 0.95})
    heights = [r.get_height() for r in ax.patches]
    np.testing.assert_allclose(heights, [0.85, 0.65])
    with pytest.raises(KeyError, match="nope"):
        plots.training_curves(h, metrics=["nope"])
