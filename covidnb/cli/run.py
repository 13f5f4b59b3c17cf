"""``covidnb run NOTEBOOK``: execute a notebook with papermill, once or over a grid of parameters.

    covidnb run nbs/dsn_saal/02-train.ipynb -p profile cpu -p seed 1
    covidnb run nbs/dsn_saal/02-train.ipynb --grid grid.yaml --jobs 2 --gpus 0,1
    covidnb run nbs/dsn_saal/02-train.ipynb --grid grid.yaml --dry-run
    covidnb run nbs/dsn_saal/02-train.ipynb --grid grid.yaml --executor submitit \
        --partition gpu --time 2:00:00 --gpus-per-job 1 --array-parallelism 4

``-p KEY VALUE`` values are read as YAML (``0.01`` is a number, ``[1, 2]`` a list) and apply to
every set of the grid. A grid file is a mapping of lists (their cartesian product) or a list of
mappings. A parameter the notebook's ``parameters`` cell does not define is refused (exit 2,
naming it). Exit status: 0 when every set ran or was skipped as done, 1 when any failed (each
listed), 2 on bad input (a message naming the file or parameter, never a traceback), 128+signal
after SIGTERM/SIGINT (the running notebooks are stopped, submitted jobs cancelled, and the
unfinished sets listed). The last line says how many sets failed.

``--executor submitit`` submits one job per set (``covidnb.batch.submit``): ``--cluster slurm``
(one job array), ``local`` (real processes on this machine, job folders as on Slurm) or
``debug``; ``--partition``, ``--time``, ``--gpus-per-job``, ``--array-parallelism``,
``--cpus-per-job`` and ``--mem-gb`` map to submitit's parameters and ``--slurm KEY VALUE``
passes any other as it is. Each job records its set in ``OUT/ledger.json`` when it ends; job
logs are in ``OUT/submitit/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="execute a notebook (or a grid of parameter sets) with papermill",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("notebook", help="the notebook to execute (needs a cell tagged 'parameters')")
    _key_value_option(p, "-p", "--param", help="a parameter (YAML value); repeatable")
    p.add_argument(
        "--grid", help="YAML grid: mapping of lists (crossed) or list of parameter mappings"
    )
    p.add_argument(
        "--out",
        help="folder for executed notebooks and the ledger (default: _build/batch/<notebook>)",
    )
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    p.add_argument("--cwd", help="working directory of the kernel (default: the notebook's folder)")
    p.add_argument(
        "--jobs", type=int, default=1, help="parameter sets executed at once (default 1)"
    )
    p.add_argument(
        "--gpus", help="comma-separated GPU ids; one job per GPU, each pinned to its own"
    )
    p.add_argument(
        "--executor",
        choices=["local", "submitit"],
        default="local",
        help="'submitit' submits each set as a Slurm job (needs submitit)",
    )
    g = p.add_argument_group("submitit options (with --executor submitit)")
    g.add_argument("--cluster", choices=["slurm", "local", "debug"], default=None,
                   help="where jobs run (default: Slurm where sbatch exists, else local)")
    g.add_argument("--partition", help="Slurm partition (slurm_partition)")
    g.add_argument("--time", help="time limit per job: minutes or [D-]HH:MM:SS (timeout_min)")
    g.add_argument("--gpus-per-job", type=int, default=0,
                   help="GPUs each job gets to itself (gpus_per_node; one task per job)")
    g.add_argument("--array-parallelism", type=int, default=None,
                   help="jobs running at once (slurm_array_parallelism; local: default 1)")
    g.add_argument("--cpus-per-job", type=int, default=None, help="cpus_per_task")
    g.add_argument("--mem-gb", type=float, default=None, help="memory per job in GB")
    _key_value_option(
        g,
        "--slurm",
        help="submitit/Slurm parameter, e.g. --slurm timeout_min 120 --slurm gpus_per_node 1",
    )
    p.add_argument(
        "--force", action="store_true", help="re-execute sets the ledger records as done"
    )
    p.add_argument("--dry-run", action="store_true", help="list the parameter sets and exit")
    p.add_argument(
        "--log-output", action="store_true", help="stream the notebook's output (jobs=1 only)"
    )
    p.set_defaults(func=run)


def _key_value_option(p, *flags: str, help: str) -> None:
    """A repeatable ``FLAG KEY VALUE`` option, collected as a list of ``[key, value]`` pairs."""
    p.add_argument(*flags, nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help=help)


def _value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run(args) -> int:
    import signal

    from covidnb import runner

    def interrupt(signum, frame):
        runner.stop_children()
        runner.cancel_submitted()
        raise runner.BatchInterrupted(signum)

    out = Path(args.out) if args.out else Path("_build") / "batch" / Path(args.notebook).stem
    sets: list[dict] = []
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        fixed = {k: _value(v) for k, v in args.param}
        sets = runner.load_grid(args.grid) if args.grid else [{}]
        sets = [{**s, **fixed} for s in sets]
        nb = Path(args.notebook)
        submit = _submit_options(args)
        runner.require_parameters_cell(nb)
        runner.check_parameters(nb, sets)
        if args.dry_run:
            ledger = runner.Ledger(out).read()
            for i, s in enumerate(sets, 1):
                slug = runner.param_slug(s)
                status = ledger.get(slug, {}).get("status", "pending")
                print(f"{i:3d}  [{status}]  {s}  → {out / f'{nb.stem}__{slug}.ipynb'}")
            print(f"{len(sets)} parameter set(s)")
            return 0
        results = runner.run_batch(
            nb,
            sets,
            out,
            kernel=args.kernel,
            cwd=args.cwd,
            jobs=args.jobs,
            gpus=[g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None,
            force=args.force,
            executor=args.executor,
            slurm={k: _value(v) for k, v in args.slurm},
            submit=submit,
            log_output=args.log_output,
        )
    except runner.BatchInputError as exc:
        print(f"covidnb run: {exc}", file=sys.stderr)
        return 2
    except runner.BatchInterrupted as exc:
        runner.stop_children()
        runner.cancel_submitted()
        _print_unfinished(runner, out, sets, str(exc))
        return 128 + exc.signum
    except OSError as exc:  # an --out or --cwd that cannot be used, a full disk, …
        print(f"covidnb run: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    table = runner.summary_table(results)
    print()
    print(table.to_string(index=False))
    failed = [r for r in results if r.status == "failed"]
    print(
        f"\n{len(results)} set(s): {len(results) - len(failed)} ok, {len(failed)} failed; "
        f"executed notebooks in {out}"
    )
    for r in failed:
        print(f"failed: {r.params}: {r.error}", file=sys.stderr)
    if failed:
        print(f"covidnb run: {len(failed)} of {len(results)} set(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _submit_options(args):
    """The submitit options of ``args`` (None with another executor; refused there if set)."""
    from covidnb import runner
    from covidnb.batch.submit import SubmitError, SubmitOptions

    given = [f"--{k.replace('_', '-')}" for k in ("cluster", "partition", "time", "gpus_per_job",
                                                 "array_parallelism", "cpus_per_job", "mem_gb")
             if getattr(args, k)] + (["--slurm"] if args.slurm else [])
    if args.executor != "submitit":
        if given:
            raise runner.BatchInputError(f"{', '.join(given)} only apply with --executor submitit")
        return None
    gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    try:
        return SubmitOptions(cluster=args.cluster, partition=args.partition, time=args.time,
                             gpus_per_job=args.gpus_per_job,
                             array_parallelism=args.array_parallelism,
                             cpus_per_job=args.cpus_per_job, mem_gb=args.mem_gb, gpus=gpus)
    except (SubmitError, ValueError) as exc:
        raise runner.BatchInputError(str(exc)) from None


def _print_unfinished(runner, out: Path, sets: list[dict], why: str) -> None:
    """After an interruption: which sets the ledger does not record as done."""
    try:
        ledger = runner.Ledger(out).read()
    except runner.BatchInputError:
        ledger = {}
    left = [s for s in sets if ledger.get(runner.param_slug(s), {}).get("status") != "done"]
    print(f"covidnb run: {why}; the running notebooks were stopped", file=sys.stderr)
    for s in left:
        print(f"not done: {s}", file=sys.stderr)
