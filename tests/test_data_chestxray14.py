"""ChestX-ray14 in both layouts (official NIH files, CheXNet label lists) on small fake trees,
the random 70/10/20 splits and their leakage, the labelled phantom, and the real label lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from covidnb.data import NIH_LABELS
from covidnb.data.chestxray14_lists import ChestXray14Lists, read_label_list, read_label_lists
from covidnb.data.chestxray14_phantom import RELEASE_N, RELEASE_POSITIVES, ChestXray14Phantom
from covidnb.data.chestxray14_splits import leakage_counts, random_split, random_split_leakage
from covidnb.data.nih import NIHChestXray14

# name → findings; patients 1 (3 images), 2 (1), 3 (2)
FAKE = {
    "00000001_000.png": "Cardiomegaly",
    "00000001_001.png": "Cardiomegaly|Emphysema",
    "00000001_002.png": "No Finding",
    "00000002_000.png": "Infiltration|Effusion",
    "00000003_000.png": "Hernia",
    "00000003_001.png": "No Finding",
}


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 20), value, np.uint8)).save(path)


def _vector(findings: str) -> list[int]:
    return [int(lab in findings.split("|")) for lab in NIH_LABELS]


@pytest.fixture
def official_tree(tmp_path) -> Path:
    root = tmp_path / "nih"
    for i, name in enumerate(FAKE):
        _png(root / "images" / name, 20 * i)
    head = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
            "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")
    rows = [f"{n},{f},000,{n[:8]},058Y,M,PA,2500,2048,0.143,0.143\n" for n, f in FAKE.items()]
    (root / "Data_Entry_2017.csv").write_text(head + "".join(rows))
    names = list(FAKE)
    (root / "train_val_list.txt").write_text("\n".join(names[:4]))
    (root / "test_list.txt").write_text("\n".join(names[4:]))
    (root / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                                             "00000002_000.png,Infiltrate,10.5,20,30,40\n")
    return root


@pytest.fixture
def lists_tree(tmp_path) -> Path:
    root = tmp_path / "lists"
    names = list(FAKE)
    parts = {"train": names[:3], "val": names[3:4], "test": names[4:]}
    for split, ns in parts.items():
        lines = [n + " " + " ".join(map(str, _vector(FAKE[n]))) for n in ns]
        (root / f"{split}_list.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{split}_list.txt").write_text("\n".join(lines))
    for i, n in enumerate(names[:5]):  # the last image is absent: skipped, not an error
        _png(root / "images" / n, 30 * i)
    return root


def _lists(root, split, **kw):
    opts = {"splits": ["train", "val", "test"], "image_dirs": ["images"]}
    return ChestXray14Lists(root, split, name="chexnet-split-labels", classes=NIH_LABELS, options=opts,
                            image_size=8, cache=False, **kw)


def test_official_layout_on_a_fake_tree(official_tree):
    tv = NIHChestXray14(official_tree, "train", image_size=8, cache=False)
    te = NIHChestXray14(official_tree, "test", image_size=8, cache=False)
    assert tv.split == "train_val" and len(tv) == 4 and len(te) == 2
    assert tv.targets[1].tolist() == _vector("Cardiomegaly|Emphysema")
    assert tv.normal.tolist() == [0, 0, 1, 0] and te.patient_ids == ["00000003", "00000003"]
    s = tv[3]
    assert s["image"].shape == (1, 8, 8) and s["label"].shape == (14,) and float(s["normal"]) == 0.0
    boxes = tv.bboxes("images/00000002_000.png")
    assert boxes == [{"label": "Infiltration", "x": 10.5, "y": 20.0, "w": 30.0, "h": 40.0}]
    assert tv.bboxes(tv.sample_ids[0]) == []


def test_official_layout_names_a_bad_row(official_tree):
    (official_tree / "test_list.txt").write_text("00000009_000.png")
    with pytest.raises(ValueError, match=r"test_list.txt:1: 00000009_000.png has no row"):
        NIHChestXray14(official_tree, "test", image_size=8, cache=False)


def test_chexnet_lists_on_a_fake_tree(lists_tree):
    tr, va, te = (_lists(lists_tree, s) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (3, 1, 1)  # 00000003_001 has no image
    assert tr.sample_ids[0] == "images/00000001_000.png" and tr.patient_ids == ["00000001"] * 3
    assert tr.normal.tolist() == [0.0, 0.0, 1.0]
    assert va.targets[0].tolist() == _vector("Infiltration|Effusion")
    s = te[0]
    assert s["label"].tolist() == _vector("Hernia") and float(s["normal"]) == 0.0
    frame = read_label_lists(lists_tree)
    assert len(frame) == 6 and list(frame["split"]) == ["train"] * 3 + ["val"] + ["test"] * 2


def test_chexnet_lists_resplit_draws_every_image_once(lists_tree):
    got = {s: _lists(lists_tree, s, resplit="patient", split_seed=3).sample_ids for s in ("train", "val", "test")}
    listed = sorted(i for ids in got.values() for i in ids)
    assert listed == sorted(f"images/{n}" for n in list(FAKE)[:5])
    pats = {s: {i[7:15] for i in ids} for s, ids in got.items()}
    assert not (pats["train"] & pats["test"]) and not (pats["train"] & pats["val"])
    with pytest.raises(ValueError, match="resplit"):
        _lists(lists_tree, "train", resplit="study")


@pytest.mark.parametrize("line, why", [("00000001_000.png 0 1", "14 labels"),
                                      ("00000001_000.jpg " + "0 " * 14, "png"),
                                      ("00000001_000.png " + "0 " * 13 + "2", "0/1")])
def test_label_list_errors_name_file_and_line(tmp_path, line, why):
    path = tmp_path / "train_list.txt"
    path.write_text("00000001_001.png " + " ".join(["0"] * 14) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=r"train_list.txt:2: expected"):
        read_label_list(path)


def test_duplicate_image_across_lists_is_refused(lists_tree):
    extra = (lists_tree / "val_list.txt").read_text() + "\n00000001_000.png " + " ".join(["0"] * 14)
    (lists_tree / "val_list.txt").write_text(extra)
    with pytest.raises(ValueError, match="listed twice.*00000001_000.png"):
        read_label_lists(lists_tree)


def test_random_split_levels_and_leakage():
    names = [f"{p:08d}_{k:03d}.png" for p in range(1, 101) for k in range(10)]  # 100 patients × 10
    img = random_split(names, level="image", seed=0)
    assert [int((img == s).sum()) for s in ("train", "val", "test")] == [700, 100, 200]
    pat = random_split(names, level="patient", seed=0)
    assert [int((pat == s).sum()) for s in ("train", "val", "test")] == [700, 100, 200]
    assert leakage_counts(names, pat)["leaked_images"] == 0
    leak = leakage_counts(names, img)
    # 10 images per patient, 7 of them train on average: nearly every test image leaks
    assert leak["n_test_images"] == 200 and leak["leaked_images"] > 190
    table = random_split_leakage(names, seeds=[0, 1], level="image")
    assert list(table["seed"]) == [0, 1] and (table["leaked_share"] > 0.95).all()


def test_leakage_counts_by_hand():
    names = ["00000001_000.png", "00000001_001.png", "00000002_000.png", "00000003_000.png"]
    split = ["train", "test", "test", "val"]
    got = leakage_counts(names, split)
    assert got == {"n_test_images": 2, "leaked_images": 1, "leaked_share": 0.5,
                   "n_test_patients": 2, "leaked_patients": 1}
    with pytest.raises(ValueError, match="8-digit patient id"):
        leakage_counts(["scan.png"], ["test"])


def test_phantom_labels_are_rows_of_the_pool_and_boxes_lie_inside():
    pool = np.zeros((3, 14), np.float32)
    pool[1, [1, 13]] = 1
    pool[2, 5] = 1
    ph = ChestXray14Phantom("train", n=40, seed=1, label_pool=pool, image_size=32)
    rows = {tuple(r) for r in pool}
    assert all(tuple(t) in rows for t in ph.targets) and ph.synthetic and ph.multilabel
    assert np.array_equal(ph.normal == 1, ph.targets.sum(1) == 0)
    i = int(np.flatnonzero(ph.targets[:, 13])[0])
    boxes = ph.boxes(i)
    assert {b["label"] for b in boxes} == {"Cardiomegaly", "Hernia"}
    assert all(0 <= b["x"] and b["x"] + b["w"] <= 32 and b["w"] > 0 for b in boxes)
    a, b = ph[i]["image"], ChestXray14Phantom("train", n=40, seed=1, label_pool=pool, image_size=32)[i]["image"]
    assert a.shape == (1, 32, 32) and np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="label_pool must be"):
        ChestXray14Phantom("train", n=4, label_pool=np.zeros((2, 3)))


def test_real_label_lists_match_their_provenance(shared_data):
    frame = read_label_lists(shared_data / "chexnet-split-labels")
    assert len(frame) == RELEASE_N == 112120 and frame["patient_id"].nunique() == 30805
    by_split = frame.groupby("split")
    assert by_split.size().to_dict() == {"train": 78468, "val": 11219, "test": 22433}
    assert by_split["patient_id"].nunique().to_dict() == {"train": 21528, "val": 3090, "test": 6187}
    assert frame[NIH_LABELS].sum().to_dict() == RELEASE_POSITIVES  # PROVENANCE table, summed
    assert by_split.get_group("test")["Hernia"].sum() == 42


def test_official_assignment_and_real_official_split_has_no_leak(shared_data):
    from covidnb.data.chestxray14_splits import official_assignment

    assert official_assignment(["00000001_000.png", "00000002_000.png"], ["00000002_000.png"]).tolist() == ["test", "train"]
    with pytest.raises(ValueError, match="not among"):
        official_assignment(["00000001_000.png"], ["00000009_000.png"])
    from covidnb.data.tables import listed_lines

    names = list(read_label_lists(shared_data / "chexnet-split-labels")["image"])
    tv = [n for _, n in listed_lines(shared_data / "nih-chestxray14" / "original-lists" / "train_val_list.txt")]
    split = official_assignment(names, tv)
    assert int((split == "test").sum()) == 25596  # the official test list's size
    assert leakage_counts(names, split)["leaked_images"] == 0


def test_present_only_lists_the_images_there(lists_tree):
    opts = {"splits": ["train", "val", "test"], "image_dirs": ["images"]}
    every = ChestXray14Lists.index(lists_tree, opts, NIH_LABELS, "test")
    there = ChestXray14Lists.index(lists_tree, {**opts, "present_only": True}, NIH_LABELS, "test")
    assert len(every) == 2 and [r.sample_id for r in there] == ["images/00000003_000.png"]


def test_staged_label_lists_verify_as_their_declared_subset(shared_data):
    from covidnb.data import verify

    rep = verify("chexnet-split-labels")
    assert rep.ok, str(rep)
    assert "declared subset 'shared'" in rep.compared_to and rep.n_files == 24
