"""Cue AUCs per split (covidnb.data.shift), worked by hand on images made for the test."""

import numpy as np
import pytest
from PIL import Image

from covidnb.data.shift import cue_auc, image_cues


class _Files:
    def __init__(self, paths, targets):
        self.paths, self.targets = paths, np.asarray(targets)
        self.sample_ids = [p.name for p in paths]


def _image(path, size, value, colour=False):
    a = np.full((size[1], size[0], 3), value, np.uint8)
    if colour:
        a[..., 0] = 255
    Image.fromarray(a).save(path)
    return path


def test_image_cues_by_hand(tmp_path):
    c = image_cues(_image(tmp_path / "a.png", (40, 30), 51))
    assert (c["width"], c["height"]) == (40, 30)
    assert c["mean"] == pytest.approx(0.2) and c["std"] == pytest.approx(0, abs=1e-6) and c["colour"] == 0
    red = image_cues(_image(tmp_path / "b.png", (8, 8), 0, colour=True))
    assert red["colour"] == pytest.approx(1.0)  # |R−G| = 1, |G−B| = 0


def test_a_cue_that_flips_between_splits(tmp_path):
    # train: positives bright; val: positives dark → mean-intensity AUC 1 on train, 0 on val
    def split(name, pos_value, neg_value):
        paths = [_image(tmp_path / f"{name}{i}.png", (10 + i, 10), v)
                 for i, v in enumerate([pos_value, pos_value, neg_value, neg_value])]
        return _Files(paths, [1, 1, 0, 0])

    t = cue_auc({"train": split("t", 200, 50), "val": split("v", 50, 200)})
    assert t.loc["train", "mean"] == 1.0 and t.loc["val", "mean"] == 0.0
    # widths 10, 11 for positives and 12, 13 for negatives: smaller means positive → AUC 0
    assert t.loc["train", "width"] == 0.0


def test_a_dataset_without_files_is_named():
    with pytest.raises(TypeError, match="no image files"):
        cue_auc({"train": object()})
