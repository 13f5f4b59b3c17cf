"""Chapter ``dsn_saal`` glue: profiles → run_experiment configurations, the three grids, the
labels that tie runs to the paper's tables, the shared view layer reading the chapter's
declaration, and the chapter's own view helpers.

Nothing here trains a VGG: run records are written into a temporary store by hand (metrics,
history, predictions), so the tests take seconds.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from covidnb import report
from covidnb.chapters import dsn_saal as ch
from covidnb.chapters import dsn_saal_view as view
from covidnb.chapters import views
from covidnb.experiment import normalise_config
from covidnb.losses import build_loss
from covidnb.models import build_model
from covidnb.profiles import load_profile, profile_table
from covidnb.runs import RunStore
from covidnb.runs.store import canonical_json

# ---------------------------------------------------------------- profiles


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_profiles_load_and_cover_their_losses(name):
    p = load_profile("dsn_saal", name)
    assert p["profile"] == name
    for loss in p["losses"] + p["dsn_losses"]:
        assert loss in p["loss_kwargs"], loss
    assert p["positive"] in p["classes"]
    assert p["scheduler"] == "step" and p["scheduler_kwargs"]["gamma"] == 0.1
    # the lr falls at each third of training, as §4.3's 40 of 120 epochs
    assert p["scheduler_kwargs"]["step_size"] * 3 == p["epochs"] or name == "smoke"


def test_paper_profile_is_section_4_3():
    p = load_profile("dsn_saal", "paper")
    assert (p["optimizer"], p["lr"], p["momentum"], p["weight_decay"]) == ("sgd", 1e-3, 0.9, 5e-4)
    assert (p["epochs"], p["scheduler_kwargs"]["step_size"], p["image_size"]) == (120, 40, 224)
    assert p["pretrained"] is True and len(p["seeds"]) == 10 and p["augment"] is None
    assert p["channels"] == 3 and p["ratios"] == [1.0, 0.25, 0.1, 0.05, 0.01]


def test_profile_table_has_a_note_for_every_setting():
    table = profile_table("dsn_saal")
    missing = [k for k, note in table["note"].items() if note in ("", "—")]
    assert not missing, f"settings without a note in profiles.yaml: {missing}"


# ---------------------------------------------------------------- experiment_config


def test_config_is_a_valid_run_experiment_config():
    cfg = ch.experiment_config("cpu", "dsn_vgg16_bn", "saal", seed=2)
    norm = normalise_config(cfg)  # unknown keys or bad TrainConfig fields would raise
    assert norm["train"]["optimizer"] == "sgd" and norm["train"]["select"] == "last"
    assert norm["train"]["scheduler_kwargs"] == {"step_size": 5, "gamma": 0.1}
    assert norm["seed"] == 2 and norm["train"]["seed"] == 2
    assert cfg["model_kwargs"]["pretrained"] is False
    assert cfg["subsample"] is None


def test_saal_gets_one_beta_per_output():
    plain = ch.experiment_config("smoke", "vgg16_bn", "saal", 0)["loss_kwargs"]
    dsn = ch.experiment_config("smoke", "dsn_vgg16_bn", "saal", 0)["loss_kwargs"]
    assert plain["num_outputs"] == 1 and dsn["num_outputs"] == 6
    assert plain["class_counts"] == "auto"
    assert "num_outputs" not in ch.experiment_config("smoke", "vgg16_bn", "ce", 0)["loss_kwargs"]


def test_taps_only_for_the_vgg_dsn():
    assert ch.experiment_config("cpu", "dsn_vgg16_bn", "ce", 0)["model_kwargs"]["taps"] == "stage"
    for m in ("dsn_resnet50", "dsn_densenet169", "dsn_resnext50"):
        kw = ch.experiment_config("cpu", m, "ce", 0)["model_kwargs"]
        assert "taps" not in kw and kw["side_width"] == 21
    assert set(ch.experiment_config("cpu", "resnet50", "ce", 0)["model_kwargs"]) == {"pretrained"}


@pytest.mark.parametrize("profile,keep,expected", [
    ("cpu", 0.25, {"CT_NonCOVID": 1.0, "CT_COVID": 0.25}),
    ("smoke", 1.0, {"CT_NonCOVID": 0.1, "CT_COVID": 0.1}),
    ("smoke", 0.25, {"CT_NonCOVID": 0.1, "CT_COVID": 0.025}),
    ("smoke", 0.01, {"CT_NonCOVID": 0.1, "CT_COVID": 0.001}),
])
def test_keep_covid_multiplies_the_profile_fraction(profile, keep, expected):
    cfg = ch.experiment_config(profile, "vgg16_bn", "ce", 0, keep_covid=keep)
    assert cfg["subsample"] == expected
    assert ch.keep_covid_of(cfg) == keep


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_keep_covid_is_refused(bad):
    with pytest.raises(ValueError, match="keep_covid"):
        ch.experiment_config("cpu", "vgg16_bn", "ce", 0, keep_covid=bad)


def test_unknown_loss_names_the_profile():
    with pytest.raises(KeyError, match="no loss_kwargs for 'nll'"):
        ch.experiment_config("cpu", "vgg16_bn", "nll", 0)


def test_overrides_replace_profile_settings():
    cfg = ch.experiment_config("cpu", "vgg16_bn", "ce", 0, image_size=48, epochs=3, dataset="x")
    assert (cfg["image_size"], cfg["train"]["epochs"], cfg["dataset"]) == (48, 3, "x")


# ---------------------------------------------------------------- grids


def _keys(configs):
    return [canonical_json(c) for c in configs]


def test_grid_sizes_and_shared_configurations():
    p = load_profile("dsn_saal", "cpu")
    seeds = len(p["seeds"])
    ablation = ch.loss_ablation_grid("cpu")
    imbalance = ch.imbalance_grid("cpu")
    backbones = ch.backbone_grid("cpu")
    assert len(ablation) == seeds * (5 + 2)
    assert len(imbalance) == seeds * 5 * 2
    assert len(backbones) == seeds * (5 + 4 + 1)
    union = ch.grid("cpu")
    assert len(set(_keys(union))) == len(union)
    # shared per seed: VGG+CE and DSN-SAAL (ablation ∩ imbalance ∩ backbones), DSN+CE (ablation ∩ backbones)
    assert len(union) == seeds * (7 + (10 - 2) + (10 - 3))
    base = canonical_json(ch.experiment_config("cpu", "vgg16_bn", "ce", 0))
    for g in (ablation, imbalance, backbones):
        assert base in _keys(g)


def test_seeds_outermost_and_restriction():
    grid = ch.loss_ablation_grid("cpu", losses=["ce"], dsn_losses=["saal"], seeds=[4, 7])
    assert [(c["seed"], c["model"], c["loss"]) for c in grid] == [
        (4, "vgg16_bn", "ce"), (4, "dsn_vgg16_bn", "saal"),
        (7, "vgg16_bn", "ce"), (7, "dsn_vgg16_bn", "saal")]
    imb = ch.imbalance_grid("smoke", ratios=[0.05])
    assert [(c["model"], ch.keep_covid_of(c)) for c in imb] == [
        ("vgg16_bn", 0.05), ("dsn_vgg16_bn", 0.05)]
    with pytest.raises(KeyError, match="unknown experiment"):
        ch.grid("cpu", experiments=["tables"])


def test_every_grid_model_and_loss_builds():
    counts = [234, 191]
    for cfg in ch.grid("paper", seeds=[0]):
        with torch.device("meta"):
            build_model(cfg["model"], in_channels=cfg["channels"], num_classes=2,
                        **{**cfg["model_kwargs"], "pretrained": False})
        kw = {k: (counts if v == "auto" else v) for k, v in cfg["loss_kwargs"].items()}
        build_loss(cfg["loss"], **kw)


# ---------------------------------------------------------------- labels of the paper's tables


def _rows(table, col):
    return set(report.reported_table("dsn_saal", table)[col])


def test_describe_labels_are_rows_of_the_reported_tables():
    t3, t5, t6 = _rows("3", "Model"), _rows("5", "Method"), _rows("6", "Imbalanced")
    t4 = set(report.reported_table("dsn_saal", "4").pipe(lambda d: d["Model"] + " | " + d["Method"]))
    seen = {"table3": set(), "table4": set(), "table5": set(), "table6": set()}
    for cfg in ch.grid("cpu", seeds=[0]):
        d = ch.describe(cfg)
        for k, labels in seen.items():
            if d[k] is not None:
                labels.add(d[k])
    assert seen["table3"] == t3 - {"Self-Trans [11]", "Transfer-CheXNet [13]", "Meta-Weight-Net [27]"}
    assert seen["table4"] == t4
    assert seen["table5"] == t5
    assert seen["table6"] == t6


def test_describe_only_full_data_runs_stand_for_tables_3_to_5():
    d = ch.describe(ch.experiment_config("cpu", "vgg16_bn", "ce", 0, keep_covid=0.1))
    assert (d["table3"], d["table4"], d["table5"]) == (None, None, None)
    assert (d["table6"], d["table6_method"]) == ("10% of COVID-19", "Base.")
    d = ch.describe(ch.experiment_config("cpu", "dsn_resnet50", "ce", 0))
    assert (d["table4"], d["table3"], d["table6"], d["network"]) == ("ResNet-50 | DSN", None, None, "DSN-ResNet-50")


# ---------------------------------------------------------------- view helpers on hand-made runs


def _fake_run(store, cfg, y, p, acc, history=None):
    """A finished run record with the given test labels / scores, without training."""
    from covidnb.metrics import metrics_from_predictions

    preds = pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(y))], "patient_id": "",
                          "source": "covid-ct", "label": y, "p_CT_NonCOVID": 1 - np.asarray(p),
                          "p_CT_COVID": p})

    def body(run):
        run.save_predictions(preds)
        m = metrics_from_predictions(preds, ["CT_NonCOVID", "CT_COVID"])
        m["accuracy"] = acc  # pinned so the aggregation below is checked on known numbers
        m["synthetic"] = False
        run.save_metrics(m)
        run.save_history(history if history is not None else pd.DataFrame({"epoch": [1]}))
        run.update_provenance(datasets={"train": {"n": 425, "class_counts": {"CT_NonCOVID": 234, "CT_COVID": 191}},
                                        "val": {"n": 118}, "test": {"n": len(y)}})

    return store.run({**normalise_config(cfg), "synthetic": False}, body, log=lambda _: None)


@pytest.fixture
def fake_store(tmp_path):
    store = RunStore(tmp_path)
    y = np.array([0, 0, 0, 1, 1, 1])
    good = np.array([0.1, 0.2, 0.6, 0.7, 0.8, 0.9])
    runs = []
    hist = pd.DataFrame({"epoch": [1, 2], "loss.alpha": [0.5, 0.6], "loss.beta_main": [0.5, 0.4],
                         "loss.w_0": [0.5, 0.4], "loss.w_1": [0.5, 0.4]})
    for seed, acc in ((0, 0.70), (1, 0.80)):
        runs.append(_fake_run(store, ch.experiment_config("cpu", "vgg16_bn", "ce", seed), y, good, acc))
        runs.append(_fake_run(store, ch.experiment_config("cpu", "vgg16_bn", "ce", seed, keep_covid=0.25),
                              y, good * 0.5, acc - 0.1))
        runs.append(_fake_run(store, ch.experiment_config("cpu", "dsn_vgg16_bn", "saal", seed), y, good, 0.9,
                              history=hist))
    return store, runs


def test_runs_frame_and_results_table(fake_store):
    _, runs = fake_store
    frame = views.runs_frame(ch.SPEC, runs)
    assert len(frame) == 6 and set(frame["repeats"]) == {2}
    assert frame["train_counts"].iloc[0] == {"CT_NonCOVID": 234, "CT_COVID": 191}
    table = views.results_table(ch.SPEC, frame[frame["keep_covid"] == 1.0], by="table3", columns=("ACC", "SEN"))
    # ACC: mean of 0.70 and 0.80 = 0.75, sample std = 0.0707; SEN at 0.5: 3 of 3 positives
    assert table.loc["VGG-16 [29]", "ACC"] == "0.750 ± 0.071"
    assert table.loc["VGG-16 [29]", "SEN"] == "1.000 ± 0.000"
    assert table.loc["VGG-16 [29]", "runs"] == 2
    ordered = views.results_table(ch.SPEC, frame, by="table6", order=["25% of COVID-19", "Stand. split"])
    assert list(ordered.index) == ["25% of COVID-19", "Stand. split"]


def test_sensitivity_change_is_difference_to_full_data(fake_store):
    _, runs = fake_store
    change = view.sensitivity_change(views.runs_frame(ch.SPEC, runs))
    # scores halved: positives at 0.35, 0.4, 0.45 fall below 0.5 → SEN 0 against 1 on full data
    assert change.loc["25% of COVID-19", "Δ SEN VGG-16-BN"] == -1.0


def test_finished_runs_reads_reference_then_store(fake_store, tmp_path):
    store, runs = fake_store
    got = views.finished_runs(ch.SPEC, "cpu", store=store, reference=None)
    assert {r.key for r in got} == {r.key for r in runs}
    assert views.finished_runs(ch.SPEC, "smoke", store=store, reference=None) == []


def test_compare_all_differences_and_smoke_marking(fake_store):
    _, runs = fake_store
    frame = views.runs_frame(ch.SPEC, runs)
    res = views.compare_all(ch.SPEC, frame, "cpu")
    t5 = res["Table 5"].set_index(["Method", "metric"])
    assert t5.loc[("CE", "ACC"), "n_runs"] == 2
    assert math.isclose(t5.loc[("CE", "ACC"), "difference"], 0.75 - 0.836)
    assert t5.loc[("Focal Loss [22]", "ACC"), "n_runs"] == 0
    t6 = res["Table 6 (baseline)"].set_index(["Imbalanced", "metric"])
    assert math.isclose(t6.loc[("25% of COVID-19", "ACC Base."), "rerun_mean"], 0.65)
    t8 = res["Table 8"]
    assert any("COVID19-CT" in line for line in t8.attrs["differences"])
    smoke = views.compare_all(ch.SPEC, frame, "smoke")["Table 5"].set_index(["Method", "metric"])
    assert smoke.loc[("CE", "ACC"), "note"] == views.NOT_COMPARABLE
    assert not smoke.loc[("CE", "ACC"), "comparable"] and math.isnan(smoke.loc[("CE", "ACC"), "difference"])
    wide = views.comparison_wide(ch.SPEC, res["Table 5"])
    assert wide.loc["CE", ("ACC", "paper")] == "0.836 ± 0.013"


def test_compare_all_refuses_synthetic(fake_store):
    _, runs = fake_store
    frame = views.runs_frame(ch.SPEC, runs).assign(synthetic=True)
    with pytest.raises(report.SyntheticRunError):
        views.compare_all(ch.SPEC, frame, "cpu")


def test_figures_from_runs(fake_store):
    import matplotlib

    matplotlib.use("Agg")
    _, runs = fake_store
    fig = view.saal_trajectories(runs)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 4]  # α, β_main, w_0 and w_1 for 2 seeds
    fig = views.confusion_grid(ch.SPEC, runs, by="table6_method", cols="keep_covid")
    assert len(fig.axes) == 4  # (Base., D.S.) × (100 %, 25 %), the empty D.S. 25 % panel hidden
    ax = views.roc_by(ch.SPEC, runs, by=["network", "Loss"], where={"keep_covid": 1.0})
    assert len(ax.lines) == 3  # two networks + the diagonal


def test_claims_pair_by_seed_and_compare_signs(fake_store):
    _, runs = fake_store
    frame = views.runs_frame(ch.SPEC, runs)
    table = views.claims(ch.SPEC, frame, views.compare_all(ch.SPEC, frame, "cpu"))
    row = table.set_index(["claim", "metric"]).loc[("DSN-SAAL − baseline, Stand. split", "ACC")]
    # Table 6: 0.920 − 0.836 printed; re-run 0.9 − 0.7 (seed 0), 0.9 − 0.8 (seed 1)
    assert math.isclose(row["paper Δ"], 0.084) and math.isclose(row["re-run Δ"], 0.15)
    assert math.isclose(row["re-run Δ std"], 0.0707107, rel_tol=1e-5) and row["seeds"] == 2
    assert row["same sign"] is True
    # 25 %: only the baseline ran, so there is no comparison; Table 5 has only CE
    assert set(table["claim"]) == {"DSN-SAAL − baseline, Stand. split",
                                   "DSN-SAAL − VGG-16 (paper: quoted row)"}
    t8 = table.set_index(["claim", "metric"]).loc[("DSN-SAAL − VGG-16 (paper: quoted row)", "ACC")]
    assert math.isclose(t8["paper Δ"], 0.87 - 0.76)
    # SEN: both detect all three positives → Δ 0, no sign to compare
    sen = table.set_index(["claim", "metric"]).loc[("DSN-SAAL − baseline, Stand. split", "SEN")]
    assert sen["re-run Δ"] == 0 and sen["same sign"] is None
    wide = views.claims_wide(ch.SPEC, table)
    assert wide.loc[("Table 6", "DSN-SAAL − baseline, Stand. split"), "ACC"] == "+0.084 | +0.150 ± 0.071 (n=2) ✓"
    assert views.claims_wide(ch.SPEC, table.iloc[0:0]).empty


def _stored_cams(run, ids):
    from covidnb.cam import CAMS_FILE, CamResult, save_cams

    rng = np.random.default_rng(len(ids))
    save_cams([CamResult(i, sid, rng.random((8, 8, 3)), rng.random((8, 8)), "COVID", "COVID", 0.9,
                         "COVID") for i, sid in enumerate(ids)], run.path / CAMS_FILE)


def test_stored_cam_galleries_pair_baseline_with_dsn_saal(fake_store):
    import matplotlib

    matplotlib.use("Agg")
    _, runs = fake_store
    assert view.cam_pairs_with_cams(runs).empty
    by = {(r.config["model"], ch.describe(r.config)["keep_covid"], r.config["seed"]): r for r in runs}
    ids = ["a.png", "b.png", "c.png"]
    _stored_cams(by[("vgg16_bn", 1.0, 1)], ids)
    _stored_cams(by[("vgg16_bn", 0.25, 0)], ids)  # its DSN-SAAL partner has no CAMs: no pair
    assert view.cam_pairs_with_cams(runs).empty
    _stored_cams(by[("dsn_vgg16_bn", 1.0, 1)], ids)
    pairs = view.cam_pairs_with_cams(runs)
    assert [(k, s) for k, s in zip(pairs["keep_covid"], pairs["seed"])] == [(1.0, 1)]
    fig = views.stored_cam_rows(pairs["runs"][0])
    assert len(fig.axes) == 3 * 3 and list(fig.results) == ["VGG-16-BN + CE", "DSN-SAAL"]
    _stored_cams(by[("dsn_vgg16_bn", 1.0, 1)], ["a.png", "x.png", "c.png"])
    with pytest.raises(ValueError, match="different images"):
        views.stored_cam_rows(pairs["runs"][0])
    with pytest.raises(FileNotFoundError, match="has no stored CAMs"):
        views.stored_cam_rows({"CE": by[("vgg16_bn", 1.0, 0)]})


def test_saal_gradient_signs_follow_the_loss():
    df = view.saal_gradient_signs([234, 191])
    assert (df["∂ℓ/∂α (raw)"] < 0).all() and (df["∂ℓ/∂β (raw)"] > 0).all()
    # σ(α) = 0.5, k ≫ 1: w_n = (1 − 0.5)/(1 − 0.5^k) = 0.5 for both classes
    row = df[df["σ(α) start"] == 0.5].iloc[0]
    assert row["w_0"] == pytest.approx(0.5) and row["w_1"] == pytest.approx(0.5)


def test_subsample_counts_by_patient():
    from covidnb.data import SyntheticCTSlices

    ds = SyntheticCTSlices("train", n=40, image_size=16)
    table = view.subsample_counts(ds, [1.0, 0.25], "cpu")
    n_pos = int((np.asarray(ds.targets) == 1).sum())
    assert table.loc["Stand. split", "CT_COVID images"] == n_pos
    assert table.loc["25% of COVID-19", "CT_COVID images"] == max(1, round(0.25 * n_pos))
    n_neg = len(ds) - n_pos
    assert table.loc["25% of COVID-19", "non-COVID : COVID"] == round(n_neg / max(1, round(0.25 * n_pos)), 2)


def test_side_output_shapes_at_64_px():
    t = view.side_output_shapes(64, model="dsn_resnet50")
    assert list(t.index) == ["main (backbone classifier)", "side1", "side2", "side3", "side4", "side5"]
    assert t.loc["side1", "tapped maps"] == "(64, 16, 16)"  # the stem after its max pool
    assert set(t.loc["side1":, "after pool"]) == {"(1, 7, 7)"}


def test_profile_vs_paper_marks_departures():
    t = views.profile_vs_paper(ch.SPEC, "cpu")
    assert t.loc["epochs", "differs"] and not t.loc["lr", "differs"]
    assert t.loc["lr", "where the paper says it"] == "§4.3"


# ---------------------------------------------------------------- the resolution ablation (07)


def test_resolution_grid_is_the_baseline_at_other_sizes_only():
    grid = ch.resolution_grid("cpu")
    p = load_profile("dsn_saal", "cpu")
    assert [(c["model"], c["loss"], c["seed"], c["image_size"]) for c in grid] == [
        ("vgg16_bn", "ce", s, 32) for s in p["seeds"]]
    base = ch.experiment_config("cpu", "vgg16_bn", "ce", 0)
    # only the input size differs from the profile's baseline run of the same seed
    assert {k for k in base if base[k] != grid[0][k]} == {"image_size"}
    assert ch.resolution_grid("cpu", sizes=[64]) == []  # the profile's own size is no ablation
    assert ch.resolution_grid("smoke") == [] and ch.resolution_grid("paper") == []


def test_reference_plan_keeps_its_first_25_and_ends_the_tables_before_the_ablation():
    plan = ch.reference_grid("cpu")
    keys = _keys(plan)
    assert len(set(keys)) == len(plan)
    ablation = [c for c in plan if ch.describe(c)["ablation"]]
    assert _keys(ablation) == _keys(ch.resolution_grid("cpu"))
    # the ablation follows the 25 table configurations and precedes the rest of the grid
    assert [plan.index(c) for c in ablation] == [25, 26, 27]
    assert set(_keys(plan)) - set(_keys(ablation)) == set(_keys(ch.grid("cpu")))


def test_an_ablation_run_fills_no_table_row():
    d = ch.describe(ch.resolution_grid("cpu")[0])
    assert d["ablation"] == "input 32 px" and d["input_px"] == 32
    assert all(d[k] is None for k in ("table3", "table4", "table5", "table6", "table6_method"))
    d = ch.describe(ch.experiment_config("cpu", "vgg16_bn", "ce", 0))
    assert d["ablation"] is None and d["table3"] == "VGG-16 [29]"
    # a configuration of no named profile is not called an ablation
    assert ch.describe({**ch.experiment_config("cpu", "vgg16_bn", "ce", 0), "profile": "mine"})["ablation"] is None


def test_resolution_ablation_pairs_by_seed(tmp_path):
    store = RunStore(tmp_path)
    y = np.array([0, 0, 0, 1, 1, 1])
    good = np.array([0.1, 0.2, 0.6, 0.7, 0.8, 0.9])   # AUC 1
    worse = np.array([0.1, 0.7, 0.6, 0.5, 0.8, 0.9])  # AUC 7/9
    runs = [_fake_run(store, ch.experiment_config("cpu", "vgg16_bn", "ce", 0), y, good, 0.8),
            _fake_run(store, ch.experiment_config("cpu", "vgg16_bn", "ce", 1), y, good, 0.9),
            _fake_run(store, ch.resolution_grid("cpu", seeds=[0])[0], y, worse, 0.5)]
    frame = views.runs_frame(ch.SPEC, runs)
    table = view.resolution_ablation(frame).set_index("input px")
    assert table.loc[64, "runs"] == 2 and table.loc[64, "AUC"] == "1.000 ± 0.000"
    assert table.loc[32, "AUC"] == "0.778"
    # paired with seed 0 only: 7/9 − 1 and 0.5 − 0.8
    assert table.loc[32, "Δ AUC"] == "-0.222" and table.loc[32, "Δ accuracy (0.5)"] == "-0.300"
    assert table.loc[32, "paired seeds"] == 1 and isinstance(table.loc[32, "paired seeds"], int)
    assert view.resolution_ablation(frame[frame["ablation"].isna()]).empty
