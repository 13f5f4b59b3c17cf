"""open_dataset(): the class by manifest, and the loud synthetic fallback."""

from __future__ import annotations

import pytest

from covidnb.cli import main as cli_main
from covidnb.data import (
    SYNTHETIC_BANNER,
    CTSliceDataset,
    DatasetNotFound,
    SyntheticCTSlices,
    SyntheticCXR14,
    SyntheticDataWarning,
    SyntheticVolumes,
    open_dataset,
)


def test_real_dataset_class_by_manifest(shared_data):
    ds = open_dataset("covid-ct", "test", image_size=16)
    assert isinstance(ds, CTSliceDataset) and not ds.synthetic


def test_missing_dataset_falls_back_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path))
    with pytest.warns(SyntheticDataWarning) as rec:
        ds = open_dataset("covidx-ct", "train", image_size=16, synthetic_n=9)
    msg = str(rec[0].message)
    assert SYNTHETIC_BANNER in msg and "kaggle" in msg.lower() and str(tmp_path) in msg
    assert isinstance(ds, SyntheticCTSlices) and ds.synthetic and len(ds) == 9
    assert ds.classes == ["normal", "pneumonia", "COVID-19"]
    assert ds[0]["image"].shape == (1, 16, 16)


def test_fallback_error_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFound, match="sars-cov-2-ct"):
        open_dataset("sars-cov-2-ct", "all", fallback="error")


def test_modality_specific_phantoms(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path))
    with pytest.warns(SyntheticDataWarning):
        nih = open_dataset("nih-chestxray14", "test", image_size=16, synthetic_n=5)
    assert isinstance(nih, SyntheticCXR14) and nih.multilabel and len(nih.classes) == 14
    with pytest.warns(SyntheticDataWarning):
        vol = open_dataset(
            "covid-19-ct-seg", "all", image_size=16, synthetic_n=2, volume_size=(4, 16, 16)
        )
    assert isinstance(vol, SyntheticVolumes) and vol[0]["image"].shape == (1, 4, 16, 16)


def test_mosmed_without_volumes_falls_back_to_volume_phantom(shared_data):
    with pytest.warns(SyntheticDataWarning, match="masks_only=True"):
        ds = open_dataset(
            "mosmeddata", "all", image_size=16, synthetic_n=3, volume_size=(4, 16, 16)
        )
    assert isinstance(ds, SyntheticVolumes) and ds.classes == [
        "CT-0",
        "CT-1",
        "CT-2",
        "CT-3",
        "CT-4",
    ]


def test_cli_list_shows_location_and_access(shared_data, capsys):
    assert cli_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("covid-ct "))
    assert str(shared_data / "covid-ct") in line and "dresunet" in line and "download" in line
    diag = next(ln for ln in out.splitlines() if ln.startswith("covid19-diag "))
    assert "not found" in diag and "by-request" in diag
