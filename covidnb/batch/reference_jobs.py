"""The reference runner's plan as submitit jobs (``python -m covidnb.chapters.reference …
--executor submitit``): :func:`run_plan_item` is one job (one configuration of the plan, trained
into the store as a worker would), :func:`run_reference_submitit` submits the unfinished part
of a selection through :func:`covidnb.batch.submit.submit_all` and reports as the runner does.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def run_plan_item(chapter: str, profile: str, i: int, root: str) -> str:
    """One submitit job: train plan position ``i`` (0-based) into ``root`` as a worker would;
    returns its state. A configuration another process is training is left to it."""
    import torch

    from covidnb.runs import RunStore

    torch.set_num_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
    os.environ.setdefault("COVIDNB_PROGRESS", "0")
    from covidnb.chapters.reference import _grid, _varying, train_item

    plan = _grid(chapter, profile)
    return train_item(chapter, plan, _varying(plan), i, RunStore(root), "[job]")


def run_reference_submitit(chapter: str, profile: str, options, root=None,
                           limit: int | None = None, items: list[int] | None = None,
                           jobs_dir=None) -> int:
    """The selection of the plan that is not done yet, one submitit job per configuration
    (``options``: a :class:`covidnb.batch.SubmitOptions`); the exit status as
    :func:`run_reference`'s."""
    from covidnb.batch.submit import cancel_all, submit_all
    from covidnb.chapters import RESULTS_ROOT
    from covidnb.chapters.reference import _grid, _label, _positions, _report, _varying, plan_status

    root = RESULTS_ROOT if root is None else root
    plan = _grid(chapter, profile)
    varying = _varying(plan)
    chosen = _positions(len(plan), limit, items)
    if Path(root).resolve() == RESULTS_ROOT.resolve():
        from covidnb.runs.provenance import require_clean_checkout

        require_clean_checkout(f"writing {chapter} reference runs into {RESULTS_ROOT}")
    state = {r["index"] - 1: r["state"] for r in plan_status(chapter, profile, root, limit, items)}
    todo = [i for i in chosen if state.get(i, "missing").split()[0] != "done"]
    for i in chosen:
        if i not in todo:
            print(f"[skipped] {i + 1}/{len(plan)} {_label(plan[i], varying)}: done earlier", flush=True)
    folder = Path(jobs_dir) if jobs_dir else (
        Path(root).resolve().parent / "_build" / "submitit" / f"{chapter}-{profile}")
    live: list = []
    stopped: list[int] = []

    def stop(signum, frame):
        stopped.append(signum)
        cancel_all(live)
        raise KeyboardInterrupt

    def done(j, result, error, job_id):
        i = todo[j]
        what = result if error is None else f"FAILED: {type(error).__name__}: {error}"
        print(f"[job {job_id}] {i + 1}/{len(plan)} {_label(plan[i], varying)}: {str(what)[:500]}",
              flush=True)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        submit_all(run_plan_item, [(chapter, profile, i, str(root)) for i in todo], folder,
                   options, done, names=[f"{i + 1}/{len(plan)} {_label(plan[i], varying)}" for i in todo],
                   submitted=live)
    except KeyboardInterrupt:
        if not stopped:
            stopped.append(signal.SIGINT)
        cancel_all(live)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _report(chapter, profile, root, limit, items, [], stopped)
