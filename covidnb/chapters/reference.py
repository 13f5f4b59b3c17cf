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
store and compares their metrics with the stored ones. ``--root DIR`` uses another store than
``results/`` (e.g. a copy).

Exit status: 0 when every configuration the command covers is done; 1 when any is not (failed,
skipped because another process trains it, dropped by a worker that died, or an unreadable
record), each listed with its state and reason; 143 after SIGTERM and 130 after Ctrl-C, with the
unfinished ones listed. ``kill <pid>`` stops the workers (they resume on the next start), and a
worker stops by itself when the command dies without a chance to stop it (SIGKILL): it checks
its parent (``prctl(PR_SET_PDEATHSIG)`` on Linux, and a poll of the parent pid everywhere).
``--list`` names each unreadable record (its file and why) and still lists the rest.

``--executor submitit`` submits the same selection as one job per configuration instead of local
workers (``covidnb.batch.submit``): ``--cluster slurm`` (one job array), ``local`` (real
processes on this machine) or ``debug``, with ``--partition``, ``--time``, ``--gpus-per-job``,
``--array-parallelism``, ``--cpus-per-job`` and ``--mem-gb``; job logs go to
``<root>/../_build/submitit/<chapter>-<profile>`` (``--jobs-dir`` to choose). A job writes its
run into the store as a worker would, so the store is the record of what is done: run the
command again to resume, and the exit status is the one described above.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from covidnb.batch.reference_jobs import run_plan_item, run_reference_submitit  # noqa: F401
from covidnb.chapters import RESULTS_ROOT


def _grid(chapter: str, profile: str, limit: int | None = None) -> list[dict]:
    """The chapter's reference plan (its declared ``reference_grid``, else its whole grid)."""
    from covidnb.chapters.registry import get_chapter

    plan = get_chapter(chapter).reference_plan(profile)
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


def _label(cfg: dict, varying: tuple[str, ...] = ()) -> str:
    """What a plan line shows: model, seed, the loss and subsample where the config has them, and
    the ``varying`` settings (those that tell plan entries apart: a fold, a sampler, an audit's
    view, an ablation's input size), so that no two lines of a plan read the same."""
    extra = {k: cfg[k] for k in ("loss", "subsample") if cfg.get(k)}
    kw = cfg.get("dataset_kwargs") or {}
    extra.update({k: kw[k] for k in varying if k in kw})
    extra.update({k: cfg[k] for k in varying if k in TOP_LEVEL_VARYING and k in cfg})
    return f"{cfg['model']} seed {cfg['seed']}" + (f" {extra}" if extra else "")


TOP_LEVEL_VARYING = ("image_size",)  # configuration keys outside dataset_kwargs a plan may vary


def _varying(plan: list[dict]) -> tuple[str, ...]:
    """The dataset settings (and :data:`TOP_LEVEL_VARYING` keys) whose value differs between
    entries of ``plan`` (the seed aside)."""
    import json

    keys = sorted({k for cfg in plan for k in (cfg.get("dataset_kwargs") or {})} - {"split_seed"})
    seen = {k: {json.dumps((cfg.get("dataset_kwargs") or {}).get(k), sort_keys=True) for cfg in plan}
            for k in keys}
    top = tuple(k for k in TOP_LEVEL_VARYING if len({json.dumps(cfg.get(k)) for cfg in plan}) > 1)
    return tuple(k for k in keys if len(seen[k]) > 1) + top


def _cam_spec(chapter: str, cfg: dict) -> dict | None:
    from covidnb.chapters.registry import get_chapter

    return get_chapter(chapter).cams(cfg)


def _keeps_weights(chapter: str, cfg: dict) -> bool:
    from covidnb.chapters.registry import get_chapter

    return get_chapter(chapter).keeps_weights(cfg)


def _keep_from_checkpoint(run, spec: dict | None, tag: str, keep_weights: bool = False) -> None:
    """CAMs of a just-finished run (``spec``) and, with ``keep_weights``, its best weights as
    :data:`~covidnb.experiment.WEIGHTS_FILE` beside the record; then its checkpoints go (a
    reference run keeps none: resumable state is large and names this machine's paths)."""
    import shutil

    from covidnb.cam import CAMS_FILE, save_run_cams

    if not run.done:  # a failed run keeps its checkpoints to resume from
        return
    try:
        if keep_weights:
            from covidnb.experiment import save_weights

            save_weights(run)
        if spec is not None and not (run.path / CAMS_FILE).exists():
            if (run.checkpoint_dir / "best.pt").exists():
                save_run_cams(run, **spec)
            else:
                print(f"{tag}: no checkpoint left to compute its CAMs from", flush=True)
    except Exception as exc:  # noqa: BLE001 — the run itself is fine: report it, go on with the plan
        print(f"{tag}: CAMs or weights not stored: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)


def _die_with_parent(parent_pid: int | None, poll: float = 1.0) -> None:
    """Stop this process (SIGTERM) when ``parent_pid`` is gone, so a worker never trains on,
    orphaned, after its runner was killed: ``PR_SET_PDEATHSIG`` where Linux offers it, and a
    daemon thread that polls the parent pid (the only way elsewhere, and a backstop)."""
    import threading

    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                print(f"[worker {os.getpid()}] the runner ({parent_pid}) is gone: stopping",
                      flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
                os._exit(1)
            time.sleep(poll)

    if os.getppid() != parent_pid:  # it died before we could ask to be told
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker(chapter: str, profile: str, index: int, counter, root: str, limit: int | None,
            items: list[int] | None = None, parent_pid: int | None = None) -> None:
    import torch

    from covidnb.runs import RunStore

    _die_with_parent(parent_pid)
    torch.set_num_threads(1)
    os.environ.setdefault("COVIDNB_PROGRESS", "0")
    store = RunStore(root)
    plan = _grid(chapter, profile)
    varying = _varying(plan)
    positions = _positions(len(plan), limit, items)
    while True:
        with counter.get_lock():
            j = counter.value
            counter.value += 1
        if j >= len(positions):
            return
        i = positions[j]
        try:
            train_item(chapter, plan, varying, i, store, f"[worker {index}]")
        except Exception as exc:  # noqa: BLE001 — one configuration's error must not drop the rest
            print(f"[worker {index}] {i + 1}/{len(plan)} {_label(plan[i], varying)}: FAILED: "
                  f"{type(exc).__name__}: {exc}", flush=True)


def train_item(chapter: str, plan: list[dict], varying: tuple[str, ...], i: int, store,
               who: str) -> str:
    """Train plan position ``i`` (0-based) into ``store`` as every reference runner does (a
    local worker, a submitit job): its CAMs and kept weights, then no checkpoint; returns its
    state, ``"skipped"`` when another process is training it (left to that process rather than
    waited for). An error of ``run_experiment`` itself propagates."""
    from covidnb.experiment import run_experiment
    from covidnb.runs.store import LockTimeout

    cfg = plan[i]
    tag = f"{who} {i + 1}/{len(plan)} {_label(cfg, varying)}"
    spec = _cam_spec(chapter, cfg)
    keep_w = _keeps_weights(chapter, cfg)
    t0 = time.time()
    try:
        run = run_experiment(cfg, store=store, raise_on_failure=False,
                             keep_checkpoints=spec is not None or keep_w, lock_timeout=0)
    except LockTimeout:
        print(f"{tag}: skipped, another process is training it", flush=True)
        return "skipped"
    if spec is not None or keep_w:
        _keep_from_checkpoint(run, spec, tag, keep_weights=keep_w)
    st = run.status
    why = f" ({st.get('reason')})" if st.get("status") != "done" and st.get("reason") else ""
    print(f"{tag}: {st.get('status')}{why} in {time.time() - t0:.0f} s", flush=True)
    return str(st.get("status"))


def run_reference(chapter: str, profile: str, workers: int = 2, root=RESULTS_ROOT,
                  limit: int | None = None, items: list[int] | None = None,
                  target=None) -> int:
    """Train the plan with ``workers`` processes; returns the exit status (module docstring)
    after printing every configuration of the selection that is not done. ``target`` replaces
    the worker function (tests; it is called with :func:`_worker`'s arguments)."""
    _positions(len(_grid(chapter, profile)), limit, items)  # a bad selection fails here, not in a worker
    if Path(root).resolve() == RESULTS_ROOT.resolve():
        # committed records must name code that exists: refuse uncommitted changes up front
        from covidnb.runs.provenance import require_clean_checkout

        require_clean_checkout(f"writing {chapter} reference runs into {RESULTS_ROOT}")
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    procs = [ctx.Process(target=target or _worker, args=(chapter, profile, i, counter, str(root), limit, items,
                                               os.getpid()))
             for i in range(workers)]
    stopped: list[int] = []

    def stop(signum, frame):  # `kill <pid>` must not leave the workers training on, orphaned
        stopped.append(signum)
        for p in procs:
            if p.is_alive():
                p.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for p in procs:
            p.start()
        for p in procs:
            while True:
                try:
                    p.join()
                    break
                except KeyboardInterrupt:  # Ctrl-C: stop them all, then report
                    stop(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for p in procs:  # never leave one behind, whatever happened here
            if p.is_alive():
                p.terminate()
                p.join(10)
    return _report(chapter, profile, root, limit, items, procs, stopped)


def _report(chapter, profile, root, limit, items, procs, stopped) -> int:
    died = [(i, p.exitcode) for i, p in enumerate(procs)
            if p.exitcode not in (0, None) and not stopped]
    for i, code in died:
        print(f"worker {i} died (exit code {code}); the configurations it held were dropped",
              file=sys.stderr, flush=True)
    rows = plan_status(chapter, profile, root, limit, items)
    left = [r for r in rows if r["state"].split()[0] != "done"]
    if stopped:
        name = signal.Signals(stopped[0]).name
        print(f"stopped by {name}: the workers were stopped; start the command again to resume",
              file=sys.stderr, flush=True)
    for r in left:
        why = f": {r['reason']}" if r.get("reason") else ""
        print(f"not done: {r['index']:3d}  {r['state']}  {r['run']}{why}", file=sys.stderr,
              flush=True)
    done = len(rows) - len(left)
    print(f"{done} of {len(rows)} configuration(s) done" + (f", {len(left)} not" if left else ""),
          flush=True)
    if stopped:
        return 128 + int(stopped[0])
    return 1 if (left or died) else 0


def plan_status(chapter: str, profile: str, root=RESULTS_ROOT, limit: int | None = None,
                items: list[int] | None = None) -> list[dict]:
    """Each configuration of the reference plan with its state in the store (``done``,
    ``failed``, ``running``/interrupted, ``unreadable`` or ``missing``, with the ``reason`` of a
    failed or unreadable one); a record made on the synthetic fallback data is listed with
    `` (synthetic)`` after its state, since it is no reference."""
    from covidnb.experiment import find_run
    from covidnb.runs import RunStore

    store = RunStore(root)
    out = []
    plan = _grid(chapter, profile)
    varying = _varying(plan)
    for i in _positions(len(plan), limit, items):
        cfg = plan[i]
        run, tag = find_run(cfg, store, finished_only=False), ""
        if run is None:
            run, tag = find_run(cfg, store, synthetic=True, finished_only=False), " (synthetic)"
        st = {} if run is None else run.status
        out.append({"index": i + 1, "run": _label(cfg, varying),
                    "state": "missing" if run is None else st.get("status", "?") + tag,
                    "key": None if run is None else run.path.name,
                    "reason": st.get("reason") if st.get("status") != "done" else None})
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
    ap.add_argument("--root", default=str(RESULTS_ROOT),
                    help="the run store (default: results/ of this checkout)")
    ap.add_argument("--executor", choices=["local", "submitit"], default="local",
                    help="'submitit': one job per configuration (Slurm, or local processes)")
    g = ap.add_argument_group("submitit options (with --executor submitit)")
    g.add_argument("--cluster", choices=["slurm", "local", "debug"], default=None)
    g.add_argument("--partition")
    g.add_argument("--time", help="per job: minutes or [D-]HH:MM:SS")
    g.add_argument("--gpus-per-job", type=int, default=0)
    g.add_argument("--array-parallelism", type=int, default=None)
    g.add_argument("--cpus-per-job", type=int, default=None)
    g.add_argument("--mem-gb", type=float, default=None)
    g.add_argument("--jobs-dir", default=None, help="submitit's job folders (logs)")
    args = ap.parse_args(argv)
    try:
        _grid(args.chapter, args.profile)
    except (KeyError, ModuleNotFoundError, AttributeError, NotImplementedError) as exc:
        ap.error(f"no reference plan for chapter {args.chapter!r} at profile {args.profile!r} "
                 f"({str(exc).strip(chr(39))})")
    if args.workers < 1:
        ap.error(f"--workers must be at least 1, got {args.workers}")
    given = [f"--{k.replace('_', '-')}" for k in ("cluster", "partition", "time", "gpus_per_job",
                                                 "array_parallelism", "cpus_per_job", "mem_gb",
                                                 "jobs_dir") if getattr(args, k)]
    if given and args.executor != "submitit":
        ap.error(f"{', '.join(given)} only apply with --executor submitit")
    try:
        if args.list:
            rows = plan_status(args.chapter, args.profile, args.root, args.limit, args.items)
            for r in rows:
                print(f"{r['index']:3d}  {r['state']:8s}  {r['key'] or '-':12s}  {r['run']}")
            bad = [r for r in rows if r["state"].startswith("unreadable")]
            for r in bad:
                print(f"unreadable record ({r['index']}): {r['reason']}; the next run re-trains it",
                      file=sys.stderr)
            return 0
        if args.check:
            rows = check_reproduces(args.chapter, args.profile, args.check, root=args.root)
            for r in rows:
                print(r)
            return 0 if all(r["reproduces"] for r in rows) else 1
        if args.executor == "submitit":
            from covidnb.batch.submit import SubmitOptions

            opts = SubmitOptions(cluster=args.cluster, partition=args.partition, time=args.time,
                                 gpus_per_job=args.gpus_per_job,
                                 array_parallelism=args.array_parallelism,
                                 cpus_per_job=args.cpus_per_job, mem_gb=args.mem_gb)
            return run_reference_submitit(args.chapter, args.profile, opts, root=args.root,
                                          limit=args.limit, items=args.items,
                                          jobs_dir=args.jobs_dir)
        return run_reference(args.chapter, args.profile, args.workers, root=args.root,
                             limit=args.limit, items=args.items)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:  # e.g. a dirty checkout
        print(f"reference {args.chapter}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
