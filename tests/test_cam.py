import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn
from toydata import ToyDataset

from covidnb.cam import cam_gallery, cam_to_bbox, compute_cams, find_target_layer
from covidnb.models import build_model

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


class Brightness(nn.Module):
    """Identity 1×1 conv → global average → logit 1 = mean intensity: its Grad-CAM is the image."""

    def __init__(self, aux: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(1, 2)
        self.aux = aux
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.head.weight.copy_(torch.tensor([[0.0], [1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        main = self.head(self.relu(self.conv(x)).mean(dim=(2, 3)))
        return (main, main * 0) if self.aux else main


def test_gradcam_localises_known_region_through_tuple_output():
    ds = ToyDataset(4, size=16, seed=0)
    i = int(np.flatnonzero(ds.targets == 1)[0])  # class 1: bright square rows 0:4, cols 4:8
    for model in (Brightness(), Brightness(aux=True)):
        (r,) = compute_cams(model, ds, [i], target_class="pos")
        assert r.cam.shape == (16, 16) and 0 <= r.cam.min() and r.cam.max() <= 1
        assert cam_to_bbox(r.cam, 0.5) == (4, 0, 8, 4)
        assert r.target == "pos" and r.label == "pos"
        assert model.relu.inplace  # restored after the CAM ran


def test_gallery_tinycnn_single_logit_and_multiclass():
    torch.manual_seed(0)
    ds = ToyDataset(6, size=16)
    single = build_model("tinycnn", num_classes=1)
    fig = cam_gallery(single, ds, [0, 1, 2], bbox_threshold=0.5)
    assert len(fig.axes) == 6
    assert all(r.target == r.prediction for r in fig.results)  # default: explain the prediction
    neg = compute_cams(single, ds, [0], target_class="neg")[0]
    pos = compute_cams(single, ds, [0], target_class="pos")[0]
    assert neg.cam.shape == pos.cam.shape == (16, 16)
    assert not np.allclose(neg.cam, pos.cam)  # −z and +z are explained differently
    assert "label: " in fig.axes[0].get_title() and "pred: " in fig.axes[1].get_title()
    three = ToyDataset(3, classes=("a", "b", "c"), size=16)
    aux_model = build_model("tinycnn", num_classes=3, aux=True)
    res = compute_cams(aux_model, three, [0, 2], method="gradcam++", target_layer=aux_model.conv1)
    assert [r.index for r in res] == [0, 2] and res[0].image.shape == (16, 16, 3)
    assert find_target_layer(aux_model) is aux_model.conv2
    with pytest.raises(ValueError, match="unknown CAM method"):
        compute_cams(aux_model, three, [0], method="magic")
    with pytest.raises(ValueError, match="not one of"):
        compute_cams(aux_model, three, [0], target_class=7)


def test_cam_to_bbox():
    cam = np.zeros((10, 12))
    cam[2:5, 5:9] = 1.0  # largest
    cam[7, 1] = 0.9  # a small second blob
    assert cam_to_bbox(cam, 0.5) == (5, 2, 9, 5)
    assert cam_to_bbox(cam, 0.5, largest=False) == (1, 2, 9, 8)
    assert cam_to_bbox(cam, 0.95, largest=False) == (5, 2, 9, 5)
    assert cam_to_bbox(np.zeros((4, 4))) is None
    with pytest.raises(ValueError, match="H×W"):
        cam_to_bbox(np.zeros((2, 3, 4)))


def test_balanced_indices_are_per_label_seeded_and_checked():
    from covidnb.cam import balanced_indices

    targets = np.array([0, 1, 0, 1, 0, 1, 0, 0])
    idx = balanced_indices(targets, 2, labels=[1, 0], seed=0)
    assert [int(targets[i]) for i in idx] == [1, 1, 0, 0] and len(set(idx)) == 4
    assert idx == balanced_indices(targets, 2, labels=[1, 0], seed=0)  # the same slices again
    assert balanced_indices(targets, 1) != balanced_indices(targets, 1, labels=[1, 0])
    with pytest.raises(ValueError, match="label 1 has 3"):
        balanced_indices(targets, 4)


def test_saved_cams_round_trip_and_bad_files_are_named(tmp_path):
    from covidnb.cam import CamResult, load_cams, save_cams

    rng = np.random.default_rng(0)
    results = [CamResult(i, f"img{i}.png", rng.random((8, 8, 3)).astype(np.float32),
                         rng.random((8, 8)).astype(np.float32), "pos", "neg", 0.75, "neg")
               for i in range(3)]
    path = save_cams(results, tmp_path / "cams.npz", layer="features.42")
    back, meta = load_cams(path)
    assert meta == {"layer": "features.42"}
    for a, b in zip(results, back):
        assert (a.index, a.sample_id, a.label, a.prediction, a.target) == (
            b.index, b.sample_id, b.label, b.prediction, b.target)
        assert b.probability == a.probability
        assert np.abs(a.image - b.image).max() <= 0.5 / 255 + 1e-6  # stored as uint8
        assert np.abs(a.cam - b.cam).max() < 1e-3  # stored as float16
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: unreadable CAM file"):
        load_cams(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    np.save(tmp_path / "array.npy", np.zeros(2))
    with pytest.raises(ValueError, match="array.npy: not a CAM file"):
        load_cams(tmp_path / "array.npy")
    with pytest.raises(ValueError, match="other.npz: not a CAM file"):
        load_cams(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="no CAM"):
        save_cams([], tmp_path / "empty.npz")
