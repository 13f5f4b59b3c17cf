"""Issue 14, the command line: bad input is a message naming the file or parameter (exit 2),
failures and interruptions give a non-zero exit status."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from covidnb.cli import main

REPO = Path(__file__).resolve().parents[1]


def _notebook(path, params="x = 1\nfail = False", body="y = x"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# -- covidnb run ------------------------------------------------------------------------------
def test_run_refuses_an_unknown_parameter(tmp_path, capsys):
    nb = _notebook(tmp_path / "nb.ipynb")
    assert main(["run", str(nb), "-p", "unknown", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) 'unknown'" in err and "defines: x, fail" in err
    grid = tmp_path / "g.yaml"
    grid.write_text("- {x: 2}\n- {xx: 3}\n")
    assert main(["run", str(nb), "--grid", str(grid), "--dry-run"]) == 2
    assert "'xx'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing ran


def test_run_refuses_an_unknown_parameter_of_a_book_notebook(capsys):
    nb = REPO / "nbs" / "dresunet" / "03-training.ipynb"
    assert main(["run", str(nb), "-p", "seed", "1", "--dry-run"]) == 2
    assert "'seed'" in capsys.readouterr().err  # 03-training takes `seeds`, not `seed`
    assert main(["run", str(nb), "-p", "seeds", "[1]", "--dry-run"]) == 0


@pytest.mark.parametrize(
    "extra, expect",
    [
        (["--grid", "{missing}"], "grid file not found"),
        (["--grid", "{bad_yaml}"], "not valid YAML"),
        (["--jobs", "0"], "jobs must be >= 1"),
        (["--kernel", "no-such-kernel"], "no Jupyter kernel named 'no-such-kernel'"),
        (["--out", "{a_file}"], "a_file"),
    ],
)
def test_run_bad_input_is_a_message(tmp_path, capsys, extra, expect):
    nb = _notebook(tmp_path / "nb.ipynb")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    (tmp_path / "a_file").write_text("")
    paths = {"missing": tmp_path / "none.yaml", "bad_yaml": tmp_path / "bad.yaml",
             "a_file": tmp_path / "a_file"}
    extra = [e.format(**paths) for e in extra]
    assert main(["run", str(nb), *extra]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_run_missing_or_broken_notebook_is_a_message(tmp_path, capsys):
    assert main(["run", str(tmp_path / "none.ipynb")]) == 2
    assert "none.ipynb: notebook not found" in capsys.readouterr().err
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert main(["run", str(tmp_path / "broken.ipynb")]) == 2
    assert "broken.ipynb: not a readable notebook" in capsys.readouterr().err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_stops_covidnb_run_and_its_kernels(tmp_path, jobs):
    proc = _slow_run(tmp_path, jobs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kernels = _kernels(tmp_path, jobs)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "not done: {'x': 1}" in err
    _assert_gone(kernels, 30, 0.3, "a kernel went on after covidnb run was stopped")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_notebooks_stop_when_covidnb_run_is_killed(tmp_path, jobs):
    """SIGKILL leaves no handler to run: the papermill children die with their parent
    (PR_SET_PDEATHSIG), and a kernel notices its parent is gone (ipykernel's parent poller)."""
    proc = _slow_run(tmp_path, jobs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kernels = _kernels(tmp_path, jobs)
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_gone(kernels, 45, 0.5, "a kernel went on after covidnb run was killed")


def _slow_run(tmp_path, jobs, **popen_kw):
    """``covidnb run`` over a grid of two sets of a notebook whose kernels write their pid to
    ``tmp_path/kernel-<x>.pid`` and sleep."""
    body = ("import os, time\n"
            "open(f'{pid_dir}/kernel-{x}.pid', 'w').write(str(os.getpid()))\n"
            "time.sleep(120)")
    nb = _notebook(tmp_path / "slow.ipynb", params=f"x = 1\npid_dir = {str(tmp_path)!r}", body=body)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "covidnb"), "run", str(nb), "--out", str(tmp_path / "out"),
         "--jobs", jobs, "--grid", str(_grid(tmp_path))],
        **popen_kw)


def _kernels(tmp_path, jobs):
    """The pids of the kernels :func:`_slow_run` started, once ``jobs`` of them run (90 s at most)."""
    deadline = time.time() + 90
    while len(list(tmp_path.glob("kernel-*.pid"))) < int(jobs) and time.time() < deadline:
        time.sleep(0.3)
    kernels = [int(p.read_text()) for p in tmp_path.glob("kernel-*.pid")]
    assert kernels, "no kernel started"
    return kernels


def _assert_gone(kernels, seconds, poll, message):
    """Fail with ``message`` unless every kernel is gone within ``seconds`` (survivors are killed)."""
    deadline = time.time() + seconds
    alive = kernels
    while alive and time.time() < deadline:
        alive = [k for k in alive if _alive(k)]
        time.sleep(poll)
    for k in alive:
        os.kill(k, signal.SIGKILL)
    assert not alive, message


def _grid(tmp_path):
    g = tmp_path / "grid.yaml"
    g.write_text("x: [1, 2]\n")
    return g


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# -- covidnb report / book ----------------------------------------------------------------------
@pytest.mark.parametrize("argv, expect", [
    (["report", "show", "nochapter"], "chapter 'nochapter' has no reported tables"),
    (["report", "show", "dresunet", "99.9"], "dresunet: no table '99.9'; ids:"),
    (["report", "show", "dresunet", "--root", "/no/such/root"], "/no/such/root/nbs/dresunet"),
    (["book", "--only", "zzz_no_notebook"], "--only zzz_no_notebook matches no notebook"),
])
def test_report_and_book_bad_input_is_a_message(argv, expect, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_run_refuses_a_missing_cwd(tmp_path, capsys):
    nb = _notebook(tmp_path / "nb.ipynb")
    assert main(["run", str(nb), "--cwd", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "--cwd" in capsys.readouterr().err and not (tmp_path / "o" / "ledger.json").exists()


def test_ctrl_c_is_a_message_not_a_traceback(monkeypatch, capsys):
    import covidnb.cli.report as report_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_cli, "run_check", interrupted)
    assert main(["report", "check", "dresunet", "--out", "-"]) == 130
    assert "interrupted" in capsys.readouterr().err
