import json
import multiprocessing as mp
import os
import time

import pandas as pd
import pytest

from covidnb.runs import Run, RunStore, canonical_json, config_key
from covidnb.runs.atomic import atomic_write_csv, atomic_write_json
from covidnb.runs.store import LockTimeout, file_lock

CFG = {
    "chapter": "toy",
    "model": "tinycnn",
    "seed": 0,
    "train": {"lr": 0.001, "epochs": 2, "progress": False},
}
QUIET = {"log": lambda s: None}


def _write_result(run: Run, auc: float = 0.75):
    run.save_metrics(
        {"auc": auc, "per_class": {"a": {"auc": auc}}, "confusion_matrix": [[1, 0], [0, 1]]}
    )
    run.save_predictions(
        pd.DataFrame(
            {
                "sample_id": ["x/1", "x/2"],
                "patient_id": ["", "p"],
                "label": [0, 1],
                "p_a": [0.9, 0.2],
                "p_b": [0.1, 0.8],
            }
        )
    )
    run.save_history([{"epoch": 1, "train_loss": 0.5}])


def test_key_canonical():
    a = config_key({"b": 1, "a": [1, 2], "lr": 1.0})
    assert a == config_key({"lr": 1, "a": (1, 2), "b": 1})  # key order, tuple vs list, 1.0 vs 1
    assert a != config_key({"b": 1, "a": [2, 1], "lr": 1})
    assert canonical_json({"b": 1, "a": 0.5}) == '{"a":0.5,"b":1}'
    assert RunStore("/nonexistent").key(CFG) == RunStore("/nonexistent").key(
        {**CFG, "train": {**CFG["train"], "progress": True}}
    )  # progress is not a parameter
    with pytest.raises(ValueError, match="config.train.lr"):
        config_key({"train": {"lr": float("nan")}})
    with pytest.raises(TypeError, match="config.x"):
        config_key({"x": object()})


def test_same_config_reused_other_seed_new(tmp_path):
    store = RunStore(tmp_path)
    calls = []

    def body(run):
        calls.append(run.path)
        _write_result(run)

    r1 = store.run(CFG, body, **QUIET)
    r2 = store.run(json.loads(json.dumps(CFG)), body, **QUIET)
    assert len(calls) == 1 and r1.path == r2.path and r2.done
    assert r1.path == tmp_path / "toy" / store.key(CFG)[:12]
    assert r2.metrics["auc"] == 0.75
    assert list(r2.predictions["sample_id"]) == ["x/1", "x/2"] and r2.predictions[
        "patient_id"
    ].tolist() == ["", "p"]
    assert r2.history["train_loss"].tolist() == [0.5]
    assert r2.provenance["git"].keys() >= {"commit", "dirty"} and "finished" in r2.provenance
    assert r2.provenance["versions"]["torch"]
    r3 = store.run({**CFG, "seed": 1}, body, **QUIET)
    assert len(calls) == 2 and r3.key != r1.key
    store.run(CFG, body, force=True, **QUIET)
    assert len(calls) == 3
    assert store.get(CFG).key == r1.key and store.get({**CFG, "seed": 9}) is None


def test_failure_recorded_then_retried(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        store.run(CFG, lambda run: (_ for _ in ()).throw(RuntimeError("boom")), **QUIET)
    st = store.get(CFG).status
    assert (
        st["status"] == "failed"
        and "RuntimeError: boom" in st["reason"]
        and "boom" in st["traceback"]
    )
    run = store.run(CFG, _write_result, **QUIET)
    assert run.done and run.status["attempt"] == 2


def test_killed_run_with_stale_lock_is_resumed(tmp_path):
    store = RunStore(tmp_path)
    path = store.path_for(CFG)
    path.mkdir(parents=True)
    (path / ".lock").touch()  # left behind by a killed process: flock is gone with it
    atomic_write_json(
        path / "config.json", {"key": store.key(CFG), "config": CFG, "provenance": {}}
    )
    atomic_write_json(path / "status.json", {"status": "running", "pid": 999999, "attempt": 1})
    (path / "checkpoints").mkdir()
    (path / "checkpoints" / "last.pt").write_text("kept")
    seen = []

    def body(run):
        seen.append((run.checkpoint_dir / "last.pt").read_text())
        _write_result(run)

    run = store.run(CFG, body, **QUIET)
    assert seen == ["kept"]  # checkpoints survive so the training resumes
    assert run.done and run.status["attempt"] == 2


def _worker(root, counter, hold):
    store = RunStore(root)

    def body(run):
        with open(counter, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(hold)
        _write_result(run, auc=0.5)

    store.run(CFG, body, log=lambda s: None)


def test_two_processes_one_trains(tmp_path):
    counter = tmp_path / "calls.txt"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(tmp_path / "store", counter, 1.0)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(counter.read_text().split()) == 1
    assert RunStore(tmp_path / "store").get(CFG).metrics["auc"] == 0.5


def test_lock_timeout(tmp_path):
    with file_lock(tmp_path / ".lock"):
        ctx = mp.get_context("fork")
        q = ctx.Queue()

        def try_lock():
            try:
                with file_lock(tmp_path / ".lock", timeout=0.3):
                    q.put("got it")
            except LockTimeout as exc:
                q.put(str(exc))

        p = ctx.Process(target=try_lock)
        p.start()
        p.join(10)
        assert "holds this run's lock" in q.get(timeout=5)


def test_atomic_writes_leave_no_partial_files(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"auc": 0.9})

    class Exploding(pd.DataFrame):
        def to_csv(self, *a, **kw):
            raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_csv(tmp_path / "p.csv", Exploding({"a": [1]}))

    def crash(*a, **kw):
        raise KeyboardInterrupt  # killed between writing the temporary file and renaming it

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(target, {"auc": 0.1})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"auc": 0.9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_runs_filters_and_table(tmp_path):
    store = RunStore(tmp_path)
    for seed, lr in [(0, 0.001), (1, 0.001), (0, 0.01)]:
        cfg = {**CFG, "seed": seed, "train": {**CFG["train"], "lr": lr}}
        store.run(cfg, lambda run, s=seed: _write_result(run, auc=0.5 + s / 10), **QUIET)
    with pytest.raises(RuntimeError):
        store.run({**CFG, "seed": 5}, lambda run: (_ for _ in ()).throw(RuntimeError("x")), **QUIET)
    assert len(store.runs()) == 4 and len(store.runs(status="failed")) == 1
    assert len(store.runs(train__lr=0.001)) == 3  # the failed seed-5 run has lr 0.001 too
    assert len(store.runs(status="done", train__lr=0.001)) == 2
    assert len(store.runs(seed=lambda s: s > 0)) == 2
    t = store.table(metrics=["auc", "per_class.*.auc"])
    assert len(t) == 3
    assert {
        "key",
        "status",
        "synthetic",
        "chapter",
        "seed",
        "train.lr",
        "auc",
        "per_class.a.auc",
    } <= set(t.columns)
    assert "confusion_matrix" not in t.columns
    assert sorted(t["auc"]) == [0.5, 0.5, 0.6]
    assert t.loc[t["seed"] == 1, "auc"].item() == 0.6


def test_bad_chapter(tmp_path):
    with pytest.raises(ValueError, match="chapter"):
        RunStore(tmp_path).path_for({"chapter": "../x"})
