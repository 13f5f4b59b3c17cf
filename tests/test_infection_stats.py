"""Infection statistics (dual_sampling item 3): lesion volume, components, ratio; by hand and on
the real MosMed masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from covidnb.data.infection_stats import (
    NO_LUNG,
    infection_ratio,
    lesion_components,
    mask_stats,
    mask_table,
    ratio_group,
)


def test_components_by_connectivity():
    m = np.zeros((3, 4, 4), np.uint8)
    m[0, 0, 0] = 1
    m[1, 1, 1] = 1  # touches the first only at a corner
    m[2, 3, 3] = 1
    m[2, 3, 2] = 1  # a 2-voxel lesion
    n26, sizes26 = lesion_components(m, 26)
    n6, sizes6 = lesion_components(m, 6)
    assert (n26, sizes26.tolist()) == (2, [2, 2])
    assert mask_stats(m, (1.0, 1.0, 1.0))["components_6"] == 3
    assert (n6, sizes6.tolist()) == (3, [2, 1, 1])
    assert lesion_components(np.zeros((2, 2, 2)))[0] == 0
    with pytest.raises(ValueError, match="connectivity"):
        lesion_components(m, 8)


def test_ratio_and_volume_by_hand():
    lung = np.zeros((2, 5, 5), bool)
    lung[0, :2, :] = True  # 10 lung voxels
    inf = np.zeros_like(lung)
    inf[0, 0, :2] = True  # 2 inside the lung
    inf[1, 4, 4] = True  # 1 outside: not counted in the ratio
    assert infection_ratio(inf, lung) == pytest.approx(0.2)
    s = mask_stats(inf, (2.0, 0.5, 0.5), lung)
    # voxel = 2 × 0.5 × 0.5 = 0.5 mm³; 3 lesion voxels = 1.5 mm³; lung 10 voxels = 5 mm³
    assert s["voxel_mm3"] == 0.5 and s["lesion_volume_mm3"] == 1.5 and s["lung_volume_mm3"] == 5.0
    assert s["components"] == 2 and s["slices_with_lesion"] == 2 and s["group"] == "> 0.030"
    assert math.isnan(infection_ratio(inf, np.zeros_like(lung)))


def test_without_lung_the_ratio_is_undefined_not_zero():
    inf = np.zeros((2, 3, 3), np.uint8)
    inf[0, 1, 1] = 1
    s = mask_stats(inf, (1.0, 1.0, 1.0))
    assert math.isnan(s["infection_ratio"]) and s["ratio_note"] == NO_LUNG
    assert s["group"] == "undefined"


@pytest.mark.parametrize("ratio,group", [(0.0, "< 0.005"), (0.0049, "< 0.005"),
                                         (0.005, "0.005 - 0.030"), (0.030, "0.005 - 0.030"),
                                         (0.0301, "> 0.030"), (float("nan"), "undefined")])
def test_table3_groups(ratio, group):
    assert ratio_group(ratio) == group


def test_real_mosmed_masks(shared_data):
    import nibabel as nib

    paths = sorted((shared_data / "mosmeddata-masks" / "masks").glob("*.nii.gz"))[:3]
    df = mask_table(paths)
    for p, row in zip(paths, df.itertuples()):
        img = nib.load(str(p))
        n = int(np.count_nonzero(np.asanyarray(img.dataobj)))
        assert row.lesion_voxels == n > 0
        assert row.lesion_volume_mm3 == pytest.approx(n * float(np.prod(img.header.get_zooms()[:3])))
        assert row.components >= 1 and math.isnan(row.infection_ratio)
        assert row.spacing_mm[0] == pytest.approx(8.0, abs=0.5)  # thick slices (PROVENANCE)


def test_mask_table_refuses_non_binary(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.eye(4)),
             str(tmp_path / "m.nii.gz"))
    with pytest.raises(ValueError, match="m.nii.gz: an infection mask should hold 0 and 1"):
        mask_table([tmp_path / "m.nii.gz"])


def test_mask_table_with_lung_masks_gives_the_ratio(tmp_path):
    import nibabel as nib

    inf = np.zeros((4, 4, 2), np.uint8)  # x, y, z
    inf[0, 0, 0] = 1
    lung = np.zeros_like(inf)
    lung[:2, :, :] = 1  # 16 lung voxels
    for name, arr in (("inf.nii.gz", inf), ("lung.nii.gz", lung)):
        nib.save(nib.Nifti1Image(arr, np.diag([0.5, 0.5, 2.0, 1.0])), str(tmp_path / name))
    row = mask_table([tmp_path / "inf.nii.gz"], [tmp_path / "lung.nii.gz"]).iloc[0]
    # 1 of 16 lung voxels; voxel 0.5 mm³ → lung 8 mm³
    assert row.infection_ratio == pytest.approx(1 / 16) and row.lung_volume_mm3 == pytest.approx(8.0)
    assert row.group == "> 0.030" and row.ratio_note == ""
