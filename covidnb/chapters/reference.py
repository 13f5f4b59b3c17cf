"""Run a chapter's reference re-run into ``results/<chapter>/`` and check that it reproduces.

``python -m covidnb.chapters.reference dresunet --profile cpu --workers 2`` runs every
(seed, model) configuration of the profile through ``run_experiment`` into the reference store.
Finished configurations are reused and an interrupted one resumes from its last epoch, so the
command can be stopped and started again at will. Workers take every ``workers``-th
configuration, each with one torch thread, so two workers use two cores without contention.

``--check N`` re-trains N stored configurations (sampled with a fixed seed) into a scratch
store and compares their metrics with the stored ones.
"""

from __future__ import annotations

import argparse
import importlib
import math
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time

from covidnb.chapters import RESULTS_ROOT


def _grid(chapter: str, profile: str) -> list[dict]:
    return importlib.import_module(f"covidnb.chapters.{chapter}").grid(profile)


def _worker(chapter: str, profile: str, index: int, workers: int, root: str) -> None:
    import torch

    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore

    torch.set_num_threads(1)
    os.environ.setdefault("COVIDNB_PROGRESS", "0")
    store = RunStore(root)
    for cfg in _grid(chapter, profile)[index::workers]:
        t0 = time.time()
        run = run_experiment(cfg, store=store, raise_on_failure=False, keep_checkpoints=False)
        print(f"[worker {index}] {cfg['model']} seed {cfg['seed']}: {run.status.get('status')} "
              f"in {time.time() - t0:.0f} s", flush=True)


def run_reference(chapter: str, profile: str, workers: int = 2, root=RESULTS_ROOT) -> None:
    procs = [mp.get_context("spawn").Process(target=_worker, args=(chapter, profile, i, workers, str(root)))
             for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


def check_reproduces(chapter: str, profile: str, n: int = 1, seed: int = 0, root=RESULTS_ROOT,
                     metrics=("accuracy", "auc", "f1")) -> list[dict]:
    """Re-train ``n`` sampled stored configurations and compare their metrics with the record."""
    import torch

    from covidnb.experiment import find_run, run_experiment
    from covidnb.runs import RunStore

    torch.set_num_threads(1)  # as the reference workers ran: the thread count changes float sums
    stored = RunStore(root)
    done = [c for c in _grid(chapter, profile) if find_run(c, stored) is not None]
    if not done:
        raise RuntimeError(f"no finished {chapter}/{profile} run in {root}")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = RunStore(tmp)
        for cfg in random.Random(seed).sample(done, min(n, len(done))):
            old, new = find_run(cfg, stored).metrics, run_experiment(cfg, store=scratch).metrics
            for m in metrics:
                same = math.isclose(old[m], new[m], rel_tol=0, abs_tol=1e-9) or (math.isnan(old[m]) and math.isnan(new[m]))
                out.append({"model": cfg["model"], "seed": cfg["seed"], "metric": m,
                            "stored": old[m], "rerun": new[m], "reproduces": same})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check", type=int, default=0, metavar="N")
    args = ap.parse_args(argv)
    if args.check:
        rows = check_reproduces(args.chapter, args.profile, args.check)
        for r in rows:
            print(r)
        return 0 if all(r["reproduces"] for r in rows) else 1
    run_reference(args.chapter, args.profile, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
