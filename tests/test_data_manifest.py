"""Every manifest validates; schema errors name the file and the field; claimed digests are real."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from covidnb.data.manifest import (
    MANIFEST_DIR,
    ManifestError,
    list_manifests,
    load_manifest,
    read_manifest_file,
    validate_manifest,
)

EXPECTED = {
    "covid-ct",
    "covid19-diag",
    "covidx-ct",
    "sars-cov-2-ct",
    "nih-chestxray14",
    "covidx-cxr",
    "cohen-covid-chestxray",
    "figure1-covid-chestxray",
    "actualmed-covid-chestxray",
    "rsna-pneumonia",
    "coronahack",
    "mosmeddata",
    "covid-19-ct-seg",
}


def test_every_expected_dataset_has_a_manifest():
    assert EXPECTED <= set(list_manifests())


@pytest.mark.parametrize("path", sorted(MANIFEST_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_manifest_validates(path):
    with open(path) as fh:
        data = yaml.safe_load(fh)
    assert validate_manifest(data, path) == []
    man = read_manifest_file(path)
    assert man.name == path.stem
    assert man.access != "download" or man.sources


def test_covid_ct_official_counts():
    man = load_manifest("covid-ct")
    assert man.splits == {
        "train": {"CT_COVID": 191, "CT_NonCOVID": 234},
        "val": {"CT_COVID": 60, "CT_NonCOVID": 58},
        "test": {"CT_COVID": 98, "CT_NonCOVID": 105},
    }
    assert man.classes == ["CT_NonCOVID", "CT_COVID"]


def test_access_modes_are_truthful():
    assert load_manifest("covid19-diag").access == "by-request"
    assert "MLMIP/COVID19-Diag" in load_manifest("covid19-diag").homepage
    for kaggle in ("coronahack", "rsna-pneumonia", "covidx-ct", "sars-cov-2-ct"):
        assert load_manifest(kaggle).access == "needs-account"
        assert "kaggle" in load_manifest(kaggle).instructions.lower()
    assert "box" in load_manifest("nih-chestxray14").homepage


def _bad(tmp_path, mutate) -> Path:
    data = yaml.safe_load((MANIFEST_DIR / "covid-ct.yaml").read_text())
    mutate(data)
    path = tmp_path / "covid-ct.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("licence"), "licence"),
        (lambda d: d.update(modality="mri"), "modality"),
        (lambda d: d["sources"][0].update(sha256="not-a-digest"), "sources[0].sha256"),
        (lambda d: d["splits"]["train"].update(CT_Other=3), "splits.train.CT_Other"),
        (lambda d: d.update(chapters=["no_such_chapter"]), "chapters[0]"),
        (lambda d: d.update(name="other-name"), "name"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path, mutate, field):
    path = _bad(tmp_path, mutate)
    with pytest.raises(ManifestError) as err:
        read_manifest_file(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"field '{field}'" in msg or (
        field == "licence" and "'licence' is a required property" in msg
    )


def test_unknown_manifest_lists_known_names():
    with pytest.raises(KeyError, match="covid-ct"):
        load_manifest("no-such-dataset")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_claimed_digests_match_the_staged_byte_identical_files(shared_data):
    """Digests in the manifests were computed from files staged byte-identical to upstream;
    re-hash them so a typo in a manifest fails here rather than in a user's download."""
    fig1 = load_manifest("figure1-covid-chestxray")
    checked = 0
    for src in fig1.sources:
        local = shared_data / "figure1-covid-chestxray-dataset" / src["path"]
        assert src["sha256"] == _sha(local), src["url"]
        checked += 1
    assert checked == 57  # 55 images + metadata.csv + README.md
    covidx = {s["path"]: s["sha256"] for s in load_manifest("covidx-cxr").sources}
    for name, digest in covidx.items():
        assert digest == _sha(shared_data / "covidx-labels" / "original" / name)
    cohen_meta = next(
        s for s in load_manifest("cohen-covid-chestxray").sources if s.get("path") == "metadata.csv"
    )
    assert cohen_meta["sha256"] == _sha(
        shared_data / "covid-chestxray-dataset" / "original" / "metadata.csv"
    )
    for src in load_manifest("covid-ct").sources:
        if src.get("sha256"):
            assert src["sha256"] == _sha(shared_data / "covid-ct" / src["path"])
