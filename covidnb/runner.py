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

This module holds the ledger, the execution of one set and of a batch, and the summary table.
The checks before a batch runs live in :mod:`covidnb.runner_inputs` and the papermill child
processes in :mod:`covidnb.runner_children`; their public names are re-exported here.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from covidnb.runner_children import BatchInterrupted, run_papermill, stop_children, stopping
from covidnb.runner_inputs import (
    BatchInputError,
    check_parameters,
    expand_grid,
    load_grid,
    notebook_parameters,
    param_slug,
    require_kernel,
    require_parameters_cell,
)
from covidnb.runs.atomic import atomic_write_json
from covidnb.runs.provenance import now
from covidnb.runs.store import file_lock

__all__ = [
    "KERNEL_ENV",
    "LEDGER",
    "BatchInputError",
    "BatchInterrupted",
    "JobResult",
    "Ledger",
    "cancel_submitted",
    "check_parameters",
    "execute_notebook",
    "expand_grid",
    "kernel_env",
    "load_grid",
    "notebook_parameters",
    "param_slug",
    "require_kernel",
    "require_parameters_cell",
    "run_batch",
    "run_notebook_job",
    "stop_children",
    "summary_table",
]

LEDGER = "ledger.json"


@dataclass
class JobResult:
    params: dict
    slug: str
    output: str
    status: str  # done | failed | skipped
    seconds: float = 0.0
    error: str = ""
    extra: dict = field(default_factory=dict)



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
                **({"job": result.extra["job"]} if result.extra.get("job") else {}),
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
    if stopping():
        return JobResult(params, slug, output, "failed", 0.0, "not started: the batch was stopped")
    returncode, stderr = run_papermill(notebook, output, params, kernel, cwd, env)
    dt = time.perf_counter() - t0
    if returncode != 0:
        if returncode < 0:
            sig = signal.Signals(-returncode).name
            return JobResult(params, slug, output, "failed", dt,
                             f"papermill stopped by {sig}", {"gpu": gpu})
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        err = next(
            (ln for ln in reversed(lines) if re.match(r"^\w+(Error|Exception|Interrupt)\b", ln)),
            lines[-1] if lines else f"papermill exited with {returncode}",
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
    submit=None,
    log_output: bool = False,
    log: Callable[[str], None] = print,
) -> list[JobResult]:
    """Execute ``notebook`` once per parameter set; returns one :class:`JobResult` per set, in order.

    ``executor="submitit"`` submits one job per set with ``submit`` (a
    :class:`covidnb.batch.SubmitOptions`: cluster, partition, time, GPUs per job, array
    parallelism) and ``slurm`` (any other submitit parameter, as it is); each job records its set
    in the ledger itself, and the job folders (logs, pickled results) are ``out_dir/submitit``."""
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
        _run_submitit(nb, todo, out, kernel, workdir, slurm or {}, finish, log, submit)
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


def run_notebook_job(notebook: str, output: str, params: dict, kernel: str, cwd: str,
                     out_dir: str) -> JobResult:
    """One submitit job: execute one parameter set and record it in the ledger from inside the
    job, so a set that finishes after its batch was killed is still skipped by the next one."""
    res = execute_notebook(notebook, output, params, kernel, cwd)
    res.extra["job"] = os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_JOB_ID", "")
    Ledger(Path(out_dir)).record(res)
    return res


def _run_submitit(
    nb: Path, todo, out: Path, kernel: str, workdir: str, slurm: dict, finish, log,
    submit=None,
) -> None:
    from covidnb.batch.submit import SubmitError, SubmitOptions, submit_all

    try:
        opts = submit if submit is not None else SubmitOptions()
        if slurm:
            opts = SubmitOptions(**{**opts.__dict__, "extra": {**opts.extra, **slurm}})
    except SubmitError as exc:
        raise BatchInputError(str(exc)) from None
    args = [(str(nb), str(target), params, kernel, workdir, str(out)) for _, params, target in todo]

    def done(j: int, res, error, job_id: str) -> None:
        i, params, target = todo[j]
        if error is not None or not isinstance(res, JobResult):
            # the job itself died (time limit, pre-emption, a kill): nothing recorded it yet
            res = JobResult(params, param_slug(params), str(target), "failed", 0.0,
                            _error_text(error) if error is not None else f"job returned {res!r}")
        res.extra["job"] = job_id
        finish(i, res)

    try:
        submit_all(run_notebook_job, args, out / "submitit", opts, done, log,
                   names=[target.name for _, _, target in todo], submitted=_SUBMITTED)
    except SubmitError as exc:
        raise BatchInputError(str(exc)) from None


# Live submitit jobs of this process, so `covidnb run`'s signal handler can cancel them.
_SUBMITTED: list = []


def cancel_submitted() -> int:
    """Cancel every submitit job this process submitted that still runs; returns how many."""
    from covidnb.batch.submit import cancel_all

    n = cancel_all(_SUBMITTED)
    _SUBMITTED.clear()
    return n


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
