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
    # validation and test predictions carry each volume's measured infection ratio
    from covidnb.chapters.dual_sampling_tables import fold_predictions, validation_predictions

    val, test = validation_predictions(runs), fold_predictions(runs)
    assert len(val) == 3 * 2 and len(test) == 3 * 6
    assert val["ratio"].between(0, 1).all() and test["ratio"].between(0, 1).all()


def test_table2_f1_is_the_macro_f1():
    from covidnb.chapters.dual_sampling_tables import f1_from_rates

    # Table I test set 2,295 COVID-19 / 501 CAP; Table II RN34 + US: sens 0.856, spec 0.870, F1 0.798
    f = f1_from_rates(0.856, 0.870, 2295, 501)
    assert f["f1_positive"] == pytest.approx(0.909, abs=1e-3)
    assert f["f1_macro"] == pytest.approx(0.798, abs=1e-3)


def test_tables_from_predictions_by_hand():
    import numpy as np
    import pandas as pd

    from covidnb.chapters.dual_sampling_ensemble import PRINTED
    from covidnb.chapters.dual_sampling_tables import (
        add_ensemble,
        fold_metrics,
        group_metrics,
        mean_std,
        mean_std_cells,
        paired_tests,
    )

    rows = []
    for fold in (0, 1):
        for variant, model, p in (("att_rn34_us", "Attention RN34 + US", [0.9, 0.2, 0.6, 0.4]),
                                  ("att_rn34_ss", "Attention RN34 + SS", [0.7, 0.4, 0.8, 0.1 + 0.1 * fold])):
            for sid, lab, pp, r in zip("abcd", [1, 0, 1, 0], p, [0.0005, 0.0005, 0.01, 0.05]):
                rows.append({"variant": variant, "Model": model, "fold": fold, "sample_id": sid, "label": lab,
                                 "p": pp, "ratio": r})
    preds = add_ensemble(pd.DataFrame(rows), PRINTED)
    ds = preds[(preds.variant == "att_rn34_ds") & (preds.fold == 0)].set_index("sample_id")["p"]
    # a: ratio < 0.001 → 0.35·0.9 + 0.65·0.7 = 0.77; c: in the band → 0.96·0.6 + 0.04·0.8 = 0.608
    assert ds["a"] == pytest.approx(0.77) and ds["c"] == pytest.approx(0.608)
    fm = fold_metrics(preds)
    us0 = fm[(fm.Model == "Attention RN34 + US") & (fm.fold == 0)].iloc[0]
    # US: labels 1,0,1,0 with p .9,.2,.6,.4: all right at 0.5 → accuracy 1, F1 1, macro F1 1
    assert (us0.auc, us0.accuracy, us0.f1, us0.f1_macro) == (1.0, 1.0, 1.0, 1.0)
    t = mean_std(fm)
    assert set(t.Model) == {"Attention RN34 + US", "Attention RN34 + SS", "Attention RN34 + DS"}
    assert t.loc[t.Model == "Attention RN34 + US", "auc n"].item() == "2 of 2"
    cells = mean_std_cells(fm).set_index("Model")
    us = fm[fm.Model == "Attention RN34 + US"]["auc"]
    assert cells.loc["Attention RN34 + US", "auc"] == f"{us.mean():.3f} ± {us.std(ddof=1):.3f}"
    g1 = group_metrics(preds)
    cell = mean_std_cells(g1, by=("Model", "group"), metrics=("auc",)).set_index(["Model", "group"])
    assert cell.loc[("Attention RN34 + US", "> 0.030"), "auc"] == "— (n = 0 of 2)"  # undefined stays —
    g = group_metrics(preds)
    one = g[(g.Model == "Attention RN34 + US") & (g.group == "> 0.030")]
    assert one["n"].tolist() == [1, 1] and np.isnan(one["auc"]).all()  # one class: AUC undefined
    pt = paired_tests(fm, [("Attention RN34 + US", "Attention RN34 + SS")], "accuracy")
    assert pt.iloc[0]["n"] == 2 and pt.iloc[0]["paired unit"] == "fold model"


def test_not_rerun_yet_speaks_only_when_runs_are_missing(monkeypatch):
    from covidnb.chapters.dual_sampling_view import not_rerun_yet
    from covidnb.chapters.views.stores import READ_ONLY_ENV

    run = object()
    assert not_rerun_yet([run, run], "cpu", "the maps") == ""
    assert not_rerun_yet([run, None], "cpu", "the maps") == ""  # one is enough by default
    assert "1 missing" in not_rerun_yet([run, None], "cpu", "the maps", need_all=True)
    monkeypatch.setenv(READ_ONLY_ENV, "1")
    note = not_rerun_yet([], "cpu", "the maps", needed=3)
    assert "3 missing" in note and "the maps are not shown" in note
    assert "python -m covidnb.chapters.reference dual_sampling --profile cpu" in note
    assert "not committed yet" in note
    monkeypatch.setenv(READ_ONLY_ENV, "0")
    assert "the page trains nothing there" in not_rerun_yet([None], "smoke", "the maps")
