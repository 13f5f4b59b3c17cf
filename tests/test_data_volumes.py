"""NIfTI volumes: MosMed registry and masks, the generic loader, COVID-19-CT-Seg matching."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from covidnb.data import MosMedData, VolumesMissing, load_nifti, open_dataset, read_mosmed_registry
from covidnb.data.volumes import VolumeDataset, case_key, resample, window


def test_mosmed_registry_bom_crlf(shared_data):
    path = shared_data / "mosmeddata-masks" / "dataset_registry.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = read_mosmed_registry(path)
    assert len(rows) == 1110 and list(rows[0]) == [
        "study_id",
        "category",
        "study_file",
        "mask_file",
    ]
    cats = {
        c: sum(r["category"] == c for r in rows) for c in ("CT-0", "CT-1", "CT-2", "CT-3", "CT-4")
    }
    assert cats == {"CT-0": 254, "CT-1": 684, "CT-2": 125, "CT-3": 45, "CT-4": 2}  # PROVENANCE
    assert sum(bool(r["mask_file"]) for r in rows) == 50


def test_mosmed_without_volumes_says_so_and_masks_only_loads(shared_data):
    with pytest.raises(VolumesMissing) as err:
        open_dataset("mosmeddata", "all", fallback="error")
    assert "masks_only=True" in str(err.value) and "mosmed.ai" in str(err.value)
    ds = open_dataset(
        "mosmeddata", "all", masks_only=True, volume_size=(8, 32, 32), fallback="error"
    )
    assert len(ds) == 50 and ds.class_counts()["CT-1"] == 50 and ds.info()["masks_only"]
    s = ds[0]
    assert (
        s["image"].shape == (1, 8, 32, 32) and s["infection_mask"].dtype.is_floating_point is False
    )
    assert (
        int(s["infection_mask"].sum()) > 0
        and int(s["lung_mask"].sum()) == 0
        and not ds.has_lung_mask
    )


def test_mosmed_mask_geometry(shared_data):
    vol, spacing = load_nifti(shared_data / "mosmeddata-masks" / "masks" / "study_0255_mask.nii.gz")
    # PROVENANCE: 512 x 512 x ~38, spacing about 0.92 x 0.92 x 8 mm; here D x H x W
    assert vol.shape[1:] == (512, 512) and 30 <= vol.shape[0] <= 45
    assert spacing[0] == pytest.approx(8.0, abs=0.5) and spacing[1] == pytest.approx(0.92, abs=0.05)
    assert set(np.unique(vol)) <= {0.0, 1.0}


def _write(path, data, affine=None):
    nib.save(
        nib.Nifti1Image(data, affine if affine is not None else np.diag([2.0, 2.0, 5.0, 1.0])),
        str(path),
    )


def test_orientation_resample_and_window(tmp_path):
    data = np.full((8, 6, 4), -1000.0, np.float32)  # x, y, z in RAS
    data[7, 5, 3] = 250.0  # right, anterior, superior corner
    _write(tmp_path / "v.nii.gz", data)
    vol, spacing = load_nifti(tmp_path / "v.nii.gz")
    assert vol.shape == (4, 6, 8) and spacing == (5.0, 2.0, 2.0)
    # superior = last slice, anterior = first row, patient right = first column
    assert vol[3, 0, 0] == 250.0 and np.argmax(vol) == np.ravel_multi_index((3, 0, 0), vol.shape)
    # the same anatomy stored with flipped x and y axes (LPS-like) lands in the same place
    flipped = np.full((8, 6, 4), -1000.0, np.float32)
    flipped[0, 0, 3] = 250.0
    _write(tmp_path / "f.nii.gz", flipped, np.diag([-2.0, -2.0, 5.0, 1.0]))
    vol_f, _ = load_nifti(tmp_path / "f.nii.gz")
    np.testing.assert_array_equal(vol_f, vol)
    w = window(vol, (-1250.0, 250.0))
    assert w.max() == 1.0 and w.min() == pytest.approx(250 / 1500)
    mask = (vol > 0).astype(np.uint8)
    up = resample(mask, (8, 12, 16), order=0)
    assert up.dtype == np.uint8 and set(np.unique(up)) <= {0, 1} and up.sum() == 8


def test_generic_volume_dataset_and_ct_seg_matching(tmp_path):
    root = tmp_path / "covid-19-ct-seg"
    for sub in ("COVID-19-CT-Seg_20cases", "Lung_Mask", "Infection_Mask"):
        (root / sub).mkdir(parents=True)
    hu = np.full((16, 16, 8), -850.0, np.float32)
    lung = np.zeros((16, 16, 8), np.uint8)
    lung[2:14, 2:14, 1:7] = 1
    inf = np.zeros_like(lung)
    inf[4:6, 4:6, 2:4] = 1
    _write(root / "COVID-19-CT-Seg_20cases" / "coronacases_org_001.nii.gz", hu)
    _write(
        root
        / "COVID-19-CT-Seg_20cases"
        / "radiopaedia_org_covid-19-pneumonia-4_85506_1-dcm.nii.gz",
        hu,
    )
    _write(root / "Lung_Mask" / "coronacases_001.nii.gz", lung * 2)  # left/right lung labels 1/2
    _write(root / "Infection_Mask" / "coronacases_001.nii.gz", inf)
    _write(root / "Infection_Mask" / "radiopaedia_4_85506_1.nii.gz", inf)
    assert case_key(root / "Lung_Mask" / "coronacases_001.nii.gz", ["_org"]) == "coronacases_001"
    ds = open_dataset(
        "covid-19-ct-seg", "all", root=tmp_path, volume_size=(8, 16, 16), fallback="error"
    )
    assert isinstance(ds, VolumeDataset) and len(ds) == 2
    s = ds[0]
    assert s["image"].shape == (1, 8, 16, 16)
    assert int(s["lung_mask"].sum()) == int(lung.sum()) and int(s["infection_mask"].sum()) == int(
        inf.sum()
    )
    assert int(ds[1]["lung_mask"].sum()) == 0 and int(ds[1]["infection_mask"].sum()) == int(
        inf.sum()
    )
    assert ds.patient_ids == ["coronacases_001", "radiopaedia_4_85506_1"]


def test_mosmed_masks_only_class_directly(shared_data):
    ds = MosMedData(shared_data / "mosmeddata-masks", masks_only=True, volume_size=(4, 8, 8))
    assert ds.sample_ids[0] == "masks/study_0255_mask.nii.gz" and ds.patient_ids[0] == "study_0255"
