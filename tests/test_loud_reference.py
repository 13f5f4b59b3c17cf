"""Issue 14, the reference runner: exit statuses that tell the truth, workers that stop with it,
and unreadable records named by --list."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from loud_helpers import crashing_worker, sleeping_worker
from test_chapters_reference import toy_chapter  # noqa: F401 — the same toy chapter

from covidnb.chapters import reference

TESTS = Path(__file__).resolve().parent


def _counter():
    import multiprocessing as mp

    return mp.get_context("spawn").Value("i", 0)


def _toy_runs(root):
    """Run the toy chapter's smoke grid into a store at ``root``; its runs, in store order."""
    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore

    store = RunStore(root)
    for c in reference._grid("toy", "smoke"):
        run_experiment(c, store=store)
    return store.runs()


@pytest.mark.usefixtures("toy_chapter")
def test_a_failing_configuration_does_not_drop_the_rest(tmp_path, capsys, monkeypatch):
    import covidnb.experiment

    real = covidnb.experiment.run_experiment

    def flaky(cfg, **kw):
        if cfg["seed"] == 1:
            raise PermissionError(f"{tmp_path}/toy: Permission denied")  # e.g. unwritable results/
        return real(cfg, **kw)

    monkeypatch.setattr(covidnb.experiment, "run_experiment", flaky)
    reference._worker("toy", "smoke", 0, _counter(), str(tmp_path), None)
    out = capsys.readouterr().out
    assert "2/3 tinycnn seed 1 {'loss': 'ce'}: FAILED: PermissionError" in out
    assert "3/3 tinycnn seed 2 {'loss': 'ce'}: done" in out
    states = [r["state"] for r in reference.plan_status("toy", "smoke", root=tmp_path)]
    assert states == ["done (synthetic)", "missing", "done (synthetic)"]


@pytest.mark.usefixtures("toy_chapter")
def test_the_runner_exits_nonzero_and_names_what_was_dropped(tmp_path, capsys):
    rc = reference.run_reference("toy", "smoke", workers=1, root=tmp_path, target=crashing_worker)
    err = capsys.readouterr().err
    assert rc == 1
    assert "worker 0 died (exit code 3)" in err
    assert err.count("not done:") == 3 and "tinycnn seed 2" in err


@pytest.mark.usefixtures("toy_chapter")
def test_a_failed_run_is_listed_with_its_reason(tmp_path, capsys):
    run = _toy_runs(tmp_path)[0]
    (run.path / "status.json").write_text(json.dumps({"status": "failed", "reason": "boom"}))
    rows = reference.plan_status("toy", "smoke", root=tmp_path)
    assert [r["reason"] for r in rows].count("boom") == 1
    assert reference._report("toy", "smoke", tmp_path, None, None, [], []) == 1
    assert "boom" in capsys.readouterr().err


@pytest.mark.usefixtures("toy_chapter")
def test_sigterm_stops_the_workers_and_exits_nonzero(tmp_path):
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    t0 = time.time()
    rc = reference.run_reference("toy", "smoke", workers=2, root=tmp_path, target=sleeping_worker)
    assert rc == 128 + signal.SIGTERM and time.time() - t0 < 30
    for f in tmp_path.glob("worker-*.pid"):
        with pytest.raises(ProcessLookupError):
            os.kill(int(f.read_text()), 0)


def test_a_worker_stops_when_the_runner_is_killed(tmp_path):
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from covidnb.chapters import reference\n"
        "from loud_helpers import sleeping_worker\n"
        f"reference.run_reference('dresunet', 'cpu', workers=1, root={str(tmp_path)!r}, limit=1,"
        " target=sleeping_worker)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", script])
    pid_file = tmp_path / "worker-0.pid"
    try:
        deadline = time.time() + 60
        while not pid_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert pid_file.exists(), "the worker never started"
        time.sleep(0.3)
        worker = int(pid_file.read_text())
        runner.kill()  # SIGKILL: no handler runs in the runner
        runner.wait()
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker went on after its runner was killed")
    finally:
        if runner.poll() is None:
            runner.kill()


@pytest.mark.usefixtures("toy_chapter")
def test_list_names_an_unreadable_record_and_lists_the_rest(tmp_path, capsys):
    bad = _toy_runs(tmp_path)[1]
    (bad.path / "metrics.json").write_text('{"accuracy": 0.8, "au')
    capsys.readouterr()
    assert reference.main(["toy", "--profile", "smoke", "--list", "--root", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert len(lines) == 3 and sum("unreadable" in ln for ln in lines) == 1
    assert sum("done" in ln for ln in lines) == 2
    assert f"{bad.path / 'metrics.json'}: not valid JSON" in cap.err


def test_bad_arguments_are_messages(capsys):
    with pytest.raises(SystemExit) as info:
        reference.main(["no_such_chapter", "--list"])
    assert info.value.code == 2 and "chapter 'no_such_chapter'" in capsys.readouterr().err
    assert reference.main(["dsn_saal", "--list", "--items", "999"]) == 2
    from covidnb.chapters import dsn_saal

    n = len(dsn_saal.reference_grid("cpu"))
    assert f"has {n} configurations, not [999]" in capsys.readouterr().err
