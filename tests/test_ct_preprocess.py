"""§3.1 CT preprocessing of Hu et al. 2021 on constructed slices with known answers."""

import numpy as np
import pytest
from skimage import measure
from skimage.draw import ellipse

from covidnb.data.ct_preprocess import (
    apply_mask,
    lung_mask,
    preprocess_ct,
    preprocess_steps,
    window,
)

H = 128


def test_window_hand_values():
    # WL -400, WW 1500: [-1150, 350] maps linearly onto [0, 255]
    hu = np.array([-400.0, -1150.0, 350.0, -2000.0, 3000.0, -775.0])
    expected = [127.5, 0.0, 255.0, 0.0, 255.0, 63.75]  # -775 is a quarter of the way: 255 / 4
    assert window(hu).tolist() == pytest.approx(expected)
    # threshold 170 corresponds to -1150 + 170/255 * 1500 = -150 HU
    assert window(np.array([-150.0]))[0] == pytest.approx(170.0)
    with pytest.raises(ValueError, match="width"):
        window(hu, width=0)


def phantom(seed=0):
    """Air around a soft-tissue body ellipse with two aerated lung ellipses, vessels and a trachea."""
    rng = np.random.default_rng(seed)
    hu = np.full((H, H), -1000.0)  # air
    rr, cc = ellipse(64, 64, 50, 60, shape=(H, H))
    hu[rr, cc] = 40.0  # soft tissue
    lungs = np.zeros((H, H), bool)
    for col in (38, 90):
        rr, cc = ellipse(62, col, 32, 18, shape=(H, H))
        lungs[rr, cc] = True
    hu[lungs] = -850.0  # aerated lung
    for r, c in [(55, 38), (70, 90), (50, 92)]:  # vessels inside the lungs: holes to fill
        rr, cc = ellipse(r, c, 2, 2)
        hu[rr, cc] = 40.0
    rr, cc = ellipse(30, 64, 4, 4)  # trachea: dark, inside the body, but small
    hu[rr, cc] = -1000.0
    hu += rng.normal(0.0, 20.0, hu.shape)  # noise far from the -150 HU threshold
    return hu, lungs


def test_lung_mask_recovers_the_lungs():
    hu, lungs = phantom()
    mask = lung_mask(window(hu))
    # The ellipses are convex, so the erosion + dilation, hole filling and hull change only pixels
    # on their rim: allow at most one perimeter's worth (a 1-pixel band) of disagreement.
    disagreement = int((mask ^ lungs).sum())
    assert disagreement <= measure.perimeter(lungs)
    iou = (mask & lungs).sum() / (mask | lungs).sum()
    assert iou > 0.95
    # two regions (the hull is per lung, so the mediastinum between them stays out)
    assert measure.label(mask).max() == 2
    assert not mask[64, 64]
    # vessels inside the lung are included, the trachea, body and outside air are not
    assert mask[55, 38] and mask[70, 90]
    assert not mask[30, 64] and not mask[5, 5] and not mask[64, 10]


def test_union_hull_covers_the_mediastinum():
    hu, _ = phantom()
    assert lung_mask(window(hu), hull="union")[62, 64]


def test_steps_and_apply_mask():
    hu, _ = phantom()
    steps = preprocess_steps(hu)
    expected = [
        "input",
        "windowed",
        "binary",
        "eroded",
        "dilated",
        "border_air_removed",
        "largest_regions",
        "holes_filled",
        "mask",
        "masked",
    ]
    assert list(steps) == expected
    assert all(v.shape == (H, H) for v in steps.values())
    # the outside air is in the binary image but gone after the border flood fill
    assert steps["binary"][2, 2] and not steps["border_air_removed"][2, 2]
    # the trachea survives the flood fill but not the largest-region selection
    assert steps["border_air_removed"][30, 64] and not steps["largest_regions"][30, 64]
    # a vessel is a hole before filling, part of the mask after
    assert not steps["largest_regions"][55, 38] and steps["holes_filled"][55, 38]
    masked = steps["masked"]
    assert np.all(masked[~steps["mask"]] == 0)
    np.testing.assert_array_equal(masked[steps["mask"]], steps["windowed"][steps["mask"]])
    np.testing.assert_array_equal(preprocess_ct(hu), masked)


def test_apply_mask_known_values():
    img = np.arange(6.0).reshape(2, 3)
    mask = np.array([[1, 0, 1], [0, 1, 0]], bool)
    np.testing.assert_array_equal(apply_mask(img, mask), [[0, 0, 2], [0, 4, 0]])
    with pytest.raises(ValueError, match="shape"):
        apply_mask(img, mask[:, :2])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="2-D"):
        lung_mask(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        lung_mask(np.full((8, 8), -1000.0))  # HU passed where a windowed image is expected


def test_empty_mask_warns():
    with pytest.warns(UserWarning, match="empty"):
        mask = lung_mask(np.full((32, 32), 200.0))
    assert not mask.any()


def test_window_on_pydicom_ct_small():
    """pydicom's CT_small.dcm (a real CT slice): raw value 175 at (0, 0), slope 1, intercept -1024."""
    pydicom = pytest.importorskip(
        "pydicom", reason="pydicom not installed: DICOM windowing test skipped"
    )
    from pydicom.data import get_testdata_file

    from covidnb.data.ct_preprocess import read_dicom_hu

    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    hu = read_dicom_hu(path)
    assert hu[0, 0] == 175 - 1024  # -849 HU
    w = window(hu)
    # -849 HU: (-849 + 1150) / 1500 * 255 = 301 * 0.17 = 51.17; the vertebra (1928 - 1024 = 904 HU) saturates
    assert w[0, 0] == pytest.approx(51.17)
    assert hu[64, 64] == 904 and w[64, 64] == 255.0
    # the whole slice against an independent piecewise-linear map
    np.testing.assert_allclose(w, np.interp(hu, [-1150, 350], [0, 255]))
