"""The deepcxray chapter's own rules: its grids, the paper's labels, the phantom runs' store."""

from __future__ import annotations

import json

import pytest

from covidnb.chapters import deepcxray as D
from covidnb.chapters.registry import get_chapter
from covidnb.experiment import normalise_config
from covidnb.runs import RunStore


def test_loss_grid_is_five_losses_with_and_without_aux():
    grid = D.loss_grid("cpu")
    assert len(grid) == 5 * 2 * 3
    assert [c["seed"] for c in grid[:10]] == [0] * 10  # seeds outermost
    labels = [D.describe(c)["Method"] for c in grid[:10]]
    assert labels == ["MSE", "MSE(AT)", "CEL", "CEL(AT)", "W-CEL", "W-CEL(AT)", "CW-CEL", "CW-CEL(AT)",
                      "CW-CEL(FG)", "CW-CEL(AT, FG)"]
    for c in grid:
        assert c["dataset_kwargs"]["phantom"] is True and c["model_kwargs"]["backbone"] == "tiny"
        assert c["loss_kwargs"]["aux"] == "joint"


def test_paper_profile_is_the_papers_setting_on_real_data():
    cfg = normalise_config(D.experiment_config("paper", "cwcel", True, 0))
    assert cfg["dataset"] == "chexnet-split-labels"
    assert cfg["dataset_kwargs"] == {"resplit": "image", "split_seed": 0}
    assert cfg["image_size"] == 299 and cfg["model_kwargs"]["backbone"] == "inception_v3"
    assert cfg["model_kwargs"]["pretrained"] is True
    t = cfg["train"]
    assert (t["optimizer"], t["lr"], t["batch_size"]) == ("adadelta", 1e-5, 16)
    assert t["epochs"] * t["max_steps_per_epoch"] == 9000  # §IV-C
    assert len(D.backbone_grid("paper")) == 6
    # InceptionV3 + CW-CEL(AT) on split 0 is in three grids, once
    assert len(D.all_grid("paper")) == 10 + 2 + 5 + 5
    splits = D.split_grid("paper")
    assert [c["dataset_kwargs"]["split_seed"] for c in splits] == list(range(6))  # Table 3's six trials
    assert D.split_grid("cpu") == [] and D.split_grid("paper", resplit=None) == []
    nt = D.nt_grid("paper")
    assert [D.describe(c)["Table 1 column"] for c in nt] == ["W-CEL(NT)", "CW-CEL(NT)"]
    assert all(c["train"]["epochs"] * c["train"]["max_steps_per_epoch"] == 23000 for c in nt)  # §IV-C
    assert D.nt_grid("cpu") == []  # trained from scratch anyway: the loss grid holds these rows
    assert D.reference_plan("cpu") == []  # phantom runs never go into results/deepcxray/
    assert len(SPEC_PLAN := D.reference_plan("paper")) == 12 and SPEC_PLAN[:10] == D.loss_grid("paper")


def test_wcel_counting_reaches_the_loss():
    cfg = D.experiment_config("smoke", "wcel", False, 0, wcel_counting="finding")
    assert cfg["loss_kwargs"] == {"aux": "joint", "counting": "finding"}
    assert D.describe(cfg)["counting"] == "finding"


def test_registered_as_built():
    ch = get_chapter("deepcxray")
    assert ch.has_experiments and ch.comparisons == ()  # phantom runs are never compared


def test_phantom_reference_records_resolve_to_their_keys():
    """The committed phantom runs (results/deepcxray/phantom/) are configurations of the cpu
    phantom plan (loss grid + the failing W-CEL run), recorded synthetic; the key of each is
    recomputed with synthetic=True; the plan is complete."""
    folder = D.PHANTOM_STORE / "deepcxray"
    records = {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/config.json"))}
    if not records:
        pytest.skip("no committed phantom reference runs")
    store = RunStore(D.PHANTOM_STORE)
    planned = {}
    for cfg in D.phantom_plan("cpu"):
        norm = normalise_config(cfg)
        norm.pop("root", None)
        norm["synthetic"] = True
        planned[store.key(norm)[:12]] = store.key(norm)
    for name, record in records.items():
        assert record["config"]["synthetic"] is True
        assert planned.get(name) == record["key"], name
    assert set(planned) == set(records), "phantom plan and committed records differ"
    failed = [r for r in records if json.loads((folder / r / "status.json").read_text())["status"] != "done"]
    assert len(failed) == 1  # the per-finding W-CEL run, recorded with its failure


def test_wcel_failure_is_recorded_not_raised(shared_data, tmp_path):
    """The per-finding W-CEL meets a finding without a positive in its first batch: the run is
    recorded as failed with epoch, step and value; the batch-wide reading trains (smoke)."""
    from covidnb.experiment import run_experiment

    store = RunStore(tmp_path)
    failing, batch = (run_experiment(c, store=store, raise_on_failure=False) for c in D.wcel_demo("smoke"))
    st = failing.status
    assert st["status"] == "failed" and st["detail"]["error"] == "NonFiniteLossError"
    assert st["detail"]["step"] == 1 and st["detail"]["value"] == "nan"
    assert failing.synthetic and batch.status["status"] == "done"
    assert batch.metrics["task"] == "multilabel" and 0 <= batch.metrics["macro"]["auc"] <= 1
