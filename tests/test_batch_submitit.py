"""``covidnb run --executor submitit`` end to end on submitit's local executor: real job
processes and job folders, a failing set recorded while the others finish, a killed batch that
restarts without redoing a finished set, and one GPU per job."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("submitit")
pytest.importorskip("papermill")

from covidnb import runner
from covidnb.batch import SubmitError, SubmitOptions, executor_parameters, parse_time
from covidnb.batch.submit import _gpu_slots
from covidnb.cli import main


def _notebook(path: Path) -> Path:
    """Appends a line to ``ran_<x>.txt`` every time it runs (so a redone set shows), waits while
    a ``hold`` file exists in its working folder, fails when asked, writes ``out_<x>.txt``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nfail = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os, time\n"
            "open(f'ran_{x}.txt', 'a').write(os.environ.get('CUDA_VISIBLE_DEVICES', '-') + '\\n')\n"
            "while os.path.exists('hold') and x == 3:\n"
            "    time.sleep(0.2)\n"
            "if fail:\n"
            "    raise ValueError(f'asked to fail at x={x}')"
        ),
        nbformat.v4.new_code_cell("open(f'out_{x}.txt', 'w').write(str(x * 2))"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_options_map_to_submitit_parameters():
    opts = SubmitOptions(partition="gpu", time="1-02:30:00", gpus_per_job=1, array_parallelism=4,
                         cpus_per_job=8, mem_gb=32, extra={"slurm_account": "lab"})
    assert executor_parameters(opts) == {
        "nodes": 1, "tasks_per_node": 1, "timeout_min": 26 * 60 + 30, "gpus_per_node": 1,
        "cpus_per_task": 8, "mem_gb": 32.0, "slurm_partition": "gpu",
        "slurm_array_parallelism": 4, "slurm_account": "lab",
    }
    assert [parse_time(t) for t in ("90", "1:30", "02:00:00", "2-3", 45)] == [90, 2, 120, 51 * 60, 45]
    with pytest.raises(SubmitError, match="HH:MM:SS"):
        SubmitOptions(time="two hours")
    with pytest.raises(SubmitError, match="cluster"):
        SubmitOptions(cluster="pbs")
    # one job per GPU: disjoint groups, never one GPU in two slots
    assert _gpu_slots(SubmitOptions(gpus_per_job=1, gpus=[0, 1, 2])) == [(0,), (1,), (2,)]
    assert _gpu_slots(SubmitOptions(gpus_per_job=2, gpus=[0, 1, 2])) == [(0, 1)]
    with pytest.raises(SubmitError, match="only GPUs"):
        _gpu_slots(SubmitOptions(gpus_per_job=2, gpus=[0]))


def test_slurm_job_array_script_has_the_mapped_options(tmp_path, monkeypatch):
    """The sbatch script submitit would write for a 3-job array: partition, time, one task and
    one GPU per job, at most 2 jobs at once. (A stand-in ``srun`` lets submitit build its Slurm
    executor here; nothing is submitted.)"""
    from submitit.slurm.slurm import _make_sbatch_string

    from covidnb.batch.submit import make_executor

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    ex = make_executor(tmp_path / "jobs", SubmitOptions(
        cluster="slurm", partition="gpu", time="2:00:00", gpus_per_job=1, array_parallelism=2))
    script = _make_sbatch_string(command="python -m x", folder=tmp_path / "jobs", map_count=3,
                                 **ex._executor.parameters)
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=120", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH --nodes=1", "#SBATCH --array=0-2%2"):
        assert line in script, (line, script)


def test_submitit_local_grid_failure_and_gpu_pinning(tmp_path, capsys):
    nb = _notebook(tmp_path / "nb.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {x: 2}\n- {x: 4, fail: true}\n- {x: 5}\n- {x: 6}\n")
    out = tmp_path / "out"
    rc = main(["run", str(nb), "--grid", str(grid), "--out", str(out), "--cwd", str(work),
               "--executor", "submitit", "--cluster", "local", "--gpus-per-job", "1",
               "--gpus", "0,1"])
    captured = capsys.readouterr()
    assert rc == 1, captured
    assert "3 ok, 1 failed" in captured.out and "1 of 4 set(s) failed" in captured.err
    ledger = json.loads((out / "ledger.json").read_text())
    assert sorted(e["status"] for e in ledger.values()) == ["done", "done", "done", "failed"]
    failed = next(e for e in ledger.values() if e["status"] == "failed")
    assert failed["params"] == {"x": 4, "fail": True} and "asked to fail at x=4" in failed["error"]
    # real jobs: each has its folder entries (log, pickled result) under out/submitit
    jobs = {e["job"] for e in ledger.values()}
    assert len(jobs) == 4 and all((out / "submitit" / f"{j}_0_result.pkl").exists() for j in jobs)
    for x in (2, 5, 6):
        assert (work / f"out_{x}.txt").read_text() == str(2 * x)
    # every job saw exactly one of the two GPUs (never both, never none)
    seen = [v for x in (2, 4, 5, 6) for v in _lines(work / f"ran_{x}.txt")]
    assert len(seen) == 4 and set(seen) <= {"0", "1"}, seen
    with pytest.raises(runner.BatchInputError, match="only apply with --executor submitit"):
        from covidnb.cli.run import _submit_options

        class A:  # what argparse gives for `--partition gpu` without the executor
            executor, partition, cluster, time, gpus_per_job = "local", "gpu", None, None, 0
            array_parallelism = cpus_per_job = mem_gb = gpus = None
            slurm = ()

        _submit_options(A())


def test_killed_batch_restarts_without_redoing_finished_sets(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    (work / "hold").write_text("")  # x=3 waits while this exists
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {x: 2}\n- {x: 3}\n- {x: 4}\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "import sys; from covidnb.cli import main; sys.exit(main())", "run", str(nb), "--grid", str(grid), "--out",
           str(out), "--cwd", str(work), "--executor", "submitit", "--cluster", "local"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while not (_lines(work / "ran_3.txt") and (out / "ledger.json").exists()):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # killed while x=3 runs
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "not done: {'x': 3}" in stderr and "not done: {'x': 4}" in stderr
    ledger = json.loads((out / "ledger.json").read_text())
    assert [e["status"] for e in ledger.values()] == ["done"]
    time.sleep(1.0)  # a cancelled job that still ran would append to ran_3.txt or write out_3
    assert not (work / "out_3.txt").exists()

    (work / "hold").unlink()
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("[skipped]") == 1 and "nb__x-2" in rerun.stdout.split("[skipped]")[1]
    assert len(_lines(work / "ran_2.txt")) == 1  # finished before the kill: not redone
    assert len(_lines(work / "ran_3.txt")) == 2  # killed mid-run: run again
    assert len(_lines(work / "ran_4.txt")) == 1
    ledger = json.loads((out / "ledger.json").read_text())
    assert sorted(e["status"] for e in ledger.values()) == ["done"] * 3


def test_jobs_of_a_batch_killed_without_warning_record_themselves(tmp_path):
    """SIGKILL leaves no chance to cancel: the running job finishes on its own, writes its set
    into the ledger, and the next batch skips it as well as the sets done before."""
    nb = _notebook(tmp_path / "nb.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    (work / "hold").write_text("")
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {x: 2}\n- {x: 3}\n- {x: 4}\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "import sys; from covidnb.cli import main; sys.exit(main())",
           "run", str(nb), "--grid", str(grid), "--out", str(out), "--cwd", str(work),
           "--executor", "submitit", "--cluster", "local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not (_lines(work / "ran_3.txt") and (out / "ledger.json").exists()):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait(30)
    (work / "hold").unlink()  # the orphaned job of x=3 now finishes by itself
    deadline = time.time() + 180
    while True:
        ledger = json.loads((out / "ledger.json").read_text())
        if sum(e["status"] == "done" for e in ledger.values()) == 2:
            break
        assert time.time() < deadline, ledger
        time.sleep(0.5)
    assert (work / "out_3.txt").read_text() == "6"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("[skipped]") == 2
    assert [len(_lines(work / f"ran_{x}.txt")) for x in (2, 3, 4)] == [1, 1, 1]
