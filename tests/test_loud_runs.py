"""Issue 14, the run store and training: bad records, forced re-runs, diverging losses, changed
data and a full disk are loud, and nothing stored is lost."""

import errno
import json
import warnings

import pytest
import torch
from torch import nn
from toydata import ToyDataset

import covidnb.data
import covidnb.losses
import covidnb.train
from covidnb.experiment import DataChangedError, run_experiment
from covidnb.runs import RunStore
from covidnb.runs.store import UnreadableRecordWarning
from covidnb.train import DivergingLossError, NonFiniteLossError, TrainConfig, fit

torch.set_num_threads(1)


@pytest.fixture
def toy_data(monkeypatch):
    """``open_dataset`` → small in-memory datasets; ``toy_data["shift"]`` changes the data."""
    state = {"shift": 0}

    def fake_open(name, split, *, image_size=224, channels=1, seed=0, **kw):
        n = {"train": 16, "val": 8, "test": 8}[split]
        return ToyDataset(n, size=image_size, channels=channels, split=split,
                          seed=seed + state["shift"] + {"train": 0, "val": 1, "test": 2}[split])

    monkeypatch.setattr(covidnb.data, "open_dataset", fake_open)
    return state


def _config(**kw):
    cfg = {"chapter": "toy", "dataset": "toy2", "image_size": 16, "model": "tinycnn",
           "train": {"epochs": 1, "batch_size": 8, "lr": 0.01, "progress": False}, "seed": 0}
    cfg.update(kw)
    return cfg


# -- unreadable records -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["metrics.json", "status.json", "config.json"])
def test_an_unreadable_record_is_reported_skipped_and_retrained(tmp_path, toy_data, name):
    store = RunStore(tmp_path)
    good = run_experiment(_config(seed=0), store=store)
    bad = run_experiment(_config(seed=1), store=store)
    (bad.path / name).write_text('{"status": "done", "acc')  # garbled, as by a crash or an edit
    assert bad.status["status"] == "unreadable" and name in bad.status["reason"]
    assert not bad.done
    with pytest.warns(UnreadableRecordWarning, match=name):
        table = store.table()
    assert list(table["key"]) == [good.key[:12]]  # the rest is still read
    assert [p for p, _ in store.unreadable] == [bad.path]
    with pytest.warns(UnreadableRecordWarning):
        assert [r.path for r in store.runs()] == [good.path]
    # Treated as not done: the next call retrains it and the record reads again.
    again = run_experiment(_config(seed=1), store=store)
    assert again.done and again.problem is None and "auc" in again.metrics
    assert again.status["note"] == "re-running an unreadable record"


def test_a_done_status_without_readable_metrics_is_not_done(tmp_path, toy_data):
    run = run_experiment(_config(), store=RunStore(tmp_path))
    (run.path / "metrics.json").unlink()
    assert run.status["status"] == "unreadable" and "metrics.json" in run.status["reason"]


# -- force ----------------------------------------------------------------------------------
def test_an_interrupted_forced_rerun_keeps_the_stored_record(tmp_path, toy_data, monkeypatch):
    store = RunStore(tmp_path)
    run = run_experiment(_config(), store=store)
    before = {n: (run.path / n).read_bytes() for n in ("metrics.json", "predictions.csv")}

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    real_fit = covidnb.train.fit
    monkeypatch.setattr(covidnb.train, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_config(), store=store, force=True)
    assert run.done and {n: (run.path / n).read_bytes() for n in before} == before
    monkeypatch.setattr(covidnb.train, "fit", real_fit)
    # A finished forced re-run replaces it; the staging folder is gone.
    again = run_experiment(_config(), store=store, force=True)
    assert again.path == run.path and again.done and again.status["attempt"] == 1
    assert not (run.path / ".force").exists()
    assert json.loads((run.path / "status.json").read_text())["note"] == "forced re-run"


def test_a_failed_forced_rerun_is_returned_and_leaves_the_record(tmp_path, toy_data, monkeypatch):
    store = RunStore(tmp_path)
    run = run_experiment(_config(), store=store)
    metrics = (run.path / "metrics.json").read_bytes()

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(covidnb.train, "fit", broken)
    failed = run_experiment(_config(), store=store, force=True, raise_on_failure=False)
    assert failed.status["status"] == "failed" and "boom" in failed.status["reason"]
    assert run.done and (run.path / "metrics.json").read_bytes() == metrics


# -- diverging losses -------------------------------------------------------------------------
class Exploding(nn.Module):
    """CE for the first two steps, then multiplied by 1e30: huge but finite."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, out, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * (1e30 if self.calls > 2 else 1.0)


def test_a_diverging_loss_stops_the_run_like_a_nan(tmp_path):
    from covidnb.models import build_model

    cfg = TrainConfig(epochs=2, batch_size=4, lr=0.01, progress=False)
    with pytest.raises(DivergingLossError, match="diverging") as info:
        fit(build_model("tinycnn"), Exploding(), ToyDataset(16), None, cfg, checkpoint_dir=tmp_path)
    assert isinstance(info.value, NonFiniteLossError)
    why = json.loads((tmp_path / "nonfinite.json").read_text())
    assert why["error"] == "DivergingLossError" and why["step"] == 3 and "rule" in why


def test_a_diverging_run_is_recorded_failed(tmp_path, toy_data, monkeypatch):
    real = covidnb.losses.build_loss
    monkeypatch.setattr(covidnb.losses, "build_loss",
                        lambda name, **kw: Exploding() if name == "boom" else real(name, **kw))
    cfg = _config(loss="boom", train={"epochs": 2, "batch_size": 4, "progress": False})
    run = run_experiment(cfg, store=RunStore(tmp_path), raise_on_failure=False)
    st = run.status
    assert st["status"] == "failed" and "DivergingLossError" in st["reason"]
    assert st["detail"]["error"] == "DivergingLossError" and not (run.path / "metrics.json").exists()


def test_an_ordinary_run_does_not_trip_the_guard():
    from covidnb.models import build_model

    cfg = TrainConfig(epochs=2, batch_size=4, lr=0.01, progress=False)
    res = fit(build_model("tinycnn"), nn.CrossEntropyLoss(), ToyDataset(16), None, cfg)
    assert len(res.history) == 2


# -- changed data -----------------------------------------------------------------------------
def test_a_stored_run_on_other_data_is_refused_or_rerun(tmp_path, toy_data):
    store = RunStore(tmp_path)
    run = run_experiment(_config(), store=store)
    old = run.provenance["datasets"]["train"]["checksum"]
    toy_data["shift"] = 7  # the data on disk changed since
    with pytest.raises(DataChangedError) as info:
        run_experiment(_config(), store=store)
    msg = str(info.value)
    assert old in msg and "split 'train'" in msg and "on_data_change='rerun'" in msg
    with pytest.warns(UserWarning, match="re-training"):
        again = run_experiment(_config(), store=store, on_data_change="rerun")
    assert again.done and again.provenance["datasets"]["train"]["checksum"] != old
    run_experiment(_config(), store=store)  # now they agree: reused without a word


# -- a full disk ------------------------------------------------------------------------------
def test_a_full_disk_names_the_file_and_records_the_failure(tmp_path, toy_data, monkeypatch):
    from contextlib import contextmanager

    from covidnb.runs import atomic

    real_path = atomic.atomic_path
    disk = {"full": False}

    @contextmanager
    def filling_path(path):  # the disk fills up while the predictions are written
        with real_path(path) as tmp:
            if path.name == "predictions.csv":
                disk["full"] = True
            if disk["full"]:
                raise OSError(errno.ENOSPC, "No space left on device")
            yield tmp

    monkeypatch.setattr(atomic, "atomic_path", filling_path)
    store = RunStore(tmp_path)
    with pytest.raises(OSError) as info:
        run_experiment(_config(), store=store)
    assert "predictions.csv" in str(info.value) and info.value.errno == errno.ENOSPC
    (path,) = [p.parent for p in tmp_path.glob("toy/*/config.json")]
    st = json.loads((path / "status.json").read_text())  # written in place: no new file fits
    assert st["status"] == "failed" and "predictions.csv" in st["reason"]


def test_runs_table_warns_not_raises_on_a_record_with_a_bad_type(tmp_path, toy_data):
    store = RunStore(tmp_path)
    run = run_experiment(_config(), store=store)
    (run.path / "status.json").write_text("[1, 2]")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.table().empty
    assert any("expected a JSON object" in str(w.message) for w in caught)
