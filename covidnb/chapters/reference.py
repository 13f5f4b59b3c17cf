"""Run a chapter's reference re-run into ``results/<chapter>/`` and check that it reproduces.

``python -m covidnb.chapters.reference dresunet --profile cpu --workers 2`` runs the chapter's
reference plan through ``run_experiment`` into the reference store: ``reference_grid(profile)``
when the chapter module defines one (an ordered plan, most important tables first), else every
configuration of ``grid(profile)``. Finished configurations are reused and an interrupted one
resumes from its last epoch, so the command can be stopped and started again at will. Workers
take the next configuration from one shared counter, each with one torch thread, so two workers
use two cores without contention and neither idles while the other has a long queue. A
configuration another process is training (its run lock is held) is skipped, so two
invocations can share a plan; run the command again afterwards to pick up anything skipped.
``--list`` prints the plan with each configuration's state in the store; ``--limit N`` stops
after the first N configurations of the plan, and ``--items 26-29,31`` runs (or lists) only
those positions of it (as ``--list`` numbers them).

A chapter may also define ``reference_cams(config)``, returning the keyword arguments of
:func:`covidnb.cam.save_run_cams` for the configurations whose Grad-CAMs its book shows (else
``None``): those runs keep their checkpoint until the CAMs are stored beside their predictions
(``cams.npz``), then drop it like every other reference run, so the gallery is drawn from the
committed record.

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
import signal
import sys
import tempfile
import time
from pathlib import Path

from covidnb.chapters import RESULTS_ROOT


def _grid(chapter: str, profile: str, limit: int | None = None) -> list[dict]:
    mod = importlib.import_module(f"covidnb.chapters.{chapter}")
    plan = getattr(mod, "reference_grid", mod.grid)(profile)
    return plan if limit is None else plan[:limit]


def parse_items(text: str) -> list[int]:
    """``"26-29,31"`` → ``[26, 27, 28, 29, 31]``: 1-based plan positions, as ``--list`` prints."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, dash, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi if dash else lo)
        except ValueError:
            raise ValueError(f"--items: {part!r} is not a position or a range like 26-29") from None
        if a < 1 or b < a:
            raise ValueError(f"--items: {part!r} is not a range of positions ≥ 1")
        out += [i for i in range(a, b + 1) if i not in out]
    return out


def _positions(n: int, limit: int | None = None, items: list[int] | None = None) -> list[int]:
    """0-based positions of the plan (of ``n`` configurations) that a command covers."""
    chosen = range(n if limit is None else min(limit, n))
    if items is not None:
        beyond = [i for i in items if i > n]
        if beyond:
            raise ValueError(f"--items: the plan has {n} configurations, not {beyond}")
        chosen = [i - 1 for i in items if i - 1 in chosen]
    return list(chosen)


def _label(cfg: dict) -> str:
    """What a plan line shows: model, seed, and the loss and subsample where the config has them."""
    extra = {k: cfg[k] for k in ("loss", "subsample") if cfg.get(k)}
    return f"{cfg['model']} seed {cfg['seed']}" + (f" {extra}" if extra else "")


def _cam_spec(chapter: str, cfg: dict) -> dict | None:
    hook = getattr(importlib.import_module(f"covidnb.chapters.{chapter}"), "reference_cams", None)
    return None if hook is None else hook(cfg)


def _store_cams(run, spec: dict, tag: str) -> None:
    """CAMs of a just-finished run, then its checkpoints go (a reference run keeps none)."""
    import shutil

    from covidnb.cam import CAMS_FILE, save_run_cams

    if not run.done:  # a failed run keeps its checkpoints to resume from
        return
    try:
        if not (run.path / CAMS_FILE).exists():
            if (run.checkpoint_dir / "best.pt").exists():
                save_run_cams(run, **spec)
            else:
                print(f"{tag}: no checkpoint left to compute its CAMs from", flush=True)
    except Exception as exc:  # noqa: BLE001 — the run itself is fine: report it, go on with the plan
        print(f"{tag}: CAMs not stored: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)


def _worker(chapter: str, profile: str, index: int, counter, root: str, limit: int | None,
            items: list[int] | None = None) -> None:
    import torch

    from covidnb.experiment import run_experiment
    from covidnb.runs import RunStore
    from covidnb.runs.store import LockTimeout

    torch.set_num_threads(1)
    os.environ.setdefault("COVIDNB_PROGRESS", "0")
    store = RunStore(root)
    plan = _grid(chapter, profile)
    positions = _positions(len(plan), limit, items)
    while True:
        with counter.get_lock():
            j = counter.value
            counter.value += 1
        if j >= len(positions):
            return
        i = positions[j]
        cfg = plan[i]
        tag = f"[worker {index}] {i + 1}/{len(plan)} {_label(cfg)}"
        spec = _cam_spec(chapter, cfg)
        t0 = time.time()
        try:
            # Another invocation (a second command, or a notebook) may be training this one:
            # leave it to that process rather than wait for it.
            run = run_experiment(cfg, store=store, raise_on_failure=False,
                                 keep_checkpoints=spec is not None, lock_timeout=0)
        except LockTimeout:
            print(f"{tag}: skipped, another process is training it", flush=True)
            continue
        if spec is not None:
            _store_cams(run, spec, tag)
        print(f"{tag}: {run.status.get('status')} in {time.time() - t0:.0f} s", flush=True)


def run_reference(chapter: str, profile: str, workers: int = 2, root=RESULTS_ROOT,
                  limit: int | None = None, items: list[int] | None = None) -> None:
    _positions(len(_grid(chapter, profile)), limit, items)  # a bad selection fails here, not in a worker
    if Path(root).resolve() == RESULTS_ROOT.resolve():
        # committed records must name code that exists: refuse uncommitted changes up front
        from covidnb.runs.provenance import require_clean_checkout

        require_clean_checkout(f"writing {chapter} reference runs into {RESULTS_ROOT}")
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    procs = [ctx.Process(target=_worker, args=(chapter, profile, i, counter, str(root), limit, items))
             for i in range(workers)]
    for p in procs:
        p.start()

    def stop(signum, frame):  # `kill <pid>` must not leave the workers training on, orphaned
        for p in procs:
            p.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for p in procs:
            p.join()
    finally:
        signal.signal(signal.SIGTERM, previous)


def plan_status(chapter: str, profile: str, root=RESULTS_ROOT, limit: int | None = None,
                items: list[int] | None = None) -> list[dict]:
    """Each configuration of the reference plan with its state in the store (``done``,
    ``failed``, ``running``/interrupted, or ``missing``); a record made on the synthetic
    fallback data is listed with `` (synthetic)`` after its state, since it is no reference."""
    from covidnb.experiment import find_run
    from covidnb.runs import RunStore

    store = RunStore(root)
    out = []
    plan = _grid(chapter, profile)
    for i in _positions(len(plan), limit, items):
        cfg = plan[i]
        run, tag = find_run(cfg, store, finished_only=False), ""
        if run is None:
            run, tag = find_run(cfg, store, synthetic=True, finished_only=False), " (synthetic)"
        out.append({"index": i + 1, "run": _label(cfg),
                    "state": "missing" if run is None else run.status.get("status", "?") + tag,
                    "key": None if run is None else run.path.name})
    return out


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


def _items_arg(text: str) -> list[int]:
    try:
        return parse_items(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check", type=int, default=0, metavar="N")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="only the first N configurations of the plan")
    ap.add_argument("--items", type=_items_arg, default=None, metavar="LIST",
                    help="only these plan positions, e.g. 26-29,31 (as --list numbers them)")
    ap.add_argument("--list", action="store_true", help="print the plan and each run's state")
    args = ap.parse_args(argv)
    if args.list:
        for r in plan_status(args.chapter, args.profile, limit=args.limit, items=args.items):
            print(f"{r['index']:3d}  {r['state']:8s}  {r['key'] or '-':12s}  {r['run']}")
        return 0
    if args.check:
        rows = check_reproduces(args.chapter, args.profile, args.check)
        for r in rows:
            print(r)
        return 0 if all(r["reproduces"] for r in rows) else 1
    run_reference(args.chapter, args.profile, args.workers, limit=args.limit, items=args.items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
