"""DICOM series reader (dual_sampling item 1): order along the normal, HU, spacing, axes, errors;
checked on pydicom's real CT slice made into a series, and on the staged MIDRC-RICORD slabs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file

from covidnb.data.dicom_series import find_series, read_dicom_series, read_series
from covidnb.data.volumes import load_nifti, read_volume

CHEST = "chest-ct-volumes"


def _write_series(folder, zs, names=None, mark=None, uid=None):
    """A series of CT_small.dcm copies at positions ``zs`` (mm, axial, LPS z). ``mark``: the
    slice index whose pixel (row 0, column 0) is set to a high value."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    names = names or [f"{i:03d}.dcm" for i in range(len(zs))]
    for i, (z, name) in enumerate(zip(zs, names)):
        ds = base.copy()
        pos = [float(v) for v in base.ImagePositionPatient]
        ds.ImagePositionPatient = [pos[0], pos[1], float(z)]
        arr = base.pixel_array.copy()
        arr[:] = 100 + i  # slice i is recognisable after sorting: HU = 100 + i - 1024
        if mark == i:
            arr[0, 0] = 3000
        ds.PixelData = arr.tobytes()
        if uid:
            ds.SeriesInstanceUID = uid
        ds.save_as(folder / name)
    return folder


def test_sorted_by_position_not_by_name(tmp_path):
    # file names in the opposite order of the positions
    folder = _write_series(tmp_path / "s", [30.0, 20.0, 10.0, 0.0],
                           names=["a.dcm", "b.dcm", "c.dcm", "d.dcm"])
    s = read_series(folder)
    assert [p.name for p in s.files] == ["d.dcm", "c.dcm", "b.dcm", "a.dcm"]
    np.testing.assert_allclose(s.positions_mm, [0, 10, 20, 30])
    # HU = slope 1 × value + intercept −1024; slice written first (z = 30) is last after sorting
    assert s.hu[5, 5, 0] == pytest.approx(103 - 1024) and s.hu[5, 5, 3] == pytest.approx(100 - 1024)
    assert s.spacing_xyz == pytest.approx((0.661468, 0.661468, 10.0))


def test_canonical_axes(tmp_path):
    # IOP 1,0,0,0,1,0: columns go to patient left (LPS +x), rows posterior (+y); the normal is
    # +z (superior). Pixel (row 0, col 0) of the top slice = superior, anterior, patient right:
    # D last, H first, W first in the D×H×W convention of covidnb.data.volumes.
    folder = _write_series(tmp_path / "s", [0.0, 5.0, 10.0], mark=2)
    vol, spacing = read_dicom_series(folder)
    assert vol.shape == (3, 128, 128) and spacing == pytest.approx((5.0, 0.661468, 0.661468))
    assert np.unravel_index(np.argmax(vol), vol.shape) == (2, 0, 0)
    assert vol.max() == pytest.approx(3000 - 1024)
    # read_volume takes the folder or any .dcm of it
    v2, _ = read_volume(folder / "001.dcm")
    np.testing.assert_array_equal(v2, vol)


def test_nifti_and_dicom_of_one_series_agree(tmp_path):
    import nibabel as nib

    from covidnb.data.dicom_series import series_nifti

    folder = _write_series(tmp_path / "s", [0.0, 2.5, 5.0], mark=1)
    nib.save(series_nifti(read_series(folder)), str(tmp_path / "s.nii.gz"))
    a, sa = read_dicom_series(folder)
    b, sb = load_nifti(tmp_path / "s.nii.gz")
    np.testing.assert_array_equal(a, b)
    assert sa == pytest.approx(sb)


@pytest.mark.parametrize("case", ["gap", "duplicate", "other_series", "empty", "missing"])
def test_bad_series_name_the_problem(tmp_path, case):
    folder = tmp_path / "s"
    if case == "gap":
        _write_series(folder, [0.0, 5.0, 15.0, 20.0])
        match = "uneven slice steps.*missing"
    elif case == "duplicate":
        _write_series(folder, [0.0, 5.0, 5.0])
        match = "same position along the normal"
    elif case == "other_series":
        _write_series(folder, [0.0, 5.0])
        _write_series(folder, [10.0], names=["x.dcm"], uid="1.2.3.4")
        match = "belongs to series 1.2.3.4"
    elif case == "empty":
        folder.mkdir()
        match = "no DICOM files"
    else:
        match = "no such DICOM series folder"
    with pytest.raises((ValueError, FileNotFoundError), match=match) as err:
        read_series(folder)
    assert str(folder) in str(err.value) or "x.dcm" in str(err.value)


def test_file_without_pixels(tmp_path):
    folder = _write_series(tmp_path / "s", [0.0, 5.0])
    ds = pydicom.dcmread(folder / "000.dcm")
    del ds.PixelData
    ds.save_as(folder / "000.dcm")
    with pytest.raises(ValueError, match="000.dcm: the DICOM file has no pixel data"):
        read_series(folder)


def _manifest_rows(shared_data):
    with open(shared_data / CHEST / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_ricord_slabs_match_their_sidecars(shared_data):
    rows = [r for r in _manifest_rows(shared_data) if r["format"].startswith("DICOM")]
    assert len(rows) == 8
    for r in rows:
        s = read_series(shared_data / CHEST / r["path"])
        side = json.loads((shared_data / CHEST / r["sidecar"]).read_text())
        # the slice order of the sidecar (derived from the headers by the stager) is ours
        assert [p.name for p in s.files] == [sl["file"] for sl in side["slices"]]
        np.testing.assert_allclose(s.positions_mm, [sl["z_proj_mm"] for sl in side["slices"]],
                                   atol=1e-3)
        assert s.spacing_xyz == pytest.approx(tuple(side["spacing_mm"]), abs=1e-4)
        assert (s.meta["hu_min"], s.meta["hu_max"]) == (side["hu_min"], side["hu_max"])
        assert s.meta["patient_id"] == r["patient_id"]
        vol, spacing = read_dicom_series(s.folder)
        assert vol.shape == (10, 512, 512) and spacing[0] == pytest.approx(3.0)


def test_lidc_nifti_spacing_matches_manifest(shared_data):
    rows = [r for r in _manifest_rows(shared_data) if r["path"].endswith(".nii.gz")]
    assert len(rows) == 5
    for r in rows:
        vol, (dz, dy, dx) = load_nifti(shared_data / CHEST / r["path"])
        sx, sy, sz = (float(v) for v in r["spacing_xyz_mm"].split("x"))
        nx, ny, nz = (int(v) for v in r["shape_xyz"].split("x"))
        assert vol.shape == (nz, ny, nx)
        assert (dz, dy, dx) == pytest.approx((sz, sy, sx), abs=1e-3)


def test_find_series(shared_data):
    found = find_series(shared_data / CHEST / "midrc-ricord", "dicom/*/*")
    assert len(found) == 8


def test_manifests_open_the_staged_copies(shared_data, monkeypatch):
    from covidnb.data import open_dataset

    monkeypatch.setenv("COVIDNB_DATA", str(shared_data))
    ric = open_dataset("midrc-ricord", "all", fallback="error", volume_size=(4, 32, 32))
    assert not ric.synthetic and len(ric) == 8
    assert ric.class_counts() == {"COVID-19 negative": 5, "COVID-19 positive": 3}
    assert all(p.startswith("MIDRC-RICORD-1") for p in ric.patient_ids)
    assert ric.sample_ids[0] == "dicom/covid_positive_data/patient_1"
    assert ric[0]["image"].shape == (1, 4, 32, 32)
    lidc = open_dataset("lidc-idri", "all", fallback="error", volume_size=(4, 32, 32))
    assert list(lidc.patient_ids) == ["LIDC-IDRI-0001", "LIDC-IDRI-0006", "LIDC-IDRI-0013"]


def test_full_download_layout_is_read(tmp_path):
    """The TCIA download layout of the manifest (collection/patient/study/series)."""
    from covidnb.data.volumes import COVID19CTSeg

    root = tmp_path / "midrc-ricord"
    _write_series(root / "MIDRC-RICORD-1A" / "MIDRC-RICORD-1A-419639-000082" / "st" / "se1",
                  [0.0, 5.0, 10.0, 15.0, 20.0])
    _write_series(root / "MIDRC-RICORD-1B" / "MIDRC-RICORD-1B-419639-000300" / "st" / "se1",
                  [0.0, 5.0, 10.0, 15.0, 20.0])
    _write_series(root / "MIDRC-RICORD-1B" / "MIDRC-RICORD-1B-419639-000300" / "st" / "scout",
                  [0.0])  # under min_slices: skipped
    ds = COVID19CTSeg(root, "all", name="midrc-ricord", volume_size=(4, 16, 16))
    assert len(ds) == 2 and list(ds.targets) == [1, 0]
    assert list(ds.patient_ids) == ["MIDRC-RICORD-1A-419639-000082", "MIDRC-RICORD-1B-419639-000300"]
    # the checksum covers every slice file of a series
    assert len(ds._files(0)) == 5


def test_verify_counts_every_slice_of_the_staged_series(shared_data):
    from covidnb.data import verify

    report = verify("midrc-ricord", root=shared_data)
    assert report.ok and not report.extra, report.extra[:3]
