"""§IV-B preprocessing of whole CT volumes (dual_sampling item 2): MONAI spacing / orientation /
intensity / padding, the two masking orders, the HU lung mask; values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("monai")
from covidnb.data.ct_volume_preprocess import (
    PAPER,
    CTPreprocess,
    hu_lung_mask,
    preprocess,
    shape_at,
    window_scale,
)


def test_window_scale_by_hand():
    # [−1350, 150] → [0, 1]: −600 (the level) is the middle; outside clipped
    out = window_scale(np.array([-2000.0, -1350.0, -600.0, 0.0, 150.0, 900.0]))
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 0.9, 1.0, 1.0], atol=1e-6)


def test_settings_and_shapes_by_hand():
    assert PAPER.working_spacing == pytest.approx((2.5, 1.4336, 1.4336))
    # 10 slices of 3 mm = 30 mm → 24 slices at 1.25 mm; 512 × 0.65625 mm = 336 mm → 469 at 0.7168
    assert shape_at((10, 512, 512), (3.0, 0.65625, 0.65625), PAPER.spacing) == (24, 469, 469)
    with pytest.raises(ValueError, match="factor"):
        CTPreprocess(factor=0)
    with pytest.raises(ValueError, match="mask_order"):
        CTPreprocess(mask_order="sometimes")


def _phantom(d=20, h=96, w=96, lesion=True):
    """Body (40 HU) in air (−1000), two lungs (−850), a lesion (−100) in the right lung."""
    _z, y, x = np.mgrid[0:d, 0:h, 0:w]
    hu = np.full((d, h, w), -1000.0, np.float32)
    body = ((y - h / 2) / (0.42 * h)) ** 2 + ((x - w / 2) / (0.45 * w)) ** 2 <= 1
    hu[body] = 40.0
    lungs = np.zeros((d, h, w), bool)
    for cx in (0.3 * w, 0.7 * w):
        lungs |= ((y - h / 2) / (0.28 * h)) ** 2 + ((x - cx) / (0.14 * w)) ** 2 <= 1
    hu[lungs] = -850.0
    inf = np.zeros_like(lungs)
    if lesion:
        inf = lungs & (((y - h / 2) ** 2 + (x - 0.3 * w) ** 2) <= 36)
        hu[inf] = -100.0
    return hu, lungs, inf


def test_hu_lung_mask_finds_two_lungs_and_keeps_lesions_inside():
    from scipy import ndimage

    hu, lungs, inf = _phantom()
    mask = hu_lung_mask(hu, (2.0, 2.0, 2.0)).astype(bool)
    assert ndimage.label(mask)[1] == 2
    # outside air is not lung; the central lesion (a hole in the threshold mask) is filled
    assert not mask[hu == -1000].any() and mask[inf].all()
    dice = 2 * (mask & lungs).sum() / (mask.sum() + lungs.sum())
    assert dice > 0.97
    with pytest.raises(ValueError, match="D×H×W"):
        hu_lung_mask(hu[0])


def test_preprocess_shapes_orders_and_values():
    hu, lungs, inf = _phantom(d=12, h=100, w=100)
    r = preprocess(hu, (3.0, 0.7168, 0.7168), lung=lungs, infection=inf)
    s, f = r.steps, r.facts
    # 12 × 3 mm = 36 mm / 2.5 = 14.4 → 14; 100 × 0.7168 / 1.4336 = 50
    assert f["resampled_shape"] == (14, 50, 50) and s["padded"].shape == (138, 256, 256)
    assert f["cropped_voxels"] == (0, 0, 0) and f["lung_mask"] == "given"
    body_not_lung = (s["padded"] > 0) & (s["lung"] == 0)
    # soft tissue (40 HU) outside the lung: 0 when masked after scaling, 0.9 when raw HU is
    # masked to 0 before windowing ((0 + 1350) / 1500)
    assert s["masked_after_scaling"][body_not_lung].max() == 0.0
    np.testing.assert_allclose(np.unique(s["masked_before_windowing"][body_not_lung]), [0.9], atol=1e-6)
    # inside the lung both orders agree; the padding is 0
    lung = s["lung"] > 0
    np.testing.assert_allclose(s["masked_after_scaling"][lung], s["masked_before_windowing"][lung])
    assert s["padded"][0].max() == 0.0 and s["padded"][:, 0].max() == 0.0
    assert s["infection"].sum() > 0 and (s["infection"] <= s["lung"]).all()
    np.testing.assert_array_equal(s["input"], s["masked_after_scaling"])


def test_preprocess_keeps_anatomical_sides():
    # a bright voxel block at the superior, anterior, patient-right corner (D high, H low, W low)
    hu = np.full((10, 64, 64), -1000.0, np.float32)
    hu[-3:, :6, :6] = 100.0
    r = preprocess(hu, (2.5, 1.4336, 1.4336), lung=np.ones_like(hu),
                   settings=CTPreprocess(mask_order="none", target_size=(10, 64, 64)))
    d, h, w = np.unravel_index(np.argmax(r.steps["input"]), r.steps["input"].shape)
    assert d >= 7 and h < 6 and w < 6


def test_preprocess_crops_with_a_warning():
    hu = np.full((8, 80, 80), -800.0, np.float32)
    with pytest.warns(UserWarning, match="centre-cropped"):
        r = preprocess(hu, (2.5, 1.4336, 1.4336), lung=np.ones_like(hu),
                       settings=CTPreprocess(target_size=(8, 64, 64)))
    assert r.facts["cropped_voxels"] == (0, 16, 16) and r.steps["input"].shape == (8, 64, 64)


def test_real_volumes_through_the_pipeline(shared_data):
    from covidnb.data.dicom_series import read_dicom_series
    from covidnb.data.volumes import load_nifti

    root = shared_data / "chest-ct-volumes"
    slab, sp = read_dicom_series(root / "midrc-ricord/dicom/covid_positive_data/patient_2")
    r = preprocess(slab, sp)
    assert r.facts["resampled_shape"] == (12, 235, 235)  # 30 mm / 2.5; 336 mm / 1.4336
    # lungs reach the first and last slice of a slab and are still found
    assert r.facts["lung_volume_ml"] > 100 and r.steps["lung"].any()
    vol, sp = load_nifti(root / "lidc-idri/LIDC-IDRI-0001_s3000566.nii.gz")
    r = preprocess(vol, sp)
    assert r.facts["resampled_shape"] == (133, 251, 251)
    assert 2000 < r.facts["lung_volume_ml"] < 8000  # adult lungs hold a few litres
