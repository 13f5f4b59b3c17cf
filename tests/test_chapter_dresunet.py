"""The dresunet chapter's glue (profile → configurations), its declaration read by the shared view
layer, and its own display helpers."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from toydata import ToyDataset

from covidnb.chapters import RESULTS_ROOT, views
from covidnb.chapters import dresunet as ch
from covidnb.chapters import dresunet_models as models_view
from covidnb.chapters import dresunet_view as view
from covidnb.experiment import normalise_config
from covidnb.models import build_model, count_parameters
from covidnb.paths import REPO_ROOT
from covidnb.profiles import PROFILES, load_profile
from covidnb.runs import RunStore, config_key

torch.set_num_threads(1)


# -- configurations -----------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_config_follows_the_profile(profile):
    p = load_profile("dresunet", profile)
    cfg = ch.experiment_config(profile, "dresunet", 3)
    assert cfg["profile"] == profile and cfg["seed"] == 3 and cfg["model"] == "dresunet"
    assert cfg["image_size"] == p["image_size"]
    want = {"num_classes": 1, "width": p["width"]}
    if p["input_norm"]:  # absent when off, so the keys of configurations without it stay put
        want["input_norm"] = p["input_norm"]
    assert cfg["model_kwargs"] == want
    assert cfg["train"]["epochs"] == p["epochs"] and cfg["train"]["lr"] == p["lr"]
    assert cfg["train"]["mixup_alpha"] == p["mixup_alpha"]
    frac = p["subsample"]
    assert cfg["subsample"] == (None if frac >= 1 else {c: frac for c in ch.CLASSES})
    normalise_config(cfg)  # run_experiment accepts it


@pytest.mark.parametrize("profile", PROFILES)
def test_grid_puts_seeds_outermost_in_table_order(profile):
    p = load_profile("dresunet", profile)
    g = ch.grid(profile)
    assert len(g) == len(p["seeds"]) * len(p["models"])
    assert [(c["seed"], c["model"]) for c in g] == [(s, m) for s in p["seeds"] for m in p["models"]]
    assert list(ch.TABLE_NAMES) == p["models"]


def test_grid_subsets_and_identity_overrides_keep_the_configs():
    full = ch.grid("cpu")
    assert ch.grid("cpu", dataset="covid-ct") == full  # the notebooks pass dataset=dataset
    assert ch.grid("cpu", ["unet"], [1]) == [c for c in full if c["model"] == "unet" and c["seed"] == 1]


def test_cpu_reference_key_is_stable():
    # The reference re-run in results/dresunet is keyed on this configuration: if the key moves,
    # the committed results no longer match what the notebooks ask for.
    cfg = normalise_config(ch.experiment_config("cpu", "simplecnn", 0))
    cfg.pop("root")
    cfg["synthetic"] = False
    assert config_key(cfg, ("train.progress",)) == (
        "3c92b9df5fa9dfc7de2548921fca2daa43b09624797f70830be0136075dc6fea")


def test_ablation_grid():
    pairs = ch.ablation_grid("smoke")
    p = load_profile("dresunet", "smoke")
    assert len(pairs) == len(ch.ABLATIONS) * len(ch.ABLATION_MODELS) * len(p["seeds"])
    by = {(v, c["model"]): c for v, c in pairs}
    # smoke (like cpu) trains without mixing, so "no mixup" is the profile's own configuration
    assert by[("no mixup", "dresunet")] == ch.experiment_config("smoke", "dresunet", 0)
    assert by[("mixup α=1.0 (thesis code)", "dresunet")]["train"]["mixup_alpha"] == 1.0
    assert by[("no mixup", "simplecnn")]["train"]["mixup_alpha"] == 0
    cut = by[("CutMix α=1.0 (extension)", "dresunet")]["train"]
    assert (cut["mixup_alpha"], cut["cutmix_alpha"]) == (0.0, 1.0)
    assert by[("mixup α=0.4 (thesis docstring)", "dresunet")]["train"]["mixup_alpha"] == 0.4
    with pytest.raises(KeyError, match="no such"):
        ch.ablation_grid("smoke", variants=["no such"])


# -- stores -------------------------------------------------------------------------------------
def test_resolve_store(monkeypatch, tmp_path):
    monkeypatch.setenv("COVIDNB_RUNS", str(tmp_path / "env"))
    assert views.resolve_store("runs").root == tmp_path / "env"
    assert views.resolve_store("results").root == RESULTS_ROOT
    assert views.is_reference("results") and not views.is_reference("runs")
    assert views.resolve_store("some/where").root == REPO_ROOT / "some" / "where"
    assert views.resolve_store(tmp_path).root == tmp_path


def _store_done(store: RunStore, config: dict, metrics: dict) -> None:
    cfg = normalise_config(config)
    cfg.pop("root")
    cfg["synthetic"] = False
    store.run(cfg, lambda run: run.save_metrics(metrics), log=lambda _: None)


def test_collect_runs_reads_stores_and_never_trains_into_results(tmp_path, monkeypatch):
    import covidnb.experiment

    def no_training(*a, **k):
        raise AssertionError("collect_runs must not train here")

    monkeypatch.setattr(covidnb.experiment, "run_experiment", no_training)
    configs = ch.grid("smoke", ["simplecnn", "vgg_small"])
    local, ref = RunStore(tmp_path / "local"), RunStore(tmp_path / "ref")
    _store_done(local, configs[0], {"accuracy": 0.5})
    _store_done(ref, configs[1], {"accuracy": 0.75})
    log = []
    runs = views.collect_runs(configs, local, train=False, reference=ref, log=log.append)
    assert [r.metrics["accuracy"] for r in runs] == [0.5, 0.75]
    assert runs[1].path.is_relative_to(tmp_path / "ref")
    # Missing runs: left out, or kept as None to stay aligned with the configurations.
    log.clear()
    runs = views.collect_runs(configs, local, train=False, reference=None, drop_missing=False,
                             log=log.append)
    assert runs[0] is not None and runs[1] is None
    assert any("missing" in line and "vgg_small" in line for line in log)
    # The reference store is never trained into, even with train=True.
    assert views.collect_runs(configs, "results", train=True, log=lambda _: None) == []


# -- tables -------------------------------------------------------------------------------------
def _fake_run(model, seed, **metrics):
    cfg = ch.experiment_config("cpu", model, seed)
    m = {"accuracy": 0.5, "precision": 0.5, "sensitivity": 0.5, "specificity": 0.5, "f1": 0.5,
         "auc": 0.5, **metrics}
    return SimpleNamespace(config=cfg, metrics=m, key=f"{model}{seed}".ljust(12, "0"), synthetic=False)


def test_results_table_mean_std_in_table_units_and_order():
    runs = [_fake_run("dresunet", 0, accuracy=0.5, f1=0.61), _fake_run("dresunet", 1, accuracy=0.7, f1=0.65),
            _fake_run("simplecnn", 0, auc=0.8123)]
    frame = views.runs_frame(ch.SPEC, runs)
    assert list(frame.repeats) == [2, 2, 1]
    t = views.results_table(ch.SPEC, frame)
    assert list(t.index) == ["SimpleCNN", "DResUNet"]  # Table 5.1's order, not the input's
    std = np.std([50.0, 70.0], ddof=1)
    assert t.loc["DResUNet", "Accuracy %"] == f"60.00 ± {std:.2f}"
    assert t.loc["DResUNet", "F1-score"] == f"0.6300 ± {np.std([0.61, 0.65], ddof=1):.4f}"
    assert t.loc["SimpleCNN", "AUC %"] == "81.23"  # one run: its value alone
    assert t.loc["DResUNet", "runs"] == 2


def test_runs_frame_skips_missing_with_their_labels_and_keeps_variant_order():
    runs = [_fake_run("simplecnn", 0, auc=0.6), None, _fake_run("simplecnn", 0, auc=0.7)]
    frame = views.runs_frame(ch.SPEC, runs, labels=["zeta", "lost", "alpha"])
    assert list(frame.variant) == ["zeta", "alpha"]
    t = views.results_table(ch.SPEC, frame, by=["Model", "variant"])
    assert [v for _, v in t.index] == ["zeta", "alpha"]


def test_ablation_deltas_known_values():
    frame = pd.DataFrame({
        "Model": ["A", "A", "A", "B", "B"],
        "variant": ["no mixup", "no mixup", "mix", "no mixup", "mix"],
        "accuracy": [0.5, 0.7, 0.65, 0.8, 0.8], "auc": [0.5, 0.5, 0.75, 0.9, 0.8], "f1": [0.1] * 5,
    })
    d = view.ablation_deltas(frame)
    assert d.loc[("A", "mix"), "Δ accuracy (points)"] == pytest.approx(5.0)
    assert d.loc[("A", "mix"), "Δ auc (points)"] == pytest.approx(25.0)
    assert d.loc[("B", "mix"), "Δ auc (points)"] == pytest.approx(-10.0)
    assert ("A", "no mixup") not in d.index
    with pytest.raises(KeyError, match="baseline"):
        view.ablation_deltas(frame, baseline="absent")


def test_compare_table51_and_wide_layout():
    from covidnb.report import reported_table

    runs = [_fake_run("dresunet", s, accuracy=a, f1=0.5) for s, a in ((0, 0.80), (1, 0.90))]
    wide = views.comparison_wide(ch.SPEC, views.compare_one(ch.SPEC, "Table 5.1", views.runs_frame(ch.SPEC, runs)))
    printed = float(reported_table("dresunet", "5.1").set_index("Model").loc["DResUNet", "Accuracy %"])
    assert wide.loc["DResUNet", ("Accuracy %", "paper")] == f"{printed:.2f}"
    assert wide.loc["DResUNet", ("Accuracy %", "Δ")] == f"{85.0 - printed:+.2f}"
    std = np.std([80.0, 90.0], ddof=1)
    assert wide.loc["DResUNet", ("Accuracy %", "re-run")] == f"85.00 ± {std:.2f} (n = 2)"
    assert wide.loc["DResUNet", ("F1-score", "re-run")] == "0.5000 ± 0.0000 (n = 2)"  # Table 5.1: 4 decimals
    assert wide.loc["VGG", ("Accuracy %", "re-run")] == "—"
    assert views.compare_all(ch.SPEC, pd.DataFrame()) == {}


def test_compare_refuses_synthetic_runs():
    from covidnb.report import SyntheticRunError

    run = _fake_run("dresunet", 0)
    run.synthetic = True
    with pytest.raises(SyntheticRunError):
        views.compare_one(ch.SPEC, "Table 5.1", views.runs_frame(ch.SPEC, [run]))


def test_profile_vs_thesis_marks_departures():
    t = views.profile_vs_paper(ch.SPEC, "cpu")
    assert bool(t.loc["width", "differs"]) and bool(t.loc["image_size", "differs"])
    # cpu raises the lr tenfold (stated); batch size and optimiser stay the thesis' ones.
    assert bool(t.loc["lr", "differs"])
    assert not bool(t.loc["batch_size", "differs"]) and not bool(t.loc["optimizer", "differs"])
    assert "§4.2" in t.loc["lr", "where the paper says it"]


def test_file_summary_known_values():
    files = pd.DataFrame({"class": ["a", "a", "b"], "width": [100, 300, 50], "height": [100, 150, 100],
                          "mode": ["L", "RGB", "RGB"], "misnamed": [False, True, False]})
    s = views.file_summary(files)
    assert s.loc["a", "images"] == 2 and s.loc["a", "misnamed files"] == 1
    assert s.loc["a", "aspect (w/h) min / median / max"] == "1.00 / 1.50 / 2.00"
    assert s.loc["a", "non-square %"] == 50.0
    assert s.loc["b", "modes"] == "RGB: 1"


def test_confident_indices_orders_by_score():
    ds = SimpleNamespace(classes=list(ch.CLASSES), sample_ids=["s0", "s1", "s2", "s3"])
    pred = pd.DataFrame({"sample_id": ["s3", "s1", "s2", "s0"], "label": [1, 1, 0, 1],
                         "p_CT_COVID": [0.2, 0.9, 0.99, 0.5], "p_CT_NonCOVID": [0.8, 0.1, 0.01, 0.5]})
    run = SimpleNamespace(predictions=pred)
    assert views.confident_indices(run, ds, "CT_COVID", 2) == [1, 0]
    assert views.confident_indices(run, ds, "CT_NonCOVID", 5) == [2]


# -- models -------------------------------------------------------------------------------------
def test_deformable_identities_hold():
    checks = models_view.deform_checks()
    assert len(checks) == 3
    assert (checks["max |difference|"] < 1e-6).all(), checks


def test_shift_with_deform_conv_reads_the_offset_position():
    x = torch.arange(5.0).repeat(5, 1)[None, None]  # each pixel holds its column index
    out = models_view.shift_with_deform_conv(x, dy=0.0, dx=2.0)
    assert torch.allclose(out[0, 0, :, :3], x[0, 0, :, :3] + 2)
    assert torch.allclose(out[0, 0, :, 3:], torch.zeros(5, 2))  # beyond the border: zero
    down = models_view.shift_with_deform_conv(x.transpose(-1, -2), dy=1.0, dx=0.0)
    assert torch.allclose(down[0, 0, :4], x.transpose(-1, -2)[0, 0, :4] + 1)


def test_parameter_and_parts_tables():
    t = models_view.parameter_table({"smoke": 4, "tiny": 2})
    assert t.loc["DResUNet", "smoke (width 4)"] == count_parameters(build_model("dresunet", width=4))
    assert (t["tiny (width 2)"] < t["smoke (width 4)"]).all()
    parts = models_view.parts_table(2)
    assert parts.loc["DResUNet", "deformable convs"] == 5  # x2…x5 and the head's 1×1
    assert parts.loc["ResUNet", "deformable convs"] == 0
    assert parts.loc["ResUNet_ECSA", "ECAsE"] == 1 and parts.loc["ResUNet_ECSA", "FPRM"] == 0
    assert parts.loc["ResUNet_FPRM", "FPRM"] == 1 and parts.loc["UNet", "residual stages"] == 0


def test_shapes_and_module_costs():
    shapes = models_view.forward_shapes(2, 64)
    assert set(shapes["output"]) == {(2, 1)}
    stages = models_view.stage_shapes("dresunet", 2, 64).set_index("block")["output shape"]
    assert stages["x1"] == (1, 2, 32, 32) and stages["x5"] == (1, 16, 4, 4)
    assert stages["att22"] == (1, 2, 32, 32) and stages["fc"] == (1, 1)
    costs = models_view.module_costs(4)
    assert (costs["input"].map(lambda s: s[1:]) == costs["output"].map(lambda s: s[1:])).iloc[2:].all()
    plain, deform = costs["parameters"].iloc[0], costs["parameters"].iloc[1]
    assert deform - plain == 16 * 27 * 9 + 27  # the offset/mask branch: 3×3 conv, 16 → 27 channels


def test_readings_come_from_the_docstrings():
    r = models_view.readings()
    assert set(r) >= {"resunet", "fprm", "attention", "unet"}
    for name in ("resunet", "fprm", "attention", "unet", "vgg_small", "simplecnn"):
        assert "reading" in r[name].lower(), name


# -- figures ------------------------------------------------------------------------------------
def test_mixing_figure_pairs_across_classes():
    ds = ToyDataset(8, size=16)
    idx = [int(np.flatnonzero(ds.targets == 1)[0]), int(np.flatnonzero(ds.targets == 0)[0])]
    fig = view.mixing_figure(ds, idx, lam=0.7)
    titles = [ax.get_title() for ax in fig.axes]
    assert "mixup: P(COVID) = 0.70" in titles[2] and "mixup: P(COVID) = 0.30" in titles[3]
    a, b = ds[idx[0]]["image"][0].numpy(), ds[idx[1]]["image"][0].numpy()
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), 0.7 * a + 0.3 * b, atol=1e-6)
    matplotlib.pyplot.close(fig)


def test_training_figures_from_runs(tmp_path):
    store = RunStore(tmp_path)
    runs = []
    rng = np.random.default_rng(0)
    for model in ("dresunet", "simplecnn"):
        cfg = ch.experiment_config("smoke", model, 0)

        def body(run, model=model):
            y = np.r_[np.zeros(5, int), np.ones(5, int)]
            p = rng.random(10)
            run.save_predictions(pd.DataFrame({"sample_id": [f"s{i}" for i in range(10)], "label": y,
                                               "p_CT_NonCOVID": 1 - p, "p_CT_COVID": p}))
            run.save_history(pd.DataFrame({"epoch": [1, 2], "train_loss": [0.7, 0.6],
                                           "val_loss": [0.7, 0.65], "val_auc": [0.5, 0.6]}))
        runs.append(store.run(cfg, body, log=lambda _: None))
    fig = views.curves_by(ch.SPEC, runs)
    assert [ax.get_title() for ax in fig.axes] == ["train_loss", "val_loss", "val_auc"]
    fig = views.confusion_grid(ch.SPEC, runs)
    counts = [int(t.get_text()) for t in fig.axes[0].texts]
    assert sum(counts) == 10
    ax = views.roc_by(ch.SPEC, runs)
    assert len(ax.get_legend().get_texts()) == 2
    matplotlib.pyplot.close("all")


def test_cam_comparison_and_offsets_on_an_untrained_dresunet():
    ds = ToyDataset(4, size=64, classes=ch.CLASSES)
    net = build_model("dresunet", width=2).eval()
    fig = view.cam_comparison({"DResUNet": net}, ds, [0, 1])
    assert len(fig.results["DResUNet"]) == 2 and fig.results["DResUNet"][0].cam.shape == (64, 64)
    fig = view.offset_figure(net, ds, [0])
    assert "max 0 px" in fig.axes[1].get_title()  # a new layer's offsets are exactly zero
    matplotlib.pyplot.close("all")


def test_setup_sets_one_thread_for_smoke(monkeypatch):
    monkeypatch.delenv("COVIDNB_PROGRESS", raising=False)
    before = torch.get_num_threads()
    try:
        s = views.setup(ch.SPEC, "smoke")
        assert s["profile"] == "smoke" and torch.get_num_threads() == 1
        import os

        assert os.environ["COVIDNB_PROGRESS"] == "0"
    finally:
        torch.set_num_threads(before)


def test_units_and_decimals_match_table_5_1():
    assert ch.SPEC.unit("F1-score") == "fraction" and ch.SPEC.digits == {"%": 2, "fraction": 4}
    assert all(ch.SPEC.unit(c) == "%" for c in ch.TABLE_METRICS if c != "F1-score")
    assert ch.TABLE_UNITS == {c: ("fraction" if c == "F1-score" else "%") for c in ch.TABLE_METRICS}
