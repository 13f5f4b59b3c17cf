"""Submitting many independent jobs through submitit: to Slurm, or as local processes.

Both ``covidnb run --executor submitit`` (one papermill execution per grid entry) and the
reference runner (``python -m covidnb.chapters.reference --executor submitit``, one
configuration of the plan per job) hand their work to :func:`submit_all`. It keeps one job per
item and reports each as it finishes, so a failing item is recorded and the others go on.

The options of a cluster run are :class:`SubmitOptions`, mapped to submitit's parameters by
:func:`executor_parameters`: ``partition`` → ``slurm_partition``, ``time`` (Slurm's
``MM``, ``HH:MM:SS`` or ``D-HH:MM:SS``) → ``timeout_min``, ``gpus_per_job`` →
``gpus_per_node`` (with ``nodes=1, tasks_per_node=1``: a job is one process on one node, so
Slurm's GPU allocation gives every job its own GPUs and never puts two jobs on one),
``array_parallelism`` → ``slurm_array_parallelism`` (how many jobs of the array run at once),
``cpus_per_job`` → ``cpus_per_task``, ``mem_gb`` → ``mem_gb``; ``extra`` passes any other
submitit parameter as it is (e.g. ``slurm_account``).

Clusters: ``slurm`` submits one job array (``executor.batch()``); ``local`` runs every job as a
real process on this machine through submitit's ``LocalExecutor`` (job folders, pickled results
and logs exactly as on Slurm, which is what the tests use); ``debug`` runs them in this process;
``None`` lets submitit choose (Slurm where ``sbatch`` exists, else local). The local executor
has no scheduler, so :func:`submit_all` keeps at most ``array_parallelism`` jobs running (default
1) and, with ``gpus_per_job``, hands each job its own GPUs from ``gpus`` (default: every visible
GPU), so at most ``len(gpus) // gpus_per_job`` run at once, never two on one GPU.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLUSTERS = (None, "slurm", "local", "debug")
# The local executor's own default time limit is 2 minutes; a notebook or a training run is
# longer. Without --time a local job may take a week.
LOCAL_DEFAULT_TIMEOUT_MIN = 7 * 24 * 60


class SubmitError(ValueError):
    """Options submitit cannot run with (named), or submitit missing."""


@dataclass
class SubmitOptions:
    """How the jobs of one batch are submitted (module docstring: what maps to what)."""

    cluster: str | None = None
    partition: str | None = None
    time: str | int | None = None
    gpus_per_job: int = 0
    array_parallelism: int | None = None
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    gpus: Sequence[int] | None = None  # local cluster only: the GPU ids jobs may use
    poll_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise SubmitError(f"cluster must be one of slurm, local, debug; got {self.cluster!r}")
        if int(self.gpus_per_job) < 0:
            raise SubmitError(f"gpus per job must be >= 0, got {self.gpus_per_job}")
        if self.array_parallelism is not None and int(self.array_parallelism) < 1:
            raise SubmitError(f"array parallelism must be >= 1, got {self.array_parallelism}")
        if self.time is not None:
            parse_time(self.time)


def parse_time(text: str | int) -> int:
    """Slurm's ``--time`` formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``,
    ``D-HH:MM:SS``) → whole minutes (rounded up; submitit's ``timeout_min``)."""
    if isinstance(text, int):
        if text < 1:
            raise SubmitError(f"time must be at least 1 minute, got {text}")
        return text
    s = str(text).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", s)
    if not m:
        raise SubmitError(f"time {text!r}: use minutes or Slurm's [D-]HH:MM:SS")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # MM:SS
        seconds = int(a) * 60 + int(b)
    else:  # MM
        seconds = int(a) * 60
    if seconds < 1:
        raise SubmitError(f"time {text!r} is zero")
    return -(-seconds // 60)


def executor_parameters(opts: SubmitOptions) -> dict[str, Any]:
    """submitit ``update_parameters`` keywords for ``opts`` (module docstring)."""
    p: dict[str, Any] = {"nodes": 1, "tasks_per_node": 1}
    if opts.time is not None:
        p["timeout_min"] = parse_time(opts.time)
    if opts.gpus_per_job:
        p["gpus_per_node"] = int(opts.gpus_per_job)
    if opts.cpus_per_job:
        p["cpus_per_task"] = int(opts.cpus_per_job)
    if opts.mem_gb:
        p["mem_gb"] = float(opts.mem_gb)
    if opts.partition:
        p["slurm_partition"] = str(opts.partition)
    if opts.array_parallelism:
        p["slurm_array_parallelism"] = int(opts.array_parallelism)
    p.update(opts.extra)
    return p


def _submitit():
    try:
        import submitit
    except ImportError:
        raise SubmitError(
            "--executor submitit needs the submitit package: pip install 'covidnb[batch]'"
        ) from None
    return submitit


def make_executor(folder: str | os.PathLike, opts: SubmitOptions):
    """The submitit executor for ``opts``: ``LocalExecutor`` for ``local`` (it takes the
    per-job ``visible_gpus`` that ``AutoExecutor`` does not pass on), ``AutoExecutor`` else."""
    submitit = _submitit()
    params = executor_parameters(opts)
    cluster = opts.cluster
    if cluster is None:
        cluster = submitit.AutoExecutor(folder=str(folder)).cluster
    if cluster == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        local = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        local.setdefault("timeout_min", LOCAL_DEFAULT_TIMEOUT_MIN)
        try:
            ex.update_parameters(**local)
        except (ValueError, TypeError) as exc:
            raise SubmitError(f"local executor: {exc}") from None
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    try:
        ex.update_parameters(**params)
    except (NameError, ValueError, TypeError, AssertionError) as exc:
        raise SubmitError(f"submitit ({cluster}): {exc}") from None
    return ex


def _gpu_slots(opts: SubmitOptions) -> list[tuple[int, ...]] | None:
    """Disjoint groups of ``gpus_per_job`` GPU ids for local jobs (None: no GPUs asked)."""
    if not opts.gpus_per_job:
        return None
    if opts.gpus is not None:
        ids = [int(g) for g in opts.gpus]
    elif os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        # the local executor sets each job's CUDA_VISIBLE_DEVICES to its ids as they are, so
        # they must be the physical ids this process was given, not indices into them
        listed = [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
        if not all(g.isdigit() for g in listed):
            raise SubmitError(f"CUDA_VISIBLE_DEVICES={','.join(listed)}: give --gpus as numbers")
        ids = [int(g) for g in listed]
    else:
        import torch

        ids = list(range(torch.cuda.device_count()))
    k = int(opts.gpus_per_job)
    slots = [tuple(ids[i : i + k]) for i in range(0, len(ids) - k + 1, k)]
    if not slots:
        raise SubmitError(f"{k} GPU(s) per job asked, but only GPUs {ids} are visible here")
    return slots


def submit_all(
    fn: Callable,
    arguments: Sequence[tuple],
    folder: str | os.PathLike,
    opts: SubmitOptions,
    on_done: Callable[[int, Any, BaseException | None, str], None],
    log: Callable[[str], None] = print,
    names: Sequence[str] | None = None,
    submitted: list | None = None,
) -> None:
    """Run ``fn(*arguments[i])`` as one job per item; ``on_done(i, result, error, job_id)`` is
    called as each finishes (``error`` set when the job itself failed: an exception in ``fn``,
    a time limit, a killed process). ``submitted`` (if given) collects the live job objects, so
    a signal handler can cancel them (:func:`cancel_all`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ex = make_executor(folder, opts)
    names = list(names) if names is not None else [str(i) for i in range(len(arguments))]
    live = submitted if submitted is not None else []
    cluster = getattr(ex, "cluster", None) or ("local" if type(ex).__name__ == "LocalExecutor"
                                               else None)
    poll = opts.poll_s if opts.poll_s is not None else (15.0 if cluster == "slurm" else 0.5)
    if cluster == "slurm":
        with ex.batch():  # one job array; Slurm runs array_parallelism of it at once
            jobs = [ex.submit(fn, *a) for a in arguments]
        live.extend(jobs)
        for i, job in enumerate(jobs):
            log(f"[submitted] {names[i]} as job {job.job_id}")
        _wait(dict(enumerate(jobs)), on_done, poll)
        return
    if cluster == "debug":
        for i, a in enumerate(arguments):
            job = ex.submit(fn, *a)
            log(f"[submitted] {names[i]} as job {job.job_id}")
            _wait({i: job}, on_done, 0.0)
        return
    # local: at most `parallel` processes, each with its own GPUs
    slots = _gpu_slots(opts)
    parallel = int(opts.array_parallelism or 1)
    free: list[tuple[int, ...] | None] = list(slots) if slots else [None] * parallel
    free = free[:parallel] if opts.array_parallelism else free
    pending = list(enumerate(arguments))
    running: dict[int, Any] = {}
    holding: dict[int, tuple[int, ...] | None] = {}
    while pending or running:
        while pending and free:
            i, a = pending.pop(0)
            slot = free.pop(0)
            if slot is not None:
                ex.update_parameters(visible_gpus=slot, gpus_per_node=len(slot))
            job = ex.submit(fn, *a)
            live.append(job)
            running[i], holding[i] = job, slot
            log(f"[submitted] {names[i]} as job {job.job_id}"
                + (f" on GPU {','.join(map(str, slot))}" if slot is not None else ""))
        finished = _wait(running, on_done, poll, first_only=True)
        for i in finished:
            running.pop(i)
            free.append(holding.pop(i))


def _wait(jobs: dict[int, Any], on_done, poll: float, first_only: bool = False) -> list[int]:
    """Report jobs as they finish; with ``first_only`` return as soon as at least one has."""
    left = dict(jobs)
    finished: list[int] = []
    while left:
        for i, job in list(left.items()):
            if not job.done():
                continue
            left.pop(i)
            finished.append(i)
            try:
                result, error = job.result(), None
            except Exception as exc:  # noqa: BLE001 — the job died; its item is recorded as failed
                result, error = None, exc
            on_done(i, result, error, str(job.job_id))
        if finished and first_only:
            return finished
        if left:
            time.sleep(poll)
    return finished


def cancel_all(jobs: Sequence) -> int:
    """Cancel every job of ``jobs`` still running (``scancel`` on Slurm, a kill locally)."""
    n = 0
    for job in jobs:
        try:
            if not job.done():
                job.cancel(check=False)
                n += 1
        except Exception:  # noqa: BLE001, S110 — best effort while stopping
            pass
    return n
