"""The papermill child processes of a batch: started so they die with it, stopped on a signal.

:func:`run_papermill` runs papermill's CLI in a child process that gets ``SIGTERM`` when its
parent dies (``PR_SET_PDEATHSIG`` on Linux, set in the child itself) and is registered while it
runs, so :func:`stop_children` (called by the signal handler of ``covidnb run``) can terminate
every one of them; after it, :func:`stopping` is true and no new child is started.
:class:`BatchInterrupted` is what that handler raises.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import yaml


class BatchInterrupted(BaseException):  # like KeyboardInterrupt: not an error of one set
    """The batch was stopped by a signal; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


_CHILDREN: set[subprocess.Popen] = set()
_CHILDREN_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_children() -> None:
    """Terminate every papermill subprocess this process started, and start no new one."""
    _STOPPING.set()
    with _CHILDREN_LOCK:
        for proc in list(_CHILDREN):
            if proc.poll() is None:
                proc.terminate()


def stopping() -> bool:
    """Whether :func:`stop_children` was called (then no new child may start)."""
    return _STOPPING.is_set()


# Runs papermill's CLI in a child that dies with its parent: on Linux PR_SET_PDEATHSIG, set in
# the child itself (a preexec_fn is unsafe in a threaded parent).
_PAPERMILL_MAIN = (
    "import sys, runpy\n"
    "if sys.platform.startswith('linux'):\n"
    "    try:\n"
    "        import ctypes, signal\n"
    "        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)\n"
    "    except Exception:\n"
    "        pass\n"
    "sys.argv = ['papermill'] + sys.argv[1:]\n"
    "runpy.run_module('papermill', run_name='__main__', alter_sys=True)\n"
)


def run_papermill(
    notebook: str, output: str, params: dict, kernel: str, cwd: str, env: dict
) -> tuple[int, str]:
    """Execute one parameter set through papermill's CLI in a registered child process; returns
    its exit status (negative: the signal that stopped it) and its stderr."""
    cmd = [
        sys.executable,
        "-c",
        _PAPERMILL_MAIN,
        notebook,
        output,
        "-k",
        kernel,
        "--cwd",
        cwd,
        "--no-progress-bar",
        "-y",
        yaml.safe_dump(params, default_flow_style=True),
    ]
    popen = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _CHILDREN_LOCK:
        _CHILDREN.add(popen)
    try:
        _, stderr = popen.communicate()
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(popen)
    return popen.returncode, stderr
