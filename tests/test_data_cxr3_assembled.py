"""The assembled COVIDx-style set (covidnb.data.cxr3_assembled), the patient split helpers and
the loaders of the full downloads (Kermany, RSNA, CoronaHack, COVIDx) on small fake trees in each
official layout; plus the real staged images of ../shared/data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covidnb.data import check_leakage, open_dataset
from covidnb.data.kermany import kermany_patient
from covidnb.data.patient_split import draw_per_class, patient_split, quota_table


def _png(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


def _kermany_tree(root):
    for split, names in {
        "train": {"NORMAL": ["IM-0115-0001.jpeg", "IM-0115-0002.jpeg", "NORMAL2-IM-0927-0001.jpeg"],
                  "PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_virus_6.jpeg",
                                "person2_bacteria_3.jpeg"]},
        "val": {"NORMAL": ["NORMAL2-IM-1427-0001.jpeg"], "PNEUMONIA": ["person1946_bacteria_4874.jpeg"]},
        "test": {"NORMAL": ["IM-0001-0001.jpeg"], "PNEUMONIA": ["person100_bacteria_475.jpeg"]},
    }.items():
        for folder, files in names.items():
            for f in files:
                _png(root / "chest_xray" / split / folder / f)


def test_kermany_patient_ids_from_file_names():
    assert kermany_patient("person1_bacteria_1.jpeg") == ("person1", "bacteria")
    assert kermany_patient("person12_virus_40.jpeg") == ("person12", "virus")
    assert kermany_patient("IM-0115-0001.jpeg") == ("IM-0115", "")
    assert kermany_patient("NORMAL2-IM-0927-0001.jpeg") == ("NORMAL2-IM-0927", "")
    assert kermany_patient("odd.png") == ("", "")


def test_kermany_kaggle_layout(tmp_path):
    _kermany_tree(tmp_path / "kermany-chest-xray")
    ds = open_dataset("kermany-chest-xray", "train", root=tmp_path, image_size=8, fallback="error")
    assert ds.class_counts() == {"normal": 3, "pneumonia": 3}
    assert sorted(set(ds.patient_ids)) == ["IM-0115", "NORMAL2-IM-0927", "person1", "person2"]
    assert ds.causes.count("virus") == 1 and ds.sample_ids[0].startswith("chest_xray/train/")
    assert len(open_dataset("kermany-chest-xray", "val", root=tmp_path, image_size=8,
                            fallback="error")) == 2


def test_kermany_mendeley_layout_has_empty_val(tmp_path):
    _kermany_tree(tmp_path / "kermany-chest-xray")
    import shutil
    shutil.rmtree(tmp_path / "kermany-chest-xray" / "chest_xray" / "val")
    ds = open_dataset("kermany-chest-xray", "val", root=tmp_path, image_size=8, fallback="error")
    assert len(ds) == 0


def test_rsna_official_layout_reads_dicom(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    root = tmp_path / "rsna-pneumonia"
    (root / "stage_2_train_images").mkdir(parents=True)
    rows = [("a1", "Normal"), ("b2", "Lung Opacity"), ("b2", "Lung Opacity"),
            ("c3", "No Lung Opacity / Not Normal")]
    pd.DataFrame(rows, columns=["patientId", "class"]).to_csv(
        root / "stage_2_detailed_class_info.csv", index=False)
    pd.DataFrame({"patientId": ["a1", "b2", "c3"], "Target": [0, 1, 0]}).to_csv(
        root / "stage_2_train_labels.csv", index=False)
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for pid in ("a1", "b2", "c3"):
        base.save_as(root / "stage_2_train_images" / f"{pid}.dcm")
    ds = open_dataset("rsna-pneumonia", "train", root=tmp_path, image_size=16, fallback="error")
    assert ds.class_counts() == {"normal": 1, "pneumonia": 1}  # c3 is listed but unlabelled
    assert ds[0]["image"].shape == (1, 16, 16)


def test_coronahack_kaggle_layout(tmp_path):
    root = tmp_path / "coronahack"
    img = root / "Coronahack-Chest-XRay-Dataset" / "Coronahack-Chest-XRay-Dataset"
    rows = [("IM-0115-0001.jpeg", "Normal", "TRAIN", ""),
            ("person1_bacteria_1.jpeg", "Pnemonia", "TRAIN", ""),
            ("covid-x.jpg", "Pnemonia", "TRAIN", "COVID-19"),
            ("IM-0001-0001.jpeg", "Normal", "TEST", "")]
    for name, _, split, _ in rows:
        _png(img / split.lower() / name)
    pd.DataFrame(rows, columns=["X_ray_image_name", "Label", "Dataset_type",
                                "Label_2_Virus_category"]).to_csv(
        root / "Chest_xray_Corona_Metadata.csv", index=True)
    tr = open_dataset("coronahack", "train", root=tmp_path, image_size=8, fallback="error")
    assert tr.class_counts() == {"normal": 1, "pneumonia": 1, "COVID-19": 1}
    assert "person1" in tr.patient_ids
    assert open_dataset("coronahack", "test", root=tmp_path, image_size=8,
                        fallback="error").class_counts()["normal"] == 1


def _cohen_tree(root, n_per=(2, 2, 2)):
    rows = []
    for finding, n in zip(("No Finding", "Streptococcus", "COVID-19"), n_per):
        for i in range(n):
            name = f"{finding[:4].lower()}-{i}.png"
            _png(root / "images" / name)
            rows.append({"patientid": f"{finding[:4]}{i // 2}", "finding": finding,
                         "modality": "X-ray", "folder": "images", "filename": name})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)


def test_assembled_set_pools_sources_once_and_splits_by_patient(tmp_path, monkeypatch):
    monkeypatch.setenv("COVIDNB_DATA", str(tmp_path))  # only the fake sources, not ../shared
    _cohen_tree(tmp_path / "cohen-covid-chestxray", (4, 4, 6))
    _kermany_tree(tmp_path / "kermany-chest-xray")
    # CoronaHack repeats two Kermany images: they must come in once, as Kermany's
    ch = tmp_path / "coronahack"
    (ch / "Coronahack-Chest-XRay-Dataset" / "Coronahack-Chest-XRay-Dataset" / "train").mkdir(parents=True)
    for name in ("IM-0115-0001.jpeg", "person1_bacteria_1.jpeg"):
        _png(ch / "Coronahack-Chest-XRay-Dataset" / "Coronahack-Chest-XRay-Dataset" / "train" / name)
    pd.DataFrame([("IM-0115-0001.jpeg", "Normal", "TRAIN", ""),
                  ("person1_bacteria_1.jpeg", "Pnemonia", "TRAIN", "")],
                 columns=["X_ray_image_name", "Label", "Dataset_type", "Label_2_Virus_category"]
                 ).to_csv(ch / "Chest_xray_Corona_Metadata.csv", index=False)
    kw = {"root": tmp_path, "image_size": 8, "fallback": "error", "cache": False}
    every = open_dataset("cxr3-assembled", "all", **kw)
    assert len(every) == 14 + 10  # 14 Cohen + 10 Kermany, CoronaHack's 2 not again
    frame = every.to_frame()
    assert set(frame.source) == {"cohen", "kermany"}
    splits = {s: open_dataset("cxr3-assembled", s, **kw) for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == len(every)
    assert check_leakage(splits).empty
    assert all(pid.startswith(("cohen:", "kermany:")) for pid in every.patient_ids)
    # the paper's quota, here 2 training images per class: whole patients, so at most one
    # patient's images over (each fake patient has at most 2 images)
    capped = open_dataset("cxr3-assembled", "train", quota={"train": 2}, **kw)
    full_train = splits["train"].class_counts()
    for c, n in capped.class_counts().items():
        assert n <= min(full_train[c], 2 + 1) and (n >= 2 or n == full_train[c])
    assert set(capped.sample_ids) <= set(splits["train"].sample_ids)


def test_patient_split_keeps_patients_together_and_is_seeded():
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(40)],
                          "patient_id": [f"p{i // 2}" for i in range(40)],
                          "label": ["a", "b"] * 20, "source": "x"})
    frame["label"] = [("a" if (i // 2) % 2 else "b") for i in range(40)]
    s0 = patient_split(frame, {"train": .6, "val": .2, "test": .2}, seed=0)
    assert (frame.assign(s=s0).groupby("patient_id").s.nunique() == 1).all()
    assert (s0 == patient_split(frame, {"train": .6, "val": .2, "test": .2}, seed=0)).all()
    assert not (s0 == patient_split(frame, {"train": .6, "val": .2, "test": .2}, seed=1)).all()
    # 10 patients per class: 2 val and 2 test each, worked by hand (round(0.2 * 10) = 2)
    counts = frame.assign(s=s0).groupby(["label", "s"]).patient_id.nunique()
    assert counts.loc[("a", "val")] == 2 and counts.loc[("a", "test")] == 2
    with pytest.raises(ValueError, match="summing to 1"):
        patient_split(frame, {"train": .5, "test": .2})


def test_draw_per_class_quota_by_whole_patients_and_table():
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(9)],
                          "patient_id": ["p0", "p0", "p1", "p2", "p3", "q0", "q1", "q1", "q1"],
                          "label": ["a"] * 5 + ["b"] * 4})
    kept = frame.loc[draw_per_class(frame, 2, seed=0)]
    n = kept.groupby("label").size()
    assert n["a"] in (2, 3) and n["b"] in (1, 3, 4)  # whole patients: may overshoot by one patient
    assert (kept.groupby("patient_id").size() == frame[frame.patient_id.isin(kept.patient_id)]
            .groupby("patient_id").size()).all()
    table = quota_table(frame.assign(split="train"), {"train": 4}, ["a", "b"])
    assert table.set_index("class").loc["a", "met"] and table.set_index("class").loc["b", "short"] == 0
    assert not quota_table(frame.assign(split="train"), {"train": 5}, ["a", "b"]).met.all()


def test_assembled_real_staged_counts_per_source(shared_data):
    every = open_dataset("cxr3-assembled", "all", image_size=16, fallback="error")
    f = every.to_frame()
    counts = pd.crosstab(f.source, f.label)
    # covid-chestxray-dataset/PROVENANCE: COVID-19 30, No Finding 19, SARS 11, Streptococcus 9,
    # Pneumocystis 2 (ARDS 4 left out, as COVIDx does); Figure 1: COVID-19 35, No finding 3, Pneumonia 2
    assert counts.loc["cohen"].to_dict() == {"COVID-19": 30, "normal": 19, "pneumonia": 22}
    assert counts.loc["figure1"].to_dict() == {"COVID-19": 35, "normal": 3, "pneumonia": 2}
    assert set(f.source) == {"cohen", "figure1"}  # CoronaHack's staged rows are Cohen images
    # Figure 1's COVID-00003a / b (same age and sex) are one patient
    assert every.patient_ids[every.sample_ids.index("figure1/images/COVID-00039a.jpg")] == \
        every.patient_ids[every.sample_ids.index("figure1/images/COVID-00039b.jpg")]
    splits = {s: open_dataset("cxr3-assembled", s, image_size=16, fallback="error")
              for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == len(every) == 111
    assert check_leakage(splits).empty
    for d in splits.values():
        assert min(d.class_counts().values()) > 0
    other = open_dataset("cxr3-assembled", "test", image_size=16, fallback="error", split_seed=1)
    assert other.sample_ids != splits["test"].sample_ids
    assert "train" in set(every.covidx_split) and "test" in set(every.covidx_split)


def test_view_masks_by_hand():
    from covidnb.data.cxr3_assembled import view_mask

    border = view_mask("border_only", 16)
    assert border[0].all() and border[:, 0].all() and border[8, 8] == 0
    lungs = view_mask("no_lungs", 100)
    assert lungs[48, 30] == 0 and lungs[48, 70] == 0  # the ellipse centres are blanked
    assert lungs[0, 0] == 1 and lungs[48, 50] == 1     # corners and the mediastinum stay
    assert view_mask("full", 4).all()
    with pytest.raises(ValueError, match="view must be one of"):
        view_mask("lungs_only", 4)


def test_source_target_and_views_on_real_staged(shared_data):
    kw = {"image_size": 32, "fallback": "error"}
    cls = open_dataset("cxr3-assembled", "test", **kw)
    src = open_dataset("cxr3-assembled", "test", target="source", **kw)
    assert src.sample_ids == cls.sample_ids and src.classes == ["cohen", "figure1"]
    assert [src.classes[t] for t in src.targets] == src.sources
    assert src.diagnoses == [cls.classes[t] for t in cls.targets]
    border = open_dataset("cxr3-assembled", "test", view="border_only", **kw)[0]["image"]
    assert border[0, 16, 16] == 0 and torch_allclose(border[0, 0], cls[0]["image"][0, 0])
    with pytest.raises(ValueError, match="target must be one of"):
        open_dataset("cxr3-assembled", "test", target="hospital", **kw)


def torch_allclose(a, b):
    import torch

    return bool(torch.allclose(a, b))
