"""CAM → box (§IV-G): scaling to [0, 255], threshold 200, largest component, IoU, hit rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidnb.chapters import deepcxray_cam as C
from covidnb.data.chestxray14_phantom import ChestXray14Phantom
from covidnb.models import build_model


def test_heat_is_scaled_to_0_255():
    cam = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    heat = C.heat_255(cam, 2)  # same size: bilinear keeps the values
    assert heat.min() == 0 and heat.max() == 255 and heat[0, 1] == pytest.approx(255 / 4)
    assert (C.heat_255(torch.ones(3, 3), 6) == 0).all()
    with pytest.raises(ValueError, match="2-D"):
        C.heat_255(torch.ones(1, 3, 3), 6)


def test_largest_component_box_by_hand():
    heat = np.zeros((10, 10))
    heat[1:3, 1:3] = 255          # 4 pixels
    heat[5:9, 4:7] = 210          # 12 pixels: the largest
    heat[0, 9] = 199              # below the threshold
    assert C.largest_component_box(heat) == {"x": 4.0, "y": 5.0, "w": 3.0, "h": 4.0}
    assert C.largest_component_box(np.full((4, 4), 199.0)) is None


def test_iou_by_hand():
    a = {"x": 0, "y": 0, "w": 4, "h": 4}
    b = {"x": 2, "y": 2, "w": 4, "h": 4}  # overlap 2×2 = 4, union 16 + 16 − 4 = 28
    assert C.iou(a, b) == pytest.approx(4 / 28)
    assert C.iou(a, a) == 1.0 and C.iou(a, None) == 0.0
    assert C.iou(a, {"x": 10, "y": 10, "w": 1, "h": 1}) == 0.0


def test_score_boxes_on_the_phantom_and_hit_rates():
    pool = np.zeros((1, 14), np.float32)
    pool[0, 4] = 1  # every image has a Mass
    ds = ChestXray14Phantom("test", n=3, label_pool=pool, image_size=32)
    model = build_model("deepcxray", backbone="tiny", width=4)
    scores = C.score_boxes(model, ds)
    assert len(scores) == 3 and set(scores["finding"]) == {"Mass"}
    assert scores["iou"].between(0, 1).all()
    rates = C.hit_rates(scores)
    assert rates.loc["all findings", "boxes"] == 3
    assert rates.loc["all findings", "hit@0.1"] == pytest.approx(scores["hit@0.1"].mean())


def test_nih_boxes_are_rescaled_from_1024():
    class Fake:
        image_size, sample_ids = 256, ["images/x.png"]

        def bboxes(self, sid):
            return [{"label": "Mass", "x": 512.0, "y": 256.0, "w": 100.0, "h": 40.0}]

    assert C.boxes_of(Fake(), 0) == [{"label": "Mass", "x": 128.0, "y": 64.0, "w": 25.0, "h": 10.0}]
