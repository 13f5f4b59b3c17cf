"""verify(): real copies pass, declared subsets are recognised, damage is named precisely."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from covidnb.cli import main as cli_main
from covidnb.data import DatasetNotFound, verify


def test_real_covid_ct_is_the_full_dataset(shared_data):
    rep = verify("covid-ct")
    assert rep.ok, str(rep)
    assert rep.compared_to == "full dataset" and rep.n_files == 746
    assert rep.counts["train"] == {"total": 425, "CT_NonCOVID": 234, "CT_COVID": 191}


@pytest.mark.parametrize(
    "name, n_files",
    [
        ("cohen-covid-chestxray", 75),
        ("nih-chestxray14", 24),
        ("mosmeddata", 50),
        ("coronahack", 20),
    ],
)
def test_staged_subsets_are_recognised(shared_data, name, n_files):
    rep = verify(name)
    assert rep.ok, str(rep)
    assert "declared subset 'shared'" in rep.compared_to and rep.n_files == n_files
    assert any(f"subset 'shared' of {n_files} files" in n for n in rep.notes)


def test_full_dataset_figure1(shared_data):
    rep = verify("figure1-covid-chestxray")
    assert rep.ok and rep.compared_to == "full dataset" and rep.n_files == 55


def test_not_found_lists_roots_and_how_to_get(tmp_path):
    with pytest.raises(DatasetNotFound) as err:
        verify("sars-cov-2-ct", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "kaggle" in msg.lower() and "COVIDNB_DATA" in msg


def test_counts_differ_from_manifest(mini_covid_ct, edit_manifest, mini_counts, capsys):
    edit_manifest("covid-ct", splits=mini_counts)
    assert verify("covid-ct", root=mini_covid_ct.parent).ok
    wrong = {**mini_counts, "train": {"CT_COVID": 3, "CT_NonCOVID": 2}}
    edit_manifest("covid-ct", splits=wrong)
    rep = verify("covid-ct", root=mini_covid_ct.parent)
    assert not rep.ok and [str(d) for d in rep.count_diffs] == [
        "count train/CT_COVID: expected 3, found 2"
    ]
    assert cli_main(["data", "verify", "covid-ct", "--root", str(mini_covid_ct.parent)]) == 1
    assert "count train/CT_COVID: expected 3, found 2" in capsys.readouterr().out


def test_missing_extra_and_corrupt_files_are_named(
    mini_covid_ct, edit_manifest, mini_counts, capsys
):
    edit_manifest("covid-ct", splits=mini_counts)
    img_dir = mini_covid_ct / "Images-processed" / "CT_NonCOVID"
    listed = (mini_covid_ct / "Data-split" / "NonCOVID" / "testCT_NonCOVID.txt").read_text().split()
    (img_dir / listed[1]).unlink()
    shutil.copy(img_dir / listed[0], img_dir / "stray.png")
    victim = (
        mini_covid_ct
        / "Images-processed"
        / "CT_COVID"
        / (mini_covid_ct / "Data-split" / "COVID" / "trainCT_COVID.txt").read_text().split()[0]
    )
    victim.write_bytes(victim.read_bytes()[:200])
    rep = verify("covid-ct", root=mini_covid_ct.parent)
    assert not rep.ok
    split_file = mini_covid_ct / "Data-split" / "NonCOVID" / "testCT_NonCOVID.txt"
    assert rep.missing == [f"Images-processed/CT_NonCOVID/{listed[1]} (listed in {split_file}:2)"]
    assert rep.extra == [
        "Images-processed/CT_NonCOVID/stray.png (not listed by any split/label file)"
    ]
    assert [c[0] for c in rep.corrupt] == [f"Images-processed/CT_COVID/{victim.name}"]
    assert cli_main(["data", "verify", "covid-ct", "--root", str(mini_covid_ct.parent)]) == 1
    out = capsys.readouterr().out
    assert listed[1] in out and "stray.png" in out and victim.name in out


def test_sha256sums_mismatch_is_corrupt(mini_covid_ct, edit_manifest, mini_counts):
    edit_manifest("covid-ct", splits=mini_counts)
    meta = mini_covid_ct / "COVID-CT-MetaInfo.csv"
    good = hashlib.sha256(meta.read_bytes()).hexdigest()
    (mini_covid_ct / "SHA256SUMS").write_text(
        f"{good}  COVID-CT-MetaInfo.csv\n{'0' * 64}  NonCOVID-CT-MetaInfo.csv\n{good}  gone.txt\n"
    )
    rep = verify("covid-ct", root=mini_covid_ct.parent)
    assert (
        rep.corrupt[0][0] == "NonCOVID-CT-MetaInfo.csv"
        and "differs from SHA256SUMS" in rep.corrupt[0][1]
    )
    assert "gone.txt (named in SHA256SUMS)" in rep.missing


def test_cli_verify_ok_exit_zero(shared_data, capsys):
    assert cli_main(["data", "verify", "figure1-covid-chestxray"]) == 0
    assert "OK" in capsys.readouterr().out


def test_absent_split_file_is_reported_not_raised(
    mini_covid_ct, edit_manifest, mini_counts, capsys
):
    edit_manifest("covid-ct", splits=mini_counts)
    split_file = mini_covid_ct / "Data-split" / "COVID" / "valCT_COVID.txt"
    split_file.unlink()
    rep = verify("covid-ct", root=mini_covid_ct.parent)
    assert not rep.ok and any(str(split_file) in m for m in rep.missing)
    # its images are not misreported as extra
    assert rep.extra == [] and any("extra files not checked" in n for n in rep.notes)
