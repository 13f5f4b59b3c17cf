"""The reference re-run driver: its plan, its shared work queue and its status listing."""

import json
import sys
import types

import pytest

from covidnb.chapters import dsn_saal, reference, registry
from covidnb.chapters.contract import Chapter
from covidnb.runs.store import canonical_json


def test_dsn_saal_plan_puts_the_required_tables_first():
    plan = dsn_saal.reference_grid("cpu")
    full = dsn_saal.grid("cpu")
    keys = [canonical_json(c) for c in plan]
    # Each configuration once, and the plan covers the whole grid plus the resolution ablation.
    assert len(set(keys)) == len(keys)
    ablation = {canonical_json(c) for c in dsn_saal.resolution_grid("cpu")}
    assert set(keys) == {canonical_json(c) for c in full} | ablation and ablation
    rows = [(c["model"], c["loss"], dsn_saal.keep_covid_of(c), c["seed"]) for c in plan
            if not dsn_saal.describe(c)["ablation"]]
    assert rows[:4] == [("vgg16_bn", "ce", 1.0, 0), ("resnet50", "ce", 1.0, 0),
                        ("densenet169", "ce", 1.0, 0), ("dsn_vgg16_bn", "saal", 1.0, 0)]
    # Table 6 at 25 % and 10 % with seed 0 follows, then Table 5's remaining losses.
    assert {(m, k) for m, _, k, _ in rows[4:8]} == {
        (m, k) for m in ("vgg16_bn", "dsn_vgg16_bn") for k in (0.25, 0.1)}
    assert {l for m, l, k, s in rows[8:13]} == {"focal", "class_balanced", "symmetric_ce", "saal", "ce"}
    # Table 6 at 100/25/10 % for every seed precedes anything at 5 % or 1 %.
    first_small = min(i for i, r in enumerate(rows) if r[2] in (0.05, 0.01))
    table6 = [i for i, r in enumerate(rows)
              if (r[0], r[1]) in (dsn_saal.BASELINE, dsn_saal.PROPOSED) and r[2] in (1.0, 0.25, 0.1)]
    assert len(table6) == 2 * 3 * 3 and max(table6) < first_small


def test_chapter_without_a_plan_uses_its_grid():
    from covidnb.chapters import dresunet

    assert reference._grid("dresunet", "cpu") == dresunet.grid("cpu")
    assert reference._grid("dresunet", "cpu", limit=3) == dresunet.grid("cpu")[:3]


@pytest.fixture
def toy_chapter(monkeypatch, tmp_path):
    """A chapter module with a three-run plan of tiny experiments on an in-memory dataset."""
    from toydata import ToyDataset

    import covidnb.data

    def fake_open(name, split, *, image_size=224, channels=1, seed=0, **kw):
        return ToyDataset({"train": 16, "val": 8, "test": 8}[split], classes=("neg", "pos"),
                          size=image_size, channels=channels, seed=seed, split=split)

    monkeypatch.setattr(covidnb.data, "open_dataset", fake_open)

    def cfg(seed):
        return {"chapter": "toy", "profile": "smoke", "dataset": "toy2", "image_size": 16,
                "channels": 1, "model": "tinycnn", "model_kwargs": {"num_classes": 2},
                "loss": "ce", "seed": seed,
                "train": {"epochs": 1, "batch_size": 8, "max_steps_per_epoch": 1, "progress": False}}
    mod = types.ModuleType("covidnb.chapters.toy")
    mod.grid = lambda profile: [cfg(s) for s in range(3)]
    mod.reference_cams = None  # a test may set it
    mod.reference_weights = None
    monkeypatch.setitem(sys.modules, "covidnb.chapters.toy", mod)
    # The runner finds a chapter through the registry only: declare the toy there.
    toy = Chapter(slug="toy", title="a toy chapter", classes=("neg", "pos"), positive="pos",
                  experiment_config=lambda profile, seed: cfg(seed),
                  grids={"all": lambda profile: mod.grid(profile)},
                  reference_cams=lambda c: mod.reference_cams(c) if mod.reference_cams else None,
                  reference_weights=lambda c: bool(mod.reference_weights and mod.reference_weights(c)),
                  describe=lambda c: {"model": c["model"]})
    monkeypatch.setitem(registry._CHAPTERS, "toy", toy)
    return mod


def test_status_lists_missing_then_done(toy_chapter, tmp_path):
    rows = reference.plan_status("toy", "smoke", root=tmp_path)
    assert [r["state"] for r in rows] == ["missing"] * 3
    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore

    run_experiment(toy_chapter.grid("smoke")[1], store=RunStore(tmp_path))
    rows = reference.plan_status("toy", "smoke", root=tmp_path)
    # The toy data call themselves synthetic: listed, and marked as no reference.
    assert [r["state"] for r in rows] == ["missing", "done (synthetic)", "missing"]
    assert rows[1]["key"] and json.dumps(rows)  # printable


def test_main_list_prints_the_plan(capsys):
    assert reference.main(["dsn_saal", "--list", "--limit", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and "densenet169" in out[2]


def test_worker_skips_a_configuration_another_process_is_training(toy_chapter, tmp_path, capsys):
    import multiprocessing as mp

    from covidnb.experiment import normalise_config
    from covidnb.runs import RunStore
    from covidnb.runs.store import file_lock

    cfgs = toy_chapter.grid("smoke")
    held = normalise_config(cfgs[0])
    held.pop("root", None)
    held["synthetic"] = True  # the toy data are synthetic, so their runs are keyed so
    path = RunStore(tmp_path).path_for(held)
    # As when another process is mid-run: its record exists, says "running", and it holds the
    # lock. (A first attempt that failed writes the record; then the status is set back.)
    def interrupted(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RunStore(tmp_path).run(held, interrupted, log=lambda *a: None)
    (path / "status.json").write_text(json.dumps({"status": "running", "attempt": 2}))
    counter = mp.get_context("spawn").Value("i", 0)
    with file_lock(path / ".lock"):
        reference._worker("toy", "smoke", 0, counter, str(tmp_path), None)
    out = capsys.readouterr().out
    assert "1/3 tinycnn seed 0 {'loss': 'ce'}: skipped" in out
    assert "2/3 tinycnn seed 1 {'loss': 'ce'}: done" in out
    states = [r["state"] for r in reference.plan_status("toy", "smoke", root=tmp_path)]
    assert states == ["running (synthetic)", "done (synthetic)", "done (synthetic)"]
    # The other process's record is untouched.
    assert json.loads((path / "status.json").read_text())["status"] == "running"


def test_worker_stores_cams_of_the_runs_the_chapter_asks_for(toy_chapter, tmp_path, capsys):
    import multiprocessing as mp

    from covidnb.cam import CAMS_FILE, load_cams
    from covidnb.experiment import find_run
    from covidnb.runs import RunStore

    toy_chapter.reference_cams = lambda cfg: ({"per_class": 2, "labels": [1, 0]}
                                              if cfg["seed"] == 1 else None)
    counter = mp.get_context("spawn").Value("i", 0)
    reference._worker("toy", "smoke", 0, counter, str(tmp_path), None)
    assert "CAMs not stored" not in capsys.readouterr().out
    store = RunStore(tmp_path)
    runs = [find_run(c, store, synthetic=True) for c in toy_chapter.grid("smoke")]
    assert [r.done for r in runs] == [True] * 3
    # No reference run keeps a checkpoint; only the asked-for one has CAMs.
    assert not any(r.checkpoint_dir.exists() for r in runs)
    assert [(r.path / CAMS_FILE).exists() for r in runs] == [False, True, False]
    cams, meta = load_cams(runs[1].path / CAMS_FILE)
    assert [c.label for c in cams] == ["pos", "pos", "neg", "neg"]
    assert meta["checkpoint"] == "best" and meta["per_class"] == "2"
    assert all(c.cam.shape == (16, 16) for c in cams)


def test_dsn_saal_stores_cams_of_the_fig7_pair_only():
    specs = {(c["model"], c["loss"]): dsn_saal.reference_cams(c) for c in dsn_saal.grid("cpu")}
    asked = {k for k, v in specs.items() if v is not None}
    assert asked == {dsn_saal.BASELINE, dsn_saal.PROPOSED}
    assert specs[dsn_saal.PROPOSED] == {"per_class": dsn_saal.CAM_PER_CLASS, "labels": [1, 0], "seed": 0}


def test_items_select_plan_positions_and_keep_their_numbers(capsys):
    assert reference.parse_items("26-29, 31,27") == [26, 27, 28, 29, 31]
    for bad in ("x", "5-3", "0", "2-"):
        with pytest.raises(ValueError, match="--items"):
            reference.parse_items(bad)
    assert reference._positions(10, items=[2, 4]) == [1, 3]
    assert reference._positions(10, limit=3, items=[2, 4]) == [1]
    with pytest.raises(ValueError, match="has 10 configurations"):
        reference._positions(10, items=[11])
    assert reference.main(["dsn_saal", "--list", "--items", "2,4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["2", "4"] and "resnet50" in out[0]
    with pytest.raises(SystemExit):
        reference.main(["dsn_saal", "--list", "--items", "4-2"])
    assert "not a range" in capsys.readouterr().err


def test_worker_runs_only_the_selected_items(toy_chapter, tmp_path, capsys):
    import multiprocessing as mp

    counter = mp.get_context("spawn").Value("i", 0)
    reference._worker("toy", "smoke", 0, counter, str(tmp_path), None, [3])
    out = capsys.readouterr().out
    assert "3/3 tinycnn seed 2" in out and "seed 0" not in out and "seed 1" not in out
    states = [r["state"] for r in reference.plan_status("toy", "smoke", root=tmp_path)]
    assert states == ["missing", "missing", "done (synthetic)"]


def test_worker_keeps_the_best_weights_of_the_runs_the_chapter_asks_for(toy_chapter, tmp_path, capsys):
    import multiprocessing as mp

    import torch

    from covidnb.experiment import WEIGHTS_FILE, find_run, load_model
    from covidnb.runs import RunStore

    toy_chapter.reference_weights = lambda cfg: cfg["seed"] == 2
    counter = mp.get_context("spawn").Value("i", 0)
    reference._worker("toy", "smoke", 0, counter, str(tmp_path), None)
    assert "not stored" not in capsys.readouterr().out
    runs = [find_run(c, RunStore(tmp_path), synthetic=True) for c in toy_chapter.grid("smoke")]
    assert not any(r.checkpoint_dir.exists() for r in runs)  # resumable state never stays
    assert [(r.path / WEIGHTS_FILE).exists() for r in runs] == [False, False, True]
    model = load_model(runs[2])  # from the kept weights: the checkpoint is gone
    state = torch.load(runs[2].path / WEIGHTS_FILE, weights_only=True)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with pytest.raises(FileNotFoundError, match="has no best checkpoint"):
        load_model(runs[0])


def test_dual_sampling_keeps_fold_0_weights_only():
    from covidnb.chapters import dual_sampling
    from covidnb.chapters.registry import get_chapter

    keep = [get_chapter("dual_sampling").keeps_weights(c) for c in dual_sampling.grid("cpu")]
    assert sum(keep) == 3 and keep[:3] == [True] * 3  # folds outermost: fold 0's three variants


@pytest.mark.parametrize("slug", ["dual_sampling", "pepx_resnet", "dsn_saal", "dresunet"])
def test_no_two_plan_lines_read_the_same(slug):
    # dual_sampling's 15 entries differ only by fold and sampler, pepx_resnet's audit by its view
    plan = reference._grid(slug, "cpu")
    varying = reference._varying(plan)
    labels = [reference._label(c, varying) for c in plan]
    assert len(set(labels)) == len(labels)
    if slug == "dual_sampling":
        assert set(varying) == {"fold", "sampling"}
