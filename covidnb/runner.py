"""Batch execution of notebooks with papermill: one parameter set, or a grid of them.

Each parameter set is injected after the notebook's cell tagged ``parameters`` (a notebook without
one is refused: papermill would inject at the top and the notebook's own defaults would silently
win) and the executed notebook is written to ``out_dir/<stem>__<slug>.ipynb``. The kernel and
the working directory are always explicit. Batch runs set ``COVIDNB_PROGRESS=0`` so progress
bars do not fill the logs.

A small ledger (``out_dir/ledger.json``, locked while written) records each set's status; a set
recorded as done whose executed notebook exists is skipped next time (``force`` re-runs it), a
failed set is recorded with its error and the batch goes on. Training results themselves live in
the run store (``covidnb.runs``), so a re-executed notebook reuses them.

Execution: in this process (``jobs=1``), in parallel subprocesses (``jobs>1``; with ``gpus`` each
job is pinned to one GPU through ``CUDA_VISIBLE_DEVICES``, never two jobs on one GPU), or on a
Slurm cluster through submitit (``executor="submitit"``).

Refused before anything runs (:class:`BatchInputError`): a parameter the notebook's
``parameters`` cell does not define (papermill would inject it and the notebook ignore it), a
notebook without that cell, an unknown kernel, a bad grid. Stopping: :func:`stop_children`
terminates every papermill subprocess (a signal handler calls it, see ``covidnb run``); each
subprocess also dies with this process (``PR_SET_PDEATHSIG`` on Linux), and an in-process
kernel polls its parent (ipykernel's ``JPY_PARENT_PID``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from covidnb.runs.atomic import atomic_write_json
from covidnb.runs.provenance import now
from covidnb.runs.store import file_lock

LEDGER = "ledger.json"


class BatchInputError(ValueError):
    """A notebook, grid file or option the batch cannot run with."""


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


@dataclass
class JobResult:
    params: dict
    slug: str
    output: str
    status: str  # done | failed | skipped
    seconds: float = 0.0
    error: str = ""
    extra: dict = field(default_factory=dict)


# -- inputs --------------------------------------------------------------------------------------
def require_parameters_cell(notebook: str | os.PathLike) -> None:
    """Raise :class:`BatchInputError` naming ``notebook`` unless a cell is tagged ``parameters``."""
    import nbformat

    path = Path(notebook)
    if not path.exists():
        raise BatchInputError(f"{path}: notebook not found")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for a broken file
        raise BatchInputError(f"{path}: not a readable notebook ({exc})") from exc
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise BatchInputError(
            f"{path}: no cell is tagged 'parameters'; tag the cell holding the defaults "
            "(papermill would otherwise inject at the top and the defaults would win)"
        )


def notebook_parameters(notebook: str | os.PathLike) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns (top-level ``name = …`` and
    ``name: type = …``), in order; raises :class:`BatchInputError` when it has no such cell or
    the cell is not valid Python."""
    import ast

    import nbformat

    require_parameters_cell(notebook)
    nb = nbformat.read(Path(notebook), as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as exc:
            raise BatchInputError(f"{notebook}: the parameters cell is not valid Python ({exc})") from exc
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id not in names:
                        names.append(n.id)
    return names


def check_parameters(notebook: str | os.PathLike, param_sets: Sequence[dict]) -> None:
    """Raise :class:`BatchInputError` naming every parameter of ``param_sets`` that the
    notebook's ``parameters`` cell does not define (a misspelt name would be injected, ignored
    by the notebook, and the run recorded as if it had applied)."""
    known = notebook_parameters(notebook)
    unknown = sorted({k for s in param_sets for k in s if k not in known})
    if unknown:
        raise BatchInputError(
            f"{notebook}: unknown parameter(s) {', '.join(repr(u) for u in unknown)}; its "
            f"parameters cell defines: {', '.join(known) or '(nothing)'}"
        )


def require_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        ksm.get_kernel_spec(kernel)
    except NoSuchKernel:
        known = ", ".join(sorted(ksm.find_kernel_specs())) or "(none)"
        raise BatchInputError(
            f"no Jupyter kernel named {kernel!r}; installed: {known} "
            f"(install one: python -m ipykernel install --sys-prefix --name {kernel})"
        ) from None


def expand_grid(spec: Any, where: str = "grid") -> list[dict]:
    """Parameter sets from a grid: a mapping whose list values are crossed (scalars are fixed), or
    a list of mappings taken as they are."""
    if isinstance(spec, dict):
        keys = list(spec)
        for k in keys:
            if not isinstance(k, str):
                raise BatchInputError(f"{where}: parameter names must be strings, got {k!r}")
        values = [v if isinstance(v, list) else [v] for v in spec.values()]
        if any(len(v) == 0 for v in values):
            empty = [k for k, v in zip(keys, values) if not v]
            raise BatchInputError(f"{where}: empty list for {empty}")
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    if isinstance(spec, list):
        bad = [i for i, s in enumerate(spec) if not isinstance(s, dict)]
        if bad:
            raise BatchInputError(f"{where}: entries {bad} are not mappings of parameter → value")
        return [dict(s) for s in spec]
    raise BatchInputError(
        f"{where}: expected a mapping of lists or a list of mappings, got {type(spec).__name__}"
    )


def load_grid(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BatchInputError(f"{path}: grid file not found") from None
    except yaml.YAMLError as exc:
        raise BatchInputError(f"{path}: not valid YAML ({exc})") from exc
    return expand_grid(spec, str(path))


def param_slug(params: dict) -> str:
    """A readable, file-safe name for a parameter set, unique through a short hash."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[
        :8
    ]
    text = "_".join(f"{k}-{v}" for k, v in sorted(params.items())) or "default"
    text = re.sub(r"[^A-Za-z0-9._=-]+", "", text.replace(" ", ""))[:60]
    return f"{text}-{digest}"


# -- the ledger ----------------------------------------------------------------------------------
class Ledger:
    """``out_dir/ledger.json``: slug → ``{params, status, output, seconds, error, finished}``."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LEDGER

    def read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise BatchInputError(
                f"{self.path}: corrupt ledger ({exc}); delete it to start over"
            ) from exc

    def record(self, result: JobResult) -> None:
        with file_lock(self.path.with_name(LEDGER + ".lock")):
            data = self.read()
            data[result.slug] = {
                "params": result.params,
                "status": result.status,
                "output": result.output,
                "seconds": round(result.seconds, 2),
                "error": result.error,
                "finished": now(),
            }
            atomic_write_json(self.path, data)

    def is_done(self, slug: str, output: Path) -> bool:
        return self.read().get(slug, {}).get("status") == "done" and output.exists()


# -- execution -----------------------------------------------------------------------------------
# What an executed notebook's kernel sees. Progress bars are for a terminal; in a stored notebook
# they are noise. The inline backend is what puts figures into the outputs: a kernel started
# with MPLBACKEND=Agg (as headless CI sets it) draws them and shows nothing.
KERNEL_ENV = {"COVIDNB_PROGRESS": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def kernel_env() -> AbstractContextManager[None]:
    """The environment of :data:`KERNEL_ENV` for the kernels started inside the ``with``."""
    return _env(**KERNEL_ENV)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _error_text(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:  # papermill's PapermillExecutionError
        return f"{ename}: {getattr(exc, 'evalue', '')} (cell {getattr(exc, 'exec_count', '?')})"[
            :2000
        ]
    return f"{type(exc).__name__}: {exc}"[:2000]


def execute_notebook(
    notebook: str, output: str, params: dict, kernel: str, cwd: str, log_output: bool = False
) -> JobResult:
    """Execute one parameter set in this process (the kernel is still a separate process)."""
    import papermill as pm

    t0 = time.perf_counter()
    slug = Path(output).stem.split("__", 1)[-1]
    try:
        with kernel_env():
            pm.execute_notebook(
                notebook,
                output,
                parameters=params,
                kernel_name=kernel,
                cwd=cwd,
                progress_bar=False,
                log_output=log_output,
                request_save_on_cell_execute=True,
            )
    except Exception as exc:  # noqa: BLE001 - any failure of one set is recorded and the batch goes on
        return JobResult(params, slug, output, "failed", time.perf_counter() - t0, _error_text(exc))
    return JobResult(params, slug, output, "done", time.perf_counter() - t0)


def _execute_subprocess(
    notebook: str, output: str, params: dict, kernel: str, cwd: str, gpu: str | None
) -> JobResult:
    """Execute one parameter set through the papermill CLI, optionally pinned to one GPU."""
    t0 = time.perf_counter()
    slug = Path(output).stem.split("__", 1)[-1]
    env = dict(os.environ, COVIDNB_PROGRESS="0")
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if _STOPPING.is_set():
        return JobResult(params, slug, output, "failed", 0.0, "not started: the batch was stopped")
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
    dt = time.perf_counter() - t0
    if popen.returncode != 0:
        if popen.returncode < 0:
            sig = signal.Signals(-popen.returncode).name
            return JobResult(params, slug, output, "failed", dt,
                             f"papermill stopped by {sig}", {"gpu": gpu})
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        err = next(
            (ln for ln in reversed(lines) if re.match(r"^\w+(Error|Exception|Interrupt)\b", ln)),
            lines[-1] if lines else f"papermill exited with {popen.returncode}",
        )
        return JobResult(params, slug, output, "failed", dt, err[:2000], {"gpu": gpu})
    return JobResult(params, slug, output, "done", dt, extra={"gpu": gpu})


def run_batch(
    notebook: str | os.PathLike,
    param_sets: Sequence[dict],
    out_dir: str | os.PathLike,
    *,
    kernel: str = "python3",
    cwd: str | os.PathLike | None = None,
    jobs: int = 1,
    gpus: Sequence[str] | None = None,
    force: bool = False,
    executor: str = "local",
    slurm: dict | None = None,
    log_output: bool = False,
    log: Callable[[str], None] = print,
) -> list[JobResult]:
    """Execute ``notebook`` once per parameter set; returns one :class:`JobResult` per set, in order."""
    nb = Path(notebook).resolve()
    require_parameters_cell(nb)
    check_parameters(nb, param_sets)
    require_kernel(kernel)
    if executor not in ("local", "submitit"):
        raise BatchInputError(f"unknown executor {executor!r}; use 'local' or 'submitit'")
    if jobs < 1:
        raise BatchInputError(f"jobs must be >= 1, got {jobs}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if cwd is not None and not Path(cwd).is_dir():
        raise BatchInputError(f"--cwd {cwd}: not an existing folder")
    workdir = str(Path(cwd).resolve() if cwd is not None else nb.parent)
    ledger = Ledger(out)
    results: dict[int, JobResult] = {}
    todo: list[tuple[int, dict, Path]] = []
    for i, params in enumerate(param_sets):
        slug = param_slug(params)
        target = out / f"{nb.stem}__{slug}.ipynb"
        if not force and ledger.is_done(slug, target):
            results[i] = JobResult(params, slug, str(target), "skipped")
            log(f"[skipped]  {target.name} (done earlier)")
        else:
            todo.append((i, params, target))

    def finish(i: int, res: JobResult) -> None:
        results[i] = res
        ledger.record(res)
        tag = "[done]   " if res.status == "done" else "[FAILED] "
        log(
            f"{tag} {Path(res.output).name}  {res.seconds:.0f} s"
            + (f"  {res.error}" if res.error else "")
        )

    if executor == "submitit":
        _run_submitit(nb, todo, out, kernel, workdir, slurm or {}, finish, log)
    elif jobs == 1 and not gpus:
        for i, params, target in todo:
            log(f"[running]  {target.name}")
            finish(i, execute_notebook(str(nb), str(target), params, kernel, workdir, log_output))
    else:
        slots: queue.Queue = queue.Queue()
        for s in list(gpus) if gpus else [None] * jobs:
            slots.put(s)
        workers = len(gpus) if gpus else jobs

        def one(item):
            i, params, target = item
            slot = slots.get()
            try:
                log(f"[running]  {target.name}" + (f" on GPU {slot}" if slot is not None else ""))
                return i, _execute_subprocess(str(nb), str(target), params, kernel, workdir, slot)
            except Exception as exc:  # noqa: BLE001 — a set that could not even start is a failure
                return i, JobResult(params, param_slug(params), str(target), "failed", 0.0,
                                    _error_text(exc))
            finally:
                slots.put(slot)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, res in pool.map(one, todo):
                finish(i, res)
    return [results[i] for i in range(len(param_sets))]


def _run_submitit(
    nb: Path, todo, out: Path, kernel: str, workdir: str, slurm: dict, finish, log
) -> None:
    try:
        import submitit
    except ImportError:
        raise BatchInputError(
            "--executor submitit needs the submitit package: pip install 'covidnb[batch]'"
        ) from None
    ex = submitit.AutoExecutor(folder=str(out / "submitit"))
    if slurm:
        ex.update_parameters(**slurm)
    submitted = []
    for i, params, target in todo:
        job = ex.submit(execute_notebook, str(nb), str(target), params, kernel, workdir)
        log(f"[submitted] {target.name} as job {job.job_id}")
        submitted.append((i, params, target, job))
    for i, params, target, job in submitted:
        try:
            res = job.result()
        except Exception as exc:  # noqa: BLE001 - the job itself died (pre-emption, time limit)
            res = JobResult(
                params, param_slug(params), str(target), "failed", 0.0, _error_text(exc)
            )
        finish(i, res)


def summary_table(results: Sequence[JobResult]):
    """One row per parameter set: the parameters, status, seconds, executed notebook, error."""
    import pandas as pd

    rows = [
        {
            **r.params,
            "status": r.status,
            "seconds": round(r.seconds, 1),
            "output": Path(r.output).name,
            "error": r.error,
        }
        for r in results
    ]
    return pd.DataFrame(rows)
