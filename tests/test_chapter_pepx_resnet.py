"""Chapter pepx_resnet: its configurations, its labels and its own views (per-class tables from a
confusion matrix, the source-only rule of the shortcut audit)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import pytest

from covidnb.chapters import pepx_resnet as ch
from covidnb.chapters import pepx_resnet_blocks as blocks
from covidnb.chapters import pepx_resnet_shortcuts as shortcuts
from covidnb.chapters import pepx_resnet_view as view
from covidnb.chapters.registry import get_chapter
from covidnb.experiment import normalise_config
from covidnb.losses import build_loss


def test_registered_as_built():
    spec = get_chapter("pepx_resnet")
    assert spec.has_experiments and spec.positive == "COVID-19"
    assert spec.classes == ("normal", "pneumonia", "COVID-19")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_grid_is_the_two_by_two_per_seed(profile):
    p = ch.settings(profile)
    configs = ch.grid(profile)
    assert len(configs) == 4 * len(p["seeds"])
    assert {(c["model"], c["loss"]) for c in configs} == {
        ("resnet18_tv", "ce"), ("resnet18_tv", "focal"), ("pepx_resnet", "ce"), ("pepx_resnet", "focal")}
    for c in configs:
        assert c["dataset_kwargs"]["split_seed"] == c["seed"]  # a new patient split per repeat
        normalise_config(c)
    focal = next(c for c in configs if c["loss"] == "focal")
    assert focal["loss_kwargs"] == {"gamma": 1.0, "alpha": 1.0, "alpha_convention": "uniform"}
    build_loss(focal["loss"], **focal["loss_kwargs"])  # the paper's α = 1 on three classes builds


def test_cpu_profile_has_five_seeds():
    assert len(ch.settings("cpu")["seeds"]) >= 5


def test_audit_grid_and_reference_plan():
    tasks = ch.audit_grid("smoke")
    labels = [t for t, _ in tasks]
    assert labels == list(ch.AUDIT_TASKS)
    by = dict(tasks)
    assert by["source · whole image"]["dataset_kwargs"]["target"] == "source"
    assert by["class · border only"]["dataset_kwargs"]["view"] == "border_only"
    assert list(by["class · whole image · Cohen only"]["dataset_kwargs"]["sources"]) == ["cohen"]
    # the audit's whole-image class run is the 2 × 2's ResNet-18 / CE run: one record
    assert by["class · whole image"] in ch.grid("smoke")
    plan = ch.reference_grid("smoke")
    assert len(plan) == 4 + len(tasks) - 1
    d = ch.describe(by["class · whole image · Cohen only"])
    assert d["Model"] == "Resnet18" and d["sources"] == "cohen" and d["target"] == "class"
    assert ch.describe(ch.grid("smoke")[2])["Model"] == "This work"


def test_per_class_from_confusion_by_hand():
    cm = [[8, 2, 0],   # normal: 8 right, 2 called pneumonia
          [1, 6, 3],   # pneumonia
          [0, 0, 0]]   # no COVID-19 image in this split
    out = view.per_class_from_confusion(cm, ["normal", "pneumonia", "COVID-19"])
    assert out["precision_normal"] == pytest.approx(8 / 9)
    assert out["sensitivity_normal"] == pytest.approx(0.8)
    assert out["f1_normal"] == pytest.approx(2 * (8 / 9) * 0.8 / (8 / 9 + 0.8))
    assert out["precision_COVID-19"] == 0.0          # 3 predicted, none right
    assert math.isnan(out["sensitivity_COVID-19"])   # no image of the class: undefined, not 0
    assert math.isnan(out["f1_COVID-19"])


def test_source_rule_by_hand():
    train = pd.DataFrame({"source": ["a", "a", "a", "b", "b"],
                          "label": ["COVID-19", "COVID-19", "normal", "normal", "normal"]})
    test = pd.DataFrame({"source": ["a", "b", "b", "c"],
                         "label": ["COVID-19", "normal", "COVID-19", "normal"]})
    res = shortcuts.source_rule(train, test)
    assert res["rule"] == {"a": "COVID-19", "b": "normal"}
    assert res["accuracy"] == pytest.approx(3 / 4)  # c falls back to the overall majority, normal


def test_table_comparisons_name_reported_columns():
    from covidnb import report

    for cmp in view.table_comparisons():
        table = report.reported_table("pepx_resnet", cmp.table)
        assert set(cmp.metrics) <= set(table.columns)
        assert set(table["Model"]) >= {"Resnet18", "This work"}


def test_bootstrap_table_on_stored_style_runs():
    import numpy as np

    class FakeRun:
        def __init__(self, seed, correct):
            y = np.array([0, 1, 2] * 4)
            pred = y.copy() if correct else (y + 1) % 3
            s = np.eye(3)[pred] * 0.8 + 0.1 / 1.5
            s = s / s.sum(1, keepdims=True)
            self.predictions = pd.DataFrame({"label": y, **{f"p_{c}": s[:, k] for k, c in enumerate(ch.CLASSES)}})
            self.config = {**ch.grid("smoke")[0], "seed": seed}

    table = view.bootstrap_table([FakeRun(0, True), FakeRun(1, True)], n=50)
    cell = table.iloc[0]["accuracy"]
    assert cell.startswith("1.000 [1.000, 1.000]") and table.iloc[0]["test images (all seeds)"] == 24
    wrong = view.bootstrap_table([FakeRun(0, False)], n=50).iloc[0]
    assert wrong["accuracy"].startswith("0.000") and wrong["f1 Normal"].startswith("0.000")


def test_mode_gap_leaves_the_net_unchanged_and_sees_group_norm_equal():
    import torch

    from covidnb.data import open_dataset
    from covidnb.models.pepx import PEPXResNet

    ds = open_dataset("cxr3-assembled", "test", image_size=32, fallback="synthetic", synthetic_n=8)
    net = PEPXResNet(width=4, norm="group").eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    gap = view.mode_gap(net, ds, batch_size=4)
    assert gap["accuracy"].iloc[0] == gap["accuracy"].iloc[1]  # GroupNorm: no train/eval gap
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training


def test_closing_note_reads_the_committed_reference(shared_data):
    from covidnb.chapters import views

    spec = get_chapter("pepx_resnet")
    runs = views.collect_runs(spec.grid("cpu"), "results", train=False, log=lambda s: None)
    if not runs:
        pytest.skip("no committed reference re-run")
    note = view.closing_note(runs, None)
    assert "Resnet18, softmax CE: accuracy" in note and "0.9467" in note  # the paper's printed 0.94667
    shares = [view.one_class_share(r) for r in runs]
    assert f"{sum(s >= 1.0 for s in shares)} of {len(runs)} runs" in note
    assert f"{sum(s >= 0.9 for s in shares)} call at least 90 %" in note
    assert ("04-evaluation" in note) == any(s >= 1.0 for s in shares)


class _TwoSourceSplit:
    """A stand-in split: 1-channel images whose brightness is set by the source (or not)."""

    sources_in_pool = ("cohen", "figure1")
    synthetic = False

    def __init__(self, n, offset, visible, seed):
        rng = np.random.default_rng(seed)
        self.patients = [f"p{offset + i // 2}" for i in range(n)]  # two images per patient
        self.src = ["figure1" if (offset + i // 2) % 2 else "cohen" for i in range(n)]
        self.images = [torch.from_numpy(rng.random((1, 24, 24)).astype("float32") * 0.5
                                        + (0.4 if visible and s == "figure1" else 0.0))
                       for s in self.src]

    def __len__(self):
        return len(self.src)

    def __getitem__(self, i):
        return {"image": self.images[i]}

    def to_frame(self):
        return pd.DataFrame({"patient_id": self.patients, "source": self.src})


@pytest.mark.parametrize("visible", [True, False])
def test_source_probe_finds_a_visible_source_only(visible):
    splits = [_TwoSourceSplit(40, 0, visible, 0), _TwoSourceSplit(20, 20, visible, 1)]
    feats, source, patient = shortcuts.probe_features(splits)
    assert len(source) == 60 and len(set(patient)) == 30 and source.sum() == 30
    assert feats[f"grey levels, {shortcuts.PROBE_SIZE} × {shortcuts.PROBE_SIZE}"].shape == (60, shortcuts.PROBE_SIZE ** 2)
    hist = feats[f"grey-level histogram, {shortcuts.PROBE_BINS} bins"]
    np.testing.assert_allclose(hist.sum(1), 1.0, rtol=1e-5)  # shares of the pixels
    table = shortcuts.source_probe(splits, permutations=9).set_index("features")
    if visible:
        assert (table["AUC (out of fold)"] > 0.9).all() and (table["permutation p"] == 0.1).all()
    else:
        assert (table["AUC (out of fold)"] < 0.8).all() and (table["permutation p"] > 0.1).any()


def test_per_class_columns_at_the_validation_offsets():
    # argmax: nothing called pneumonia (its precision undefined); at the offsets chosen on
    # validation one pneumonia image is called pneumonia and one COVID-19 image is not
    import math

    class Rec:
        metrics = {"task": "multiclass", "classes": list(ch.CLASSES), "accuracy": 0.6,
                   "confusion_matrix": [[1, 0, 1], [0, 0, 2], [0, 0, 6]],
                   "val_offsets": {"offsets": {"normal": 0.0, "pneumonia": 1.25, "COVID-19": 0.0},
                                   "confusion_matrix": [[1, 0, 1], [0, 1, 1], [0, 1, 5]],
                                   "accuracy": 0.7}}

    row = view.run_columns(Rec())
    f = pd.DataFrame([{**row, "accuracy": 0.6, "accuracy@val": 0.7}])
    assert math.isnan(f.loc[0, "precision_pneumonia"])
    at_val = view.at_validation_offsets(f)
    assert at_val.loc[0, "precision_pneumonia"] == pytest.approx(0.5)
    assert at_val.loc[0, "sensitivity_COVID-19"] == pytest.approx(5 / 6)
    assert at_val.loc[0, "accuracy"] == pytest.approx(0.7)
    assert at_val.loc[0, "operating point"] == view.OFFSETS_LABEL
    assert row["val_offsets"] == "normal +0.00, pneumonia +1.25, COVID-19 +0.00"
    # a run without offsets shows NaN at the validation point, never its argmax value
    Rec.metrics = {k: v for k, v in Rec.metrics.items() if k != "val_offsets"}
    none = view.at_validation_offsets(pd.DataFrame([{**view.run_columns(Rec()), "accuracy": 0.6,
                                                      "accuracy@val": math.nan}]))
    assert math.isnan(none.loc[0, "f1_normal"]) and math.isnan(none.loc[0, "accuracy"])


def test_audit_paired_by_hand():
    # seeds 0 and 1: the whole image ranks better than the border by 0.2 and 0.0 (AUC); the
    # Cohen-only task has its own split and the source task another target: both left out
    f = pd.DataFrame({"seed": [0, 0, 1, 1, 0, 0], "auc_macro": [0.8, 0.6, 0.7, 0.7, 0.9, 0.5],
                      "accuracy": [0.6, 0.5, 0.7, 0.4, 0.9, 0.5]})
    labels = [ch.WHOLE_IMAGE, "class · border only", ch.WHOLE_IMAGE, "class · border only",
              "class · whole image · Cohen only", "source · whole image"]
    t = shortcuts.audit_paired(f, labels)
    assert list(t.index) == ["class · border only"]
    row = t.loc["class · border only"]
    assert row["Δ macro AUC (whole − task)"].startswith("0.100 ± 0.141")
    assert row["Δ accuracy (whole − task)"].startswith("0.200 ± 0.141")
    assert row["seeds where the whole image ranks better"] == "1 of 2"


def test_block_weights_from_the_record_and_over_seeds(monkeypatch):
    class Rec:
        def __init__(self, seed, loss, a):
            self.config = {"model": "pepx_resnet", "loss": loss, "seed": seed}
            self.metrics = {"block_weights": [{"A": a, "B": 1.0, "C": 0.5}, {"A": 2 * a, "B": 1.0, "C": 0.0}]}

    t = blocks.learned_block_weights(Rec(0, "ce", 0.9))
    assert list(t.index) == [1, 2] and t.loc[2, "A"] == pytest.approx(1.8)
    s = blocks.block_weights_over_seeds([Rec(0, "ce", 0.9), Rec(1, "ce", 1.1), Rec(0, "focal", 1.0)])
    assert s.loc[("softmax CE", 1), "A"].startswith("1.000 ± 0.141")
    assert s.loc[("softmax CE", 2), "seeds"] == 2 and s.loc[(ch.LOSS_NAMES["focal"], 1), "seeds"] == 1
    # a record made before runs kept them is read from its trained model instead
    from covidnb.chapters import views
    from covidnb.models.pepx import PEPXResNet

    net = PEPXResNet(width=4)
    monkeypatch.setattr(views, "trained_model", lambda run, store=None: (net, run))
    bare = Rec(0, "ce", 1.0)
    bare.metrics = {}
    assert blocks.learned_block_weights(bare).to_dict("records") == net.block_weights()


def test_adam_reach_by_hand():
    class Rec:
        config = {"train": {"optimizer": "adam", "lr": 1e-4, "batch_size": 16, "scheduler": None}}
        provenance = {"datasets": {"train": {"n": 67}}}
        metrics = {"training": {"epochs_run": 12}}

    # ceil(67 / 16) = 5 steps per epoch, 12 epochs: 60 steps of at most about 1e-4
    assert blocks.adam_reach(Rec()) == {"steps": 60, "lr": 1e-4, "reach": pytest.approx(0.006)}
    Rec.config = {"train": {**Rec.config["train"], "max_steps_per_epoch": 2}}
    assert blocks.adam_reach(Rec())["steps"] == 24
    Rec.config = {"train": {**Rec.config["train"], "optimizer": "sgd"}}
    assert blocks.adam_reach(Rec()) is None
