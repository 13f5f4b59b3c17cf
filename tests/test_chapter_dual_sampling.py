"""The dual_sampling chapter's own rules: configurations per variant and fold, labels, and one
smoke run of each trained variant through run_experiment (labelled synthetic)."""

from __future__ import annotations

import warnings

import pytest

from covidnb.chapters import dual_sampling as ds
from covidnb.chapters.registry import get_chapter


def test_grid_covers_variants_and_folds():
    cfgs = ds.grid("cpu")
    assert len(cfgs) == 3 * 5
    assert [ds.describe(c)["fold"] for c in cfgs[:3]] == [0, 0, 0]  # a fold's three variants first
    labels = {ds.describe(c)["Model"] for c in cfgs}
    assert labels == {"RN34 + US", "Attention RN34 + US", "Attention RN34 + SS"}
    ss = [c for c in cfgs if ds.describe(c)["variant"] == "att_rn34_ss"]
    assert all(c["dataset_kwargs"]["sampling"] == "size_balanced" for c in ss)
    assert all(c["loss_kwargs"] == {"lam": 0.5, "positive": 1} for c in cfgs)
    # every fold sees the same phantoms (data_seed) so the variants pair by fold
    assert {c["data_seed"] for c in cfgs} == {0}


def test_paper_profile_keeps_the_paper_settings():
    c = ds.experiment_config("paper", "att_rn34_us", fold=2)
    assert c["dataset_kwargs"]["volume_size"] == [138, 256, 256]
    assert c["train"]["lr"] == 2e-4 and c["train"]["weight_decay"] == 1e-4
    assert c["train"]["scheduler_kwargs"] == {"step_size": 5, "gamma": 0.1}
    assert c["model_kwargs"] == {"num_classes": 1, "width": 1.0, "alpha": 100.0, "beta": 0.4}


def test_bad_variant_and_fold():
    with pytest.raises(KeyError, match="ensemble"):
        ds.experiment_config("smoke", "att_rn34_ds", fold=0)
    with pytest.raises(ValueError, match="fold 7"):
        ds.experiment_config("smoke", "rn34_us", fold=7)
    assert get_chapter("dual_sampling") is ds.SPEC


def test_smoke_runs_are_recorded_synthetic(tmp_path):
    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore

    store = RunStore(tmp_path / "runs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [run_experiment(c, store=store, keep_checkpoints=False) for c in ds.grid("smoke")]
    for run in runs:
        assert run.done and run.config["synthetic"] is True and run.metrics["synthetic"] is True
        pred = run.predictions
        assert len(pred) == 6 and set(pred["label"]) <= {0, 1}
    # the attention runs log both loss terms
    hist = runs[1].history
    assert {"loss.l_c", "loss.l_ex"} <= set(hist.columns)
